//! JWT access tokens: HS256, issuer and audience set to the server (so a
//! token of one server is refused by every other), expiry, and a jti that
//! logout revokes.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// What a token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Issuer: `bulkhead-<service>`.
    pub iss: String,
    /// Audience: `bulkhead-<service>`.
    pub aud: String,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Token id, for revocation.
    pub jti: String,
    /// Role at issue time.
    pub role: String,
    /// Tenant (hospital tokens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The user's session epoch at issue time: a password change, reset,
    /// deactivation or role change raises the stored epoch, which refuses
    /// every token issued before it.
    #[serde(default)]
    pub sep: i32,
    /// The server-side session (`auth_sessions.id`) the token belongs to:
    /// the token check refuses it once that session has ended, expired or
    /// idled out. Access tokens always carry one; MFA tokens do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Seconds a token is still taken after its expiry (clock skew).
const LEEWAY_SECS: i64 = 5;
/// Most tokens [`TokenKeys::verify`] remembers (emptied when full).
const VERIFIED_CAPACITY: usize = 1024;

/// Signing and checking keys of one server.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl_secs: i64,
    /// Tokens whose signature, issuer and audience were checked, by their
    /// text, with their claims: a token presented again (every request of
    /// a session) skips the HMAC and the JSON decoding; its expiry is
    /// checked again at every use, and the token check's database query
    /// (revocation, session, epoch) runs every time as before. Only a
    /// token that verified enters, so a caller without one cannot make this
    /// grow; it holds at most [`VERIFIED_CAPACITY`] and is emptied when full.
    verified: std::sync::Mutex<std::collections::HashMap<String, Claims>>,
}

impl TokenKeys {
    /// Keys from the server's secret.
    pub fn new(secret: &SecretString, issuer: &str, ttl_secs: i64) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS as u64;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            issuer: issuer.to_string(),
            ttl_secs,
            verified: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Lifetime of new tokens.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Issue a token for a user, outside any session (MFA tokens).
    pub fn issue(
        &self,
        user_id: &str,
        role: &str,
        tenant_id: Option<&str>,
        session_epoch: i32,
    ) -> Result<(String, Claims), ApiError> {
        self.issue_in_session(user_id, role, tenant_id, session_epoch, None)
    }

    /// Issue an access token of the server-side session `sid`.
    pub fn issue_in_session(
        &self,
        user_id: &str,
        role: &str,
        tenant_id: Option<&str>,
        session_epoch: i32,
        sid: Option<&str>,
    ) -> Result<(String, Claims), ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: user_id.to_string(),
            iss: self.issuer.clone(),
            aud: self.issuer.clone(),
            exp: now + self.ttl_secs,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            role: role.to_string(),
            tenant_id: tenant_id.filter(|t| !t.is_empty()).map(str::to_string),
            sep: session_epoch,
            sid: sid.map(str::to_string),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("signing token: {e}")))?;
        Ok((token, claims))
    }

    /// Check signature, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    /// [`TokenKeys::verify`] with the expiry of a remembered token checked
    /// against `now` (unix seconds).
    fn verify_at(&self, token: &str, now: i64) -> Result<Claims, ApiError> {
        let refused = || ApiError::Unauthenticated("invalid or expired token".into());
        let known = self
            .verified
            .lock()
            .ok()
            .and_then(|m| m.get(token).cloned());
        if let Some(claims) = known {
            // jsonwebtoken's rule: expired once exp < now - leeway.
            return if claims.exp >= now - LEEWAY_SECS {
                Ok(claims)
            } else {
                Err(refused())
            };
        }
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|_| refused())?;
        if let Ok(mut m) = self.verified.lock() {
            if m.len() >= VERIFIED_CAPACITY {
                m.clear();
            }
            m.insert(token.to_string(), claims.clone());
        }
        Ok(claims)
    }
}

/// A random secret for demo and test servers (never for production).
pub fn random_secret() -> SecretString {
    use rand::RngCore;
    let mut bytes = [0u8; 48];
    rand::thread_rng().fill_bytes(&mut bytes);
    SecretString::from(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_their_issuer() {
        let secret = random_secret();
        let a = TokenKeys::new(&secret, "bulkhead-company", 60);
        let b = TokenKeys::new(&secret, "bulkhead-dev", 60);
        let (token, _) = a.issue("u1", "admin", None, 0).unwrap();
        assert_eq!(a.verify(&token).unwrap().sub, "u1");
        assert!(b.verify(&token).is_err(), "same secret, other audience");
    }

    #[test]
    fn a_remembered_token_is_refused_once_it_expires_and_the_memory_is_bounded() {
        let keys = TokenKeys::new(&random_secret(), "bulkhead-hospital", 60);
        let (token, claims) = keys.issue("u1", "doctor", None, 0).unwrap();
        let now = chrono::Utc::now().timestamp();
        assert_eq!(keys.verify_at(&token, now).unwrap().jti, claims.jti);
        // Remembered now: the same answer, then refused past its expiry
        // (the leeway included), as jsonwebtoken refuses it.
        assert_eq!(keys.verify_at(&token, now).unwrap().jti, claims.jti);
        assert!(keys.verify_at(&token, claims.exp + LEEWAY_SECS).is_ok());
        assert!(keys
            .verify_at(&token, claims.exp + LEEWAY_SECS + 1)
            .is_err());
        // A token that fails is not remembered; many tokens stay bounded.
        assert!(keys.verify("not.a.token").is_err());
        for i in 0..VERIFIED_CAPACITY + 10 {
            let (t, _) = keys.issue(&format!("u{i}"), "doctor", None, 0).unwrap();
            keys.verify(&t).unwrap();
        }
        let held = keys.verified.lock().unwrap();
        assert!(held.len() <= VERIFIED_CAPACITY);
        assert!(!held.contains_key("not.a.token"));
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let keys = TokenKeys::new(&random_secret(), "bulkhead-owner", 60);
        let (token, _) = keys.issue("u1", "owner", None, 0).unwrap();
        let mut t = token.into_bytes();
        let n = t.len() - 3;
        t[n] = if t[n] == b'A' { b'B' } else { b'A' };
        assert!(keys.verify(&String::from_utf8(t).unwrap()).is_err());
    }
}
