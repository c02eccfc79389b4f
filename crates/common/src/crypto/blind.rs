//! Blind indexes: exact search over encrypted columns without decrypting.
//!
//! A blind index is HMAC-SHA256 of a normalized value under a key that is
//! specific to the tenant and the purpose (e.g. `patients.last_name`); the
//! index column is compared for equality, so equal normalized inputs match
//! and nothing else about the value is revealed beyond equality. Different
//! tenants and different purposes give unrelated indexes for the same
//! value, so an index cannot be matched across tenants or columns.
//!
//! The tenant's index key is derived from the tenant's FIRST data key
//! (generation 1), not the active one. Indexes are stored next to the
//! ciphertexts and searched by recomputing them: if they followed the
//! active key, every rotation would make all stored indexes unfindable
//! until each row had been decrypted and re-indexed. Rotation exists to
//! limit what new ciphertexts depend on; the index key stays put, and the
//! first data key is kept for as long as the tenant exists (keys are never
//! deleted, only deactivated).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use super::DataKey;
use crate::error::{ApiError, ApiResult};

type HmacSha256 = Hmac<Sha256>;

/// Computes blind indexes for one tenant (one key lookup for many values),
/// under the tenant's index key, derived from its first data key so that
/// indexes survive key rotation (see [`super::Keyring::blind_index`]).
pub struct BlindIndexer {
    tenant_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for BlindIndexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexer([redacted])")
    }
}

impl BlindIndexer {
    /// The indexer of the tenant whose first data key is `first`.
    pub(super) fn new(first: &DataKey) -> ApiResult<Self> {
        let mut label = b"bulkhead-blind-index|v1|".to_vec();
        label.extend_from_slice(first.tenant_id().as_bytes());
        let tenant_key = Zeroizing::new(hmac(first.raw(), &[&label])?);
        Ok(Self { tenant_key })
    }

    /// The index (64 hex characters) of `value` for `purpose`. Pass a value
    /// already normalized with the function that fits it.
    pub fn index(&self, purpose: &str, value: &str) -> ApiResult<String> {
        if purpose.is_empty() {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "a blind index needs a purpose"
            )));
        }
        let prefix = format!("{}:", purpose.len());
        let mac = hmac(
            &self.tenant_key[..],
            &[
                prefix.as_bytes(),
                purpose.as_bytes(),
                b"|",
                value.as_bytes(),
            ],
        )?;
        Ok(hex::encode(mac))
    }
}

/// HMAC-SHA256 of the concatenated parts.
fn hmac(key: &[u8], parts: &[&[u8]]) -> ApiResult<[u8; 32]> {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("HMAC key rejected")))?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().into())
}

/// A name for matching: accents removed (`José` = `Jose`, in either Unicode
/// form), lower-cased, compatibility forms folded (full-width letters),
/// trimmed and with inner whitespace collapsed to one space.
pub fn normalize_name(value: &str) -> String {
    let folded: String = value
        .to_lowercase()
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A calendar date as `YYYY-MM-DD`, validated (surrounding whitespace
/// ignored; the date must exist).
pub fn normalize_date(value: &str) -> ApiResult<String> {
    let value = value.trim();
    let shaped = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    let date = shaped
        .then(|| chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| ApiError::validation("dates must be valid and written YYYY-MM-DD"))?;
    Ok(date.format("%Y-%m-%d").to_string())
}

/// A code such as an MRN: compatibility forms folded, upper-cased, with
/// whitespace and dashes removed (`mrn-00 12` = `MRN0012`).
pub fn normalize_code(value: &str) -> String {
    value
        .nfkc()
        .filter(|c| !c.is_whitespace() && !is_dash(*c))
        .flat_map(char::to_uppercase)
        .collect()
}

/// ASCII hyphen-minus and the Unicode dashes people paste.
fn is_dash(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}'
    )
}
