//! Checking a posted batch's header. Owner cannot open a batch (it has no
//! key), so it checks what it can: the header is well formed and
//! consistent, the ciphertext is base64 long enough to hold its tag. No
//! message here ever quotes the ciphertext.

use base64::Engine;
use common::{ApiError, ApiResult};
use contracts::backup::{BackupBatch, FORMAT, MAX_ROWS, TAG_LEN};
use sha2::{Digest, Sha256};

/// The posted bytes as a batch: 400 when they are not one (serde's message
/// with any long quoted value cut, so the ciphertext is never echoed).
pub fn parse(body: &[u8]) -> ApiResult<BackupBatch> {
    serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_data() {
            "invalid request body"
        } else {
            "malformed JSON"
        };
        ApiError::validation(format!("{what}: {}", redact(&e.to_string())))
    })
}

/// `text` with every quoted value longer than 40 characters replaced by
/// `"…"`, and at most 300 characters.
fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(320));
    let mut rest = text;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = &rest[open..=open];
        out.push_str(&rest[..=open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(quote) else {
            rest = after;
            break;
        };
        let inner = &after[..close];
        if inner.chars().count() > 40 {
            out.push('…');
        } else {
            out.push_str(inner);
        }
        out.push_str(quote);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    if out.chars().count() > 300 {
        out = out.chars().take(300).collect::<String>() + "…";
    }
    out
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every header field, then the ciphertext's encoding.
pub fn check(b: &BackupBatch) -> ApiResult<()> {
    if b.format != FORMAT {
        return Err(ApiError::field("format", format!("must be {FORMAT}")));
    }
    if b.batch_no < 1 {
        return Err(ApiError::field("batch_no", "must be 1 or more"));
    }
    if b.first_seq < 1 || b.last_seq < b.first_seq {
        return Err(ApiError::field(
            "first_seq",
            "must be 1 or more and at most last_seq",
        ));
    }
    let span = i128::from(b.last_seq) - i128::from(b.first_seq) + 1;
    if !(1..=MAX_ROWS).contains(&b.rows) || i128::from(b.rows) > span {
        return Err(ApiError::field(
            "rows",
            format!("must be 1 to {MAX_ROWS} and at most last_seq - first_seq + 1"),
        ));
    }
    if !matches!(b.backend.as_str(), "sqlite" | "postgres") {
        return Err(ApiError::field("backend", "must be sqlite or postgres"));
    }
    if b.schema_version.is_empty()
        || b.schema_version.chars().count() > 128
        || b.schema_version.chars().any(char::is_control)
    {
        return Err(ApiError::field(
            "schema_version",
            "1 to 128 printable characters",
        ));
    }
    if !is_hex(&b.key_id, 16) {
        return Err(ApiError::field("key_id", "must be 16 hex digits"));
    }
    if !is_hex(&b.nonce, 24) {
        return Err(ApiError::field("nonce", "must be 24 hex digits"));
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&b.ciphertext)
        .map_err(|_| ApiError::field("ciphertext", "must be standard base64"))?;
    if raw.len() < TAG_LEN {
        return Err(ApiError::field(
            "ciphertext",
            format!("must hold at least the {TAG_LEN}-byte tag"),
        ));
    }
    Ok(())
}

/// SHA-256 of the posted bytes, hex.
pub fn digest(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_quoted_values_are_cut_from_messages() {
        let long = "A".repeat(100);
        let msg = format!("invalid type: string \"{long}\", expected u32 at line 1 column 9");
        let r = redact(&msg);
        assert!(!r.contains(&long), "{r}");
        assert!(r.contains("\"…\"") && r.contains("expected u32"), "{r}");
        assert_eq!(redact("unknown field `color`"), "unknown field `color`");
        let err = parse(format!("{{\"format\":\"{long}\"}}").as_bytes()).unwrap_err();
        assert!(!err.to_string().contains(&long), "{err}");
    }
}
