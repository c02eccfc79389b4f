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

/// Signing and checking keys of one server.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl_secs: i64,
}

impl TokenKeys {
    /// Keys from the server's secret.
    pub fn new(secret: &SecretString, issuer: &str, ttl_secs: i64) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            issuer: issuer.to_string(),
            ttl_secs,
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
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|_| ApiError::Unauthenticated("invalid or expired token".into()))
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
    fn tampered_tokens_are_refused() {
        let keys = TokenKeys::new(&random_secret(), "bulkhead-owner", 60);
        let (token, _) = keys.issue("u1", "owner", None, 0).unwrap();
        let mut t = token.into_bytes();
        let n = t.len() - 3;
        t[n] = if t[n] == b'A' { b'B' } else { b'A' };
        assert!(keys.verify(&String::from_utf8(t).unwrap()).is_err());
    }
}
