//! Versioned system configuration (issue 15, item 5): configuration
//! documents per server kind (`hospital`, `company`, `owner`) — e.g. the
//! hospital's clinical modules, retention years, rate limits — where each
//! change is a new version with its author, reason and difference from the
//! one before; a rollback is a new version carrying an earlier document.
//!
//! A version reaches servers the way a release does: its canonical
//! document (`GET …/document`) is signed by a developer as a release of
//! product `<kind>-config`, version `<n>` (`bulkhead release sign`), uploaded
//! to `/releases` (signature checked), published here (the release must be
//! exactly this document), then promoted and approved on company by two
//! people; a hospital or owner fetches it through company and checks both
//! signatures and the hash (`bulkhead update --what config`).

pub mod diff;
pub mod http;
pub mod pages;
pub mod scope;
pub mod store;

use common::{ApiError, ApiResult};

/// The server kinds that have a configuration document.
pub const KINDS: &[&str] = &["hospital", "company", "owner"];

/// The release product a kind's documents are published as.
pub fn product(kind: &str) -> String {
    format!("{kind}-config")
}

/// At most this many bytes of canonical JSON per document.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// At most this deep.
pub const MAX_DEPTH: usize = 8;

/// Refuse (404) a kind that has no document.
pub fn check_kind(kind: &str) -> ApiResult<()> {
    if KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "no configuration kind `{kind}` (one of: {})",
            KINDS.join(", ")
        )))
    }
}

/// Words that name a secret: a key containing one is refused, because
/// secrets are files handed to a server (docs/operations.md), never part of
/// a document that is listed, diffed and shipped.
const SECRET_WORDS: &[&str] = &["secret", "password", "private", "token", "credential"];

/// Check a document: an object, keys of `a-z0-9_` (1 to 64), no key naming
/// a secret, at most [`MAX_DEPTH`] deep and [`MAX_DOCUMENT_BYTES`] long.
pub fn check_document(v: &serde_json::Value) -> ApiResult<String> {
    if !v.is_object() {
        return Err(ApiError::field("document", "must be a JSON object"));
    }
    walk(v, 0, "")?;
    let canonical = diff::canonical(v);
    if canonical.len() > MAX_DOCUMENT_BYTES {
        return Err(ApiError::field(
            "document",
            format!("at most {MAX_DOCUMENT_BYTES} bytes"),
        ));
    }
    Ok(canonical)
}

fn walk(v: &serde_json::Value, depth: usize, at: &str) -> ApiResult<()> {
    if depth > MAX_DEPTH {
        return Err(ApiError::field(
            "document",
            format!("at most {MAX_DEPTH} levels deep"),
        ));
    }
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let ok = (1..=64).contains(&k.len())
                    && k.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                if !ok {
                    return Err(ApiError::field(
                        "document",
                        format!("`{path}`: keys are 1 to 64 of a-z, 0-9 and _"),
                    ));
                }
                if SECRET_WORDS.iter().any(|w| k.contains(w)) {
                    return Err(ApiError::field(
                        "document",
                        format!("`{path}` names a secret: secrets are files given to a server, never part of a configuration document"),
                    ));
                }
                walk(v, depth + 1, &path)?;
            }
            Ok(())
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(|i| walk(i, depth + 1, at)),
        _ => Ok(()),
    }
}
