//! Blind indexes: exact search over encrypted columns without decrypting.
//!
//! A blind index is HMAC-SHA256 of a normalized value under a key that is
//! specific to the tenant and the purpose (e.g. `patients.last_name`); the
//! index column is compared for equality, so equal normalized inputs match
//! and nothing else about the value is revealed beyond equality. Different
//! tenants and different purposes give unrelated indexes for the same
//! value, so an index cannot be matched across tenants or columns.
//!
//! Index keys are versioned. Version 1 ([`LEGACY_INDEX_VERSION`]) was an
//! HMAC of the tenant's FIRST data key: it tied search to the bytes of a
//! key that encrypts data, so that key could never be retired. From version
//! 2 the tenant's index key is derived with HKDF-SHA256 from a secret of
//! its own (the `index_keys` table, wrapped by the master key like a data
//! key) under a label naming the purpose, the version and the tenant. Data
//! key rotation leaves it alone: stored indexes are searched by recomputing
//! them, and if they followed the active data key every rotation would make
//! all of them unfindable until each row had been re-indexed. Rows carry
//! the version their indexes were made under, so a search computes the
//! indexes of every version still in use until re-indexing is done.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use super::{DataKey, KEY_LEN};
use crate::error::{ApiError, ApiResult};

type HmacSha256 = Hmac<Sha256>;

/// The index version of indexes derived from the tenant's first data key
/// (before index keys had their own secret). Still searched, never made.
pub const LEGACY_INDEX_VERSION: i32 = 1;

/// HKDF salt of index keys: fixed, as the secret is already uniformly random.
const HKDF_SALT: &[u8] = b"bulkhead-blind-index-salt";

/// Computes blind indexes for one tenant under one index key version (one
/// key lookup for many values). Cheap to clone; the key is wiped on drop.
#[derive(Clone)]
pub struct BlindIndexer {
    version: i32,
    tenant_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for BlindIndexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlindIndexer(v{}, [redacted])", self.version)
    }
}

impl BlindIndexer {
    /// Version 1: the indexer derived from the tenant's first data key
    /// `first` (kept so indexes made before version 2 are still found).
    pub(super) fn legacy(first: &DataKey) -> ApiResult<Self> {
        let mut label = b"bulkhead-blind-index|v1|".to_vec();
        label.extend_from_slice(first.tenant_id().as_bytes());
        let tenant_key = Zeroizing::new(hmac(first.raw(), &[&label])?);
        Ok(Self {
            version: LEGACY_INDEX_VERSION,
            tenant_key,
        })
    }

    /// Version `version` (2 or more): HKDF-SHA256 of the tenant's index
    /// secret, with a label of its own naming the version and the tenant
    /// (length-prefixed, so no two tenants share a label).
    pub(super) fn derived(tenant: &str, version: i32, secret: &[u8; KEY_LEN]) -> ApiResult<Self> {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), secret);
        let info = format!(
            "bulkhead-blind-index|hkdf|v{version}|{}:{tenant}",
            tenant.len()
        );
        let mut tenant_key = Zeroizing::new([0u8; 32]);
        hk.expand(info.as_bytes(), &mut tenant_key[..])
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("HKDF expansion failed")))?;
        Ok(Self {
            version,
            tenant_key,
        })
    }

    /// The index key version stored next to the indexes this one makes.
    pub fn version(&self) -> i32 {
        self.version
    }

    /// The tenant's index key, for deriving keys of other purposes.
    pub(super) fn tenant_key(&self) -> &[u8] {
        &self.tenant_key[..]
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
