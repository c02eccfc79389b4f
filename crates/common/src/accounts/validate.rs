//! Checks on the fields of an account, shared by every way one is created
//! or changed (the users API, start-up provisioning, portal enrolment).

use crate::error::{ApiError, ApiResult};

/// Usernames: 3–64 of letters, digits, `.`, `_`, `-`, `@`.
pub fn validate_username(u: &str) -> ApiResult<()> {
    if u.len() < 3 || u.len() > 64 {
        return Err(ApiError::field("username", "must be 3 to 64 characters"));
    }
    if !u
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
    {
        return Err(ApiError::field(
            "username",
            "may hold only letters, digits, '.', '_', '-' and '@'",
        ));
    }
    Ok(())
}

/// E-mail: one `@`, a dotted domain, no spaces, at most 254 bytes.
pub fn validate_email(e: &str) -> ApiResult<()> {
    let ok = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(ApiError::field("email", "is not a valid e-mail address"))
    }
}

/// Display name: 1 to 200 printable characters.
pub fn validate_full_name(n: &str) -> ApiResult<()> {
    if n.trim().is_empty() || n.chars().count() > 200 || n.chars().any(char::is_control) {
        return Err(ApiError::field(
            "full_name",
            "must be 1 to 200 printable characters",
        ));
    }
    Ok(())
}
