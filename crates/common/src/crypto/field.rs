//! Encrypted field values, the associated data that binds each one to where
//! it lives, and an unwrapped data key that seals and opens them.
//!
//! Stored form: `v1.<key_id>.<base64url without padding of nonce ‖ ciphertext ‖ tag>`.

use std::fmt;
use std::sync::Arc;

use aes_gcm::Aes256Gcm;
use anyhow::anyhow;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use zeroize::Zeroizing;

use super::{open, seal, KEY_LEN};
use crate::error::{ApiError, ApiResult};

/// The version tag at the start of every stored value.
const VERSION: &str = "v1";
/// Characters in a key id (hex).
pub(super) const KEY_ID_LEN: usize = 16;

/// Where an encrypted value lives: tenant, table, column and row id. It is
/// authenticated with the value (AES-GCM associated data), so a ciphertext
/// copied to another row, column, table or tenant fails to decrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aad {
    tenant: String,
    table: String,
    column: String,
    row_id: String,
}

impl Aad {
    /// E.g. `Aad::new(tenant, "patients", "first_name", &patient_id)`.
    pub fn new(tenant: &str, table: &str, column: &str, row_id: &str) -> Self {
        Self {
            tenant: tenant.to_string(),
            table: table.to_string(),
            column: column.to_string(),
            row_id: row_id.to_string(),
        }
    }

    /// The same row and table, another column.
    pub fn column(&self, column: &str) -> Self {
        Self {
            column: column.to_string(),
            ..self.clone()
        }
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The column.
    pub fn column_name(&self) -> &str {
        &self.column
    }

    /// The row id.
    pub fn row_id(&self) -> &str {
        &self.row_id
    }

    /// The bytes authenticated with the value: each part length-prefixed, so
    /// no two different `Aad`s give the same bytes.
    /// (Built by hand, one allocation: with `format!` for the four length
    /// prefixes it cost more than the AES-GCM it feeds, per sealed field.)
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        const TAG: &[u8] = b"bulkhead-field|v1";
        let parts = [&self.tenant, &self.table, &self.column, &self.row_id];
        // Each part: '|', up to 20 digits, ':', the part.
        let mut out =
            Vec::with_capacity(TAG.len() + parts.iter().map(|p| p.len() + 22).sum::<usize>());
        out.extend_from_slice(TAG);
        for part in parts {
            out.push(b'|');
            push_decimal(&mut out, part.len());
            out.push(b':');
            out.extend_from_slice(part.as_bytes());
        }
        out
    }

    /// "tenant/table.column/row" for error messages (no value content).
    fn place(&self) -> String {
        format!(
            "{}/{}.{}/{}",
            self.tenant, self.table, self.column, self.row_id
        )
    }
}

/// Append `n` in decimal (what `format!("{n}")` writes).
fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// An error about the value at `aad` that says why, never what it holds.
pub(super) fn field_error(aad: &Aad, why: &str) -> ApiError {
    ApiError::Internal(anyhow!("encrypted value at {}: {why}", aad.place()))
}

/// Whether `s` looks like a key id we issue (lower-case hex, fixed length).
pub(super) fn valid_key_id(s: &str) -> bool {
    s.len() == KEY_ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A stored value split into its key id and sealed bytes.
pub(super) struct Parsed<'a> {
    pub key_id: &'a str,
    pub sealed: Vec<u8>,
}

/// Split a stored value; `Err` says what is wrong with its shape.
pub(super) fn parse(stored: &str) -> Result<Parsed<'_>, &'static str> {
    let mut parts = stored.splitn(3, '.');
    let (Some(version), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("not an encrypted value");
    };
    if version != VERSION {
        return Err("unknown format version");
    }
    if !valid_key_id(key_id) {
        return Err("malformed key id");
    }
    let sealed = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| "malformed base64")?;
    if sealed.len() < super::NONCE_LEN + super::TAG_LEN {
        return Err("truncated");
    }
    Ok(Parsed { key_id, sealed })
}

/// The key id a stored value names (to find values not yet under the
/// active key). Only the shape is checked, not the content.
pub fn key_id_of(stored: &str) -> ApiResult<&str> {
    parse(stored)
        .map(|p| p.key_id)
        .map_err(|why| ApiError::Internal(anyhow!("encrypted value: {why}")))
}

/// One tenant's unwrapped data key. Cheap to clone; the key is wiped when
/// the last clone is dropped. `Debug` shows the ids only.
#[derive(Clone)]
pub struct DataKey {
    inner: Arc<KeyInner>,
}

struct KeyInner {
    key_id: String,
    tenant_id: String,
    generation: i32,
    cipher: Aes256Gcm,
    raw: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("key_id", &self.inner.key_id)
            .field("tenant_id", &self.inner.tenant_id)
            .field("generation", &self.inner.generation)
            .finish_non_exhaustive()
    }
}

impl DataKey {
    /// Build from unwrapped bytes.
    pub(super) fn new(
        key_id: &str,
        tenant_id: &str,
        generation: i32,
        raw: Zeroizing<[u8; KEY_LEN]>,
    ) -> Self {
        Self {
            inner: Arc::new(KeyInner {
                key_id: key_id.to_string(),
                tenant_id: tenant_id.to_string(),
                generation,
                cipher: super::cipher_for(&raw),
                raw,
            }),
        }
    }

    /// The key id every value encrypted under this key carries.
    pub fn key_id(&self) -> &str {
        &self.inner.key_id
    }

    /// The tenant this key belongs to.
    pub fn tenant_id(&self) -> &str {
        &self.inner.tenant_id
    }

    /// 1 for the tenant's first key, then one more per rotation.
    pub fn generation(&self) -> i32 {
        self.inner.generation
    }

    /// The raw key, for deriving the blind-index key.
    pub(super) fn raw(&self) -> &[u8; KEY_LEN] {
        &self.inner.raw
    }

    /// Encrypt `plaintext` for the place `aad` names (which must be in this
    /// key's tenant). Use this to encrypt many fields with one key lookup.
    pub fn encrypt(&self, plaintext: &str, aad: &Aad) -> ApiResult<String> {
        if aad.tenant != self.inner.tenant_id {
            return Err(field_error(aad, "the data key belongs to another tenant"));
        }
        let sealed = seal(&self.inner.cipher, plaintext.as_bytes(), &aad.to_bytes())
            .map_err(|_| field_error(aad, "encryption failed"))?;
        Ok(format!(
            "{VERSION}.{}.{}",
            self.inner.key_id,
            URL_SAFE_NO_PAD.encode(sealed)
        ))
    }

    /// Decrypt a value that names this key and belongs at `aad`.
    pub fn decrypt(&self, stored: &str, aad: &Aad) -> ApiResult<String> {
        let parsed = parse(stored).map_err(|why| field_error(aad, why))?;
        self.open_parsed(&parsed, aad)
    }

    /// Decrypt an already parsed value.
    pub(super) fn open_parsed(&self, parsed: &Parsed<'_>, aad: &Aad) -> ApiResult<String> {
        if aad.tenant != self.inner.tenant_id {
            return Err(field_error(aad, "the data key belongs to another tenant"));
        }
        if parsed.key_id != self.inner.key_id {
            return Err(field_error(
                aad,
                &format!(
                    "encrypted under key {}, not {}",
                    parsed.key_id, self.inner.key_id
                ),
            ));
        }
        let mut plain =
            open(&self.inner.cipher, &parsed.sealed, &aad.to_bytes()).ok_or_else(|| {
                field_error(
                    aad,
                    &format!(
                        "authentication failed under key {} (altered, moved or wrong key)",
                        parsed.key_id
                    ),
                )
            })?;
        String::from_utf8(std::mem::take(&mut *plain)).map_err(|e| {
            // Wipe the bytes that came back before dropping them.
            drop(Zeroizing::new(e.into_bytes()));
            field_error(aad, "not UTF-8 text")
        })
    }
}

#[cfg(test)]
mod aad_tests {
    use super::Aad;

    /// The bytes every stored value was sealed with: `to_bytes` must give
    /// them exactly (each part length-prefixed in decimal).
    #[test]
    fn aad_bytes_are_the_length_prefixed_parts_as_ever() {
        let long = "r".repeat(1234);
        for (tenant, table, column, row) in [
            ("", "", "", ""),
            ("t", "patients", "first_name", "0123456789"),
            (
                "00000000-0000-4000-8000-000000000001",
                "patients",
                "mrn",
                &long,
            ),
        ] {
            let mut want = b"bulkhead-field|v1".to_vec();
            for part in [tenant, table, column, row] {
                want.extend_from_slice(format!("|{}:{part}", part.len()).as_bytes());
            }
            assert_eq!(Aad::new(tenant, table, column, row).to_bytes(), want);
        }
    }
}
