//! Password hashing (bcrypt, configurable cost) and the password policy of
//! NIST SP 800-63B: at least 8 characters, at most 72 bytes (bcrypt's
//! limit, refused rather than silently truncated), not a commonly used or
//! breached password, and not the username.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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

/// Checks passwords for logins and counts every bcrypt verification, so a
/// test can prove that each failed login costs exactly one, whatever the
/// reason (unknown name, wrong password, locked or inactive account): the
/// time of an answer must not tell which it was.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// A hash at the configured cost that no password matches, checked
    /// instead of a stored hash when there is no account.
    dummy: Arc<str>,
    count: Arc<AtomicU64>,
}

impl Verifier {
    /// A verifier whose stand-in hash has bcrypt `cost` (hashed once, at start).
    pub fn new(cost: u32) -> Result<Self, ApiError> {
        let mut random = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut random);
        Ok(Self {
            dummy: hash(&hex::encode(random), cost)?.into(),
            count: Arc::new(AtomicU64::new(0)),
        })
    }

    /// One bcrypt verification of `password` against `stored`, or against
    /// the stand-in hash when there is no account (always false then).
    /// Blocking: call it from `web::block`.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        self.count.fetch_add(1, Ordering::Relaxed);
        match stored {
            Some(h) => verify(password, h),
            None => {
                let _ = verify(password, &self.dummy);
                false
            }
        }
    }

    /// bcrypt verifications done so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
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
        let reason = |password: &str, username: &str| match check_policy(password, username) {
            Err(ApiError::Validation { details, .. }) => details.unwrap_or_default().to_string(),
            other => panic!("{password}: expected a refusal, got {other:?}"),
        };
        assert!(reason("short", "u").contains("at least 8 characters"));
        assert!(reason("Password123", "u").contains("too common"));
        assert!(reason("aaaaaaaaaa", "u").contains("repeat one character"));
        assert!(reason("somebody-long", "somebody-long").contains("must not be the username"));
        assert!(reason(&"x".repeat(73), "u").contains("at most 72 bytes"));
        assert!(check_policy("correct horse battery", "u").is_ok());
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse", 4).unwrap();
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("x", "not-a-hash"));
    }

    #[test]
    fn the_verifier_counts_one_verification_with_or_without_an_account() {
        let v = Verifier::new(4).unwrap();
        let h = hash("correct horse", 4).unwrap();
        assert!(v.verify("correct horse", Some(&h)));
        assert!(!v.verify("correct horse", None));
        assert_eq!(v.count(), 2);
    }
}
