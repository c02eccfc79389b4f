//! TOTP second factor (RFC 6238, `totp-rs`): the server-side keys, the
//! sealed secret, backup codes, and the one check both the login and the
//! account's own changes use.
//!
//! Keys come from the server's token secret through HKDF-SHA256, one per
//! purpose, so no server needs a keyring for this (see docs/security.md):
//! - the MFA token: a JWT whose audience is `<issuer>-mfa`, so the access
//!   token extractor (audience `<issuer>`) refuses it;
//! - the TOTP secret at rest: AES-256-GCM bound to the user id;
//! - backup codes: HMAC-SHA256, so a copy of the database holds no usable code.
//!
//! A code is accepted once: the step of the last accepted code is stored and
//! only a later step passes. One step of clock skew either way is allowed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use diesel::prelude::*;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use totp_rs::{Builder, Secret, Totp};
use zeroize::Zeroizing;

use super::token::TokenKeys;
use crate::db::{now, DbConn};
use crate::error::{ApiError, ApiResult};
use crate::schema::user_mfa;

/// Seconds an MFA token (between the password and the code) stays valid.
pub const MFA_TOKEN_SECS: i64 = 300;
/// Backup codes issued when MFA is turned on.
pub const BACKUP_CODES: usize = 10;
/// Characters of a backup code (from a 31-letter alphabet: ~49 bits).
const BACKUP_LEN: usize = 10;
/// Letters and digits that are not easily confused.
const BACKUP_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// TOTP time step in seconds (the authenticator apps' default).
const STEP_SECS: u64 = 30;

/// The MFA keys of one server, derived from its token secret.
pub struct MfaKeys {
    /// Signs and checks MFA tokens (not access tokens).
    pub token: TokenKeys,
    cipher: aes_gcm::Aes256Gcm,
    code_key: Zeroizing<[u8; 32]>,
    issuer: String,
}

impl MfaKeys {
    /// Derive the keys from `secret`; `issuer` is the access tokens' issuer
    /// and `label` names the server in authenticator apps.
    pub fn new(secret: &SecretString, issuer: &str, label: &str) -> anyhow::Result<Self> {
        let hk = Hkdf::<Sha256>::new(Some(b"bulkhead-mfa"), secret.expose_secret().as_bytes());
        let mut seal_key = Zeroizing::new([0u8; 32]);
        let mut code_key = Zeroizing::new([0u8; 32]);
        hk.expand(b"totp secret seal v1", &mut *seal_key)
            .map_err(|_| anyhow::anyhow!("HKDF expand"))?;
        hk.expand(b"backup code hash v1", &mut *code_key)
            .map_err(|_| anyhow::anyhow!("HKDF expand"))?;
        Ok(Self {
            token: TokenKeys::new(secret, &format!("{issuer}-mfa"), MFA_TOKEN_SECS),
            cipher: crate::crypto::cipher_for(&seal_key),
            code_key,
            issuer: label.to_string(),
        })
    }

    fn seal(&self, user_id: &str, raw: &[u8]) -> ApiResult<String> {
        let sealed = crate::crypto::seal(&self.cipher, raw, &aad(user_id))?;
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }

    fn open(&self, user_id: &str, stored: &str) -> ApiResult<Zeroizing<Vec<u8>>> {
        let fail = || {
            ApiError::Internal(anyhow::anyhow!(
                "the MFA secret of {user_id} does not decrypt"
            ))
        };
        let sealed = URL_SAFE_NO_PAD.decode(stored).map_err(|_| fail())?;
        crate::crypto::open(&self.cipher, &sealed, &aad(user_id)).ok_or_else(fail)
    }

    fn hash_code(&self, code: &str) -> String {
        // HMAC takes keys of any length; the error arm cannot happen.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&*self.code_key) else {
            return String::new();
        };
        mac.update(code.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn totp(&self, raw: &[u8], account: &str) -> ApiResult<Totp> {
        Builder::new()
            .with_secret(Secret::from(raw.to_vec()))
            .with_skew(1)
            .with_step_duration(STEP_SECS)
            .with_issuer(Some(self.issuer.as_str()))
            .with_account_name(account)
            .build()
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("TOTP: {e}")))
    }
}

fn aad(user_id: &str) -> Vec<u8> {
    format!("bulkhead-mfa|v1|{}:{user_id}", user_id.len()).into_bytes()
}

/// The stored second factor of one account.
#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = user_mfa)]
pub struct MfaRow {
    /// The account.
    pub user_id: String,
    secret: String,
    /// Confirmed with a code (only then does login ask for one).
    pub enabled: bool,
    backup_codes: String,
}

/// Whether `user_id` has MFA turned on.
pub fn is_enabled(conn: &mut DbConn, user_id: &str) -> ApiResult<bool> {
    Ok(find(conn, user_id)?.is_some_and(|r| r.enabled))
}

/// The row of `user_id`, if any.
pub fn find(conn: &mut DbConn, user_id: &str) -> ApiResult<Option<MfaRow>> {
    Ok(user_mfa::table
        .find(user_id)
        .select(MfaRow::as_select())
        .first(conn)
        .optional()?)
}

/// What setup hands the user, once.
pub struct Enrolment {
    /// The secret in base32 (to type into an app).
    pub secret_base32: String,
    /// `otpauth://totp/…` (for a QR code).
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document (scanned by the app).
    pub qr_svg: String,
}

/// `uri` as a QR code in SVG (no image crate, no script).
fn qr_svg(uri: &str) -> ApiResult<String> {
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

/// Start (or restart) enrolment: a fresh secret, stored sealed and not yet
/// enabled. Refused while MFA is on (disable it first).
pub fn begin(
    conn: &mut DbConn,
    keys: &MfaKeys,
    user_id: &str,
    account: &str,
) -> ApiResult<Enrolment> {
    if is_enabled(conn, user_id)? {
        return Err(ApiError::Conflict(
            "MFA is already on; disable it first to enrol a new device".into(),
        ));
    }
    let raw = Zeroizing::new(Secret::generate().as_ref().to_vec());
    let totp = keys.totp(&raw, account)?;
    let otpauth_uri = totp
        .to_url()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("otpauth URI: {e}")))?;
    let sealed = keys.seal(user_id, &raw)?;
    diesel::delete(user_mfa::table.find(user_id)).execute(conn)?;
    diesel::insert_into(user_mfa::table)
        .values((
            user_mfa::user_id.eq(user_id),
            user_mfa::secret.eq(sealed),
            user_mfa::enabled.eq(false),
            user_mfa::last_step.eq(0_i64),
            user_mfa::backup_codes.eq(""),
            user_mfa::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(Enrolment {
        secret_base32: totp.secret().to_base32(),
        qr_svg: qr_svg(&otpauth_uri)?,
        otpauth_uri,
    })
}

/// Which kind of code passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// A TOTP code of a step not accepted before.
    Totp,
    /// A backup code, now used up.
    Backup,
}

impl Accepted {
    /// For audit details.
    pub fn as_str(self) -> &'static str {
        match self {
            Accepted::Totp => "totp",
            Accepted::Backup => "backup_code",
        }
    }
}

/// Check `code` against the account's second factor and consume it (the
/// step is remembered; a backup code is removed). `backup_ok` is false while
/// confirming enrolment (there are no backup codes yet). `None`: refused.
pub fn check_and_consume(
    conn: &mut DbConn,
    keys: &MfaKeys,
    row: &MfaRow,
    code: &str,
    backup_ok: bool,
) -> ApiResult<Option<Accepted>> {
    let code: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        let raw = keys.open(&row.user_id, &row.secret)?;
        let totp = keys.totp(&raw, "-")?;
        let time = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        let Some(step) = totp.check(&code, time).and_then(|s| i64::try_from(s).ok()) else {
            return Ok(None);
        };
        // Only a later step than the last accepted one: a code (or an older
        // one seen over a shoulder) is good once. The WHERE makes it atomic.
        let n = diesel::update(
            user_mfa::table
                .find(&row.user_id)
                .filter(user_mfa::last_step.lt(step)),
        )
        .set((user_mfa::last_step.eq(step), user_mfa::updated_at.eq(now())))
        .execute(conn)?;
        return Ok((n == 1).then_some(Accepted::Totp));
    }
    if !backup_ok || code.len() != BACKUP_LEN {
        return Ok(None);
    }
    let hash = keys.hash_code(&code.to_ascii_lowercase());
    let stored: Vec<&str> = row.backup_codes.lines().collect();
    if !stored.iter().any(|h| *h == hash) {
        return Ok(None);
    }
    let left: Vec<&str> = stored.into_iter().filter(|h| *h != hash).collect();
    let n = diesel::update(
        user_mfa::table
            .find(&row.user_id)
            .filter(user_mfa::backup_codes.eq(&row.backup_codes)),
    )
    .set((
        user_mfa::backup_codes.eq(left.join("\n")),
        user_mfa::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok((n == 1).then_some(Accepted::Backup))
}

/// Turn MFA on and issue fresh backup codes (returned once, stored hashed).
pub fn enable(conn: &mut DbConn, keys: &MfaKeys, user_id: &str) -> ApiResult<Vec<String>> {
    let mut rng = rand::rngs::OsRng;
    let codes: Vec<String> = (0..BACKUP_CODES)
        .map(|_| {
            (0..BACKUP_LEN)
                .map(|_| char::from(BACKUP_ALPHABET[rng.gen_range(0..BACKUP_ALPHABET.len())]))
                .collect()
        })
        .collect();
    let hashes: Vec<String> = codes.iter().map(|c| keys.hash_code(c)).collect();
    diesel::update(user_mfa::table.find(user_id))
        .set((
            user_mfa::enabled.eq(true),
            user_mfa::backup_codes.eq(hashes.join("\n")),
            user_mfa::updated_at.eq(now()),
        ))
        .execute(conn)?;
    // Shown as xxxxx-xxxxx; the dash is ignored when typed back.
    Ok(codes
        .iter()
        .map(|c| format!("{}-{}", &c[..BACKUP_LEN / 2], &c[BACKUP_LEN / 2..]))
        .collect())
}

/// Remove the account's second factor (disable or admin reset).
pub fn remove(conn: &mut DbConn, user_id: &str) -> ApiResult<bool> {
    Ok(diesel::delete(user_mfa::table.find(user_id)).execute(conn)? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> MfaKeys {
        MfaKeys::new(
            &SecretString::from(secret.to_string()),
            "bulkhead-dev",
            "bulkhead-dev",
        )
        .unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_user_and_key() {
        let k = keys("a-token-secret-of-at-least-32-bytes!!");
        let sealed = k.seal("u1", b"twenty bytes secret!").unwrap();
        assert!(!sealed.contains("twenty"));
        assert_eq!(&*k.open("u1", &sealed).unwrap(), b"twenty bytes secret!");
        assert!(k.open("u2", &sealed).is_err(), "bound to the user id");
        let other = keys("another-token-secret-of-32-bytes-or-more");
        assert!(other.open("u1", &sealed).is_err(), "bound to the key");
    }

    #[test]
    fn backup_code_hashes_are_keyed() {
        let a = keys("a-token-secret-of-at-least-32-bytes!!");
        let b = keys("another-token-secret-of-32-bytes-or-more");
        assert_eq!(a.hash_code("abcdefghjk"), a.hash_code("abcdefghjk"));
        assert_ne!(a.hash_code("abcdefghjk"), b.hash_code("abcdefghjk"));
    }

    #[test]
    fn an_mfa_token_is_not_an_access_token() {
        let secret = SecretString::from("a-token-secret-of-at-least-32-bytes!!".to_string());
        let k = MfaKeys::new(&secret, "bulkhead-dev", "bulkhead-dev").unwrap();
        let access = TokenKeys::new(&secret, "bulkhead-dev", 60);
        let (token, _) = k.token.issue("u1", "admin", None, 0).unwrap();
        assert!(access.verify(&token).is_err());
        assert!(k.token.verify(&token).is_ok());
    }
}
