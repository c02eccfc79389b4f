//! Field encryption for PHI at rest: AES-256-GCM with a key id on every
//! value, per-tenant data keys wrapped by a master key, blind indexes for
//! exact search over encrypted columns, and key rotation.
//!
//! The layers:
//!
//! - [`MasterKey`]: 32 bytes from a file (mode 0600) or the environment; a
//!   demo key is generated in demo mode. It never encrypts data itself: it
//!   only wraps data keys.
//! - Data keys (`data_keys` table): a random 32-byte key per tenant and
//!   generation, stored wrapped (AES-256-GCM under the master key, bound to
//!   its tenant and key id). One is active per tenant; rotation makes a new
//!   active key and keeps the old ones for decryption.
//! - [`Keyring`]: the master key and a cache of unwrapped data keys; cheap to
//!   clone. It encrypts and decrypts fields, rotates keys and computes blind
//!   indexes.
//! - Stored values are text: `v1.<key_id>.<base64url(nonce ‖ ciphertext ‖ tag)>`
//!   with a fresh random 96-bit nonce each time. The associated data
//!   ([`Aad`]) names the tenant, table, column and row the value belongs to,
//!   so a value copied anywhere else fails to decrypt.
//! - Blind indexes: HMAC-SHA256 of a normalized value ([`normalize_name`],
//!   [`normalize_date`], [`normalize_code`]) under a per-tenant, per-purpose
//!   key derived with HKDF from an index secret of the tenant's own
//!   (`index_keys`, versioned), so they survive data key rotation. Version 1
//!   (derived from the first data key) is still computed for searching rows
//!   indexed before; re-indexing moves them to the current version.
//!
//! - File objects ([`crate::objects`]) are sealed under a [`FileKey`]
//!   derived from a data key, and hashed for de-duplication with a
//!   [`ContentHasher`] derived from the tenant's index key.
//!
//! Failures to decrypt are `ApiError::Internal` with a message naming where
//! the value lives (tenant, table, column, row id, key id), never its content.

mod blind;
mod field;
mod file;
mod index_keys;
mod keyring;
mod master;

#[cfg(test)]
mod tests;

pub use blind::{
    normalize_code, normalize_date, normalize_name, BlindIndexer, LEGACY_INDEX_VERSION,
};
pub use field::{key_id_of, Aad, DataKey};
pub use file::{ContentHasher, FileKey};
pub use keyring::{KeyInfo, Keyring, Rewrapped};
pub use master::MasterKey;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};
use rand::RngCore;
use zeroize::Zeroizing;

/// Bytes in a key (master or data key).
pub const KEY_LEN: usize = 32;
/// Bytes in an AES-GCM nonce.
const NONCE_LEN: usize = 12;
/// Bytes in an AES-GCM tag.
const TAG_LEN: usize = 16;

/// An AES-256-GCM instance for a raw key (no copy of the key is left behind).
pub(crate) fn cipher_for(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    let key: &Key<Aes256Gcm> = key.into();
    Aes256Gcm::new(key)
}

/// Random bytes from the operating system.
fn random_bytes<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut out = Zeroizing::new([0u8; N]);
    rand::rngs::OsRng.fill_bytes(&mut *out);
    out
}

/// Encrypt with a fresh random nonce: `nonce ‖ ciphertext ‖ tag`.
pub(crate) fn seal(cipher: &Aes256Gcm, plaintext: &[u8], aad: &[u8]) -> anyhow::Result<Vec<u8>> {
    let nonce = random_bytes::<NONCE_LEN>();
    let nonce_ref: &aes_gcm::Nonce<aes_gcm::aead::consts::U12> = (&*nonce).into();
    let sealed = cipher
        .encrypt(
            nonce_ref,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| anyhow::anyhow!("AES-GCM encryption failed"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&*nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypt `nonce ‖ ciphertext ‖ tag`; `None` if it is too short, was
/// changed, belongs elsewhere (other AAD) or was made with another key.
pub(crate) fn open(cipher: &Aes256Gcm, sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce: &aes_gcm::Nonce<aes_gcm::aead::consts::U12> = nonce.try_into().ok()?;
    cipher
        .decrypt(nonce, Payload { msg: body, aad })
        .ok()
        .map(Zeroizing::new)
}
