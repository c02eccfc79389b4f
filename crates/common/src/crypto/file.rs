//! Keys for encrypted file objects ([`crate::objects`]) and the content
//! hash that lets a tenant find duplicate uploads without reading them.
//!
//! A file key is HKDF-SHA256 of the tenant's data key under the label
//! `bulkhead-file|v1|<key_id>`: objects are sealed with a key of their own
//! purpose (never the raw data key that seals fields), and it is tied to the
//! data key's id so the id stored in an object's header names the key that
//! opens it. Rotation of data keys therefore rotates file keys too.
//!
//! The content hash is HMAC-SHA256 under a key derived from the tenant's
//! blind-index key with the label `bulkhead-file-content`: equal plaintexts
//! of one tenant give equal hashes, other tenants' hashes are unrelated, and
//! nobody without the key can test a guessed file against a stored hash.

use std::fmt;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{BlindIndexer, DataKey, KEY_LEN};

/// HKDF info prefix of file keys (the key id follows).
const FILE_KEY_LABEL: &str = "bulkhead-file|v1|";
/// Purpose label of the content-hash key under the tenant's index key.
const CONTENT_LABEL: &[u8] = b"bulkhead-file-content";

/// The key that seals a tenant's file objects under one data key. Cheap to
/// clone; the key is wiped on drop; `Debug` shows only the key id.
#[derive(Clone)]
pub struct FileKey {
    key_id: String,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl FileKey {
    /// The file key of data key `key_id` whose raw bytes are `secret`
    /// (what [`DataKey::file_key`] does). For tools and tests that hold a
    /// key without a keyring; servers use [`DataKey::file_key`].
    pub fn derive(key_id: &str, secret: &[u8; KEY_LEN]) -> Self {
        let hk = Hkdf::<Sha256>::new(None, secret);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let info = format!("{FILE_KEY_LABEL}{key_id}");
        // 32 bytes is far below HKDF-SHA256's limit (255 * 32): cannot fail.
        let _ = hk.expand(info.as_bytes(), &mut key[..]);
        Self {
            key_id: key_id.to_string(),
            key,
        }
    }

    /// The id of the data key this file key was derived from (stored in the
    /// header of every object it seals).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The raw derived key (for the sealing code only).
    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.key
    }
}

impl DataKey {
    /// The key that seals this tenant's file objects under this data key.
    pub fn file_key(&self) -> FileKey {
        FileKey::derive(self.key_id(), self.raw())
    }
}

/// A streaming keyed hash of a file's plaintext for one tenant: feed every
/// piece with [`ContentHasher::update`], then [`ContentHasher::finalize`].
#[derive(Clone)]
pub struct ContentHasher {
    version: i32,
    mac: Hmac<Sha256>,
}

impl fmt::Debug for ContentHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHasher(v{}, [redacted])", self.version)
    }
}

impl ContentHasher {
    /// Add the next piece of the plaintext.
    pub fn update(&mut self, piece: &[u8]) {
        self.mac.update(piece);
    }

    /// The hash: `v<index version>:` then 64 lowercase hex characters.
    pub fn finalize(self) -> String {
        format!(
            "v{}:{}",
            self.version,
            hex::encode(self.mac.finalize().into_bytes())
        )
    }
}

impl BlindIndexer {
    /// A content hasher under this tenant's index key (same version).
    pub fn content_hasher(&self) -> ContentHasher {
        let hk = Hkdf::<Sha256>::new(None, self.tenant_key());
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        // 32 bytes is far below HKDF-SHA256's limit: cannot fail.
        let _ = hk.expand(CONTENT_LABEL, &mut key[..]);
        // HMAC takes a key of any length: cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&key[..])
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        ContentHasher {
            version: self.version(),
            mac,
        }
    }
}
