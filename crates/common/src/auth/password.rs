//! Password hashing (bcrypt, configurable cost) and the password policy of
//! NIST SP 800-63B: at least 8 characters, at most 72 bytes (bcrypt's
//! limit, refused rather than silently truncated), not a commonly used or
//! breached password, and not the username.

use crate::error::ApiError;

/// The most common passwords of public breach corpora (a short list; the
/// point is to refuse the ones attackers try first).
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password123",
    "12345678",
    "123456789",
    "1234567890",
    "qwerty123",
    "qwertyuiop",
    "iloveyou",
    "11111111",
    "00000000",
    "abc12345",
    "abcd1234",
    "admin123",
    "administrator",
    "letmein1",
    "welcome1",
    "welcome123",
    "passw0rd",
    "p@ssw0rd",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "monkey123",
    "dragon12",
    "trustno1",
    "master12",
    "superman",
    "changeme",
    "hospital",
    "doctor123",
    "nurse123",
    "qwerty12",
    "1q2w3e4r",
    "zaq12wsx",
    "87654321",
    "asdfghjk",
    "password!",
    "secret123",
    "default1",
    "hello123",
];

/// Hash with bcrypt at `cost`.
pub fn hash(password: &str, cost: u32) -> Result<String, ApiError> {
    bcrypt::hash(password, cost).map_err(|e| ApiError::Internal(anyhow::anyhow!("bcrypt: {e}")))
}

/// Check `password` against a bcrypt hash. A malformed hash counts as a mismatch.
pub fn verify(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// A hash of a random password, to spend the same time when the user is unknown.
pub fn dummy_verify(password: &str, cost: u32) {
    if let Ok(h) = bcrypt::hash("not-a-real-password-x", cost) {
        let _ = bcrypt::verify(password, &h);
    }
}

/// Refuse passwords that break the policy.
pub fn check_policy(password: &str, username: &str) -> Result<(), ApiError> {
    if password.chars().count() < 8 {
        return Err(ApiError::field("password", "must be at least 8 characters"));
    }
    if password.len() > 72 {
        return Err(ApiError::field("password", "must be at most 72 bytes"));
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) {
        return Err(ApiError::field("password", "is too common; choose another"));
    }
    if lower == username.to_lowercase() {
        return Err(ApiError::field("password", "must not be the username"));
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(' '))
    {
        return Err(ApiError::field("password", "must not repeat one character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(check_policy("short", "u").is_err());
        assert!(check_policy("Password123", "u").is_err());
        assert!(check_policy("aaaaaaaaaa", "u").is_err());
        assert!(check_policy("somebody-long", "somebody-long").is_err());
        assert!(check_policy(&"x".repeat(73), "u").is_err());
        assert!(check_policy("correct horse battery", "u").is_ok());
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse", 4).unwrap();
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("x", "not-a-hash"));
    }
}
