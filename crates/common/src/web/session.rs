//! Server-side web sessions: the cookie carries 32 random bytes; the table
//! keeps only their SHA-256, the token id issued at login (so logout
//! revokes it like the API's) and the user's session epoch (so a password
//! change, reset, role change or deactivation ends the session).

use actix_web::cookie::{time, Cookie, SameSite};
use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::WebSettings;
use crate::db::{now, DbConn};
use crate::error::ApiResult;
use crate::schema::web_sessions;
use crate::service::Service;

/// One stored session.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = web_sessions)]
pub struct Session {
    /// SHA-256 (hex) of the cookie value.
    pub id_hash: String,
    /// The account.
    pub user_id: String,
    /// The token id issued at login; revoked at logout.
    pub jti: String,
    /// The account's session epoch at login.
    pub session_epoch: i32,
    /// The CSRF token every form of this session carries.
    pub csrf_token: String,
    /// Opened.
    pub created_at: NaiveDateTime,
    /// Last request (for the idle timeout).
    pub last_seen_at: NaiveDateTime,
    /// Ends at the latest then (the token's expiry).
    pub expires_at: NaiveDateTime,
    /// The server-side session (`auth_sessions`) of the login: ending it
    /// (from the API's session list, an admin, a credential change) ends
    /// this web session too.
    pub auth_session_id: Option<String>,
}

/// A fresh random value, URL-safe (cookie values and CSRF tokens).
pub fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the table stores for a cookie value.
pub fn hash_id(cookie_value: &str) -> String {
    hex::encode(Sha256::digest(cookie_value.as_bytes()))
}

/// The session cookie's name, one per server (a browser sends a host's
/// cookies to all its ports). With TLS the `__Host-` prefix makes the
/// browser refuse it unless `Secure`, host-only and `Path=/`.
pub fn cookie_name(settings: &WebSettings) -> &'static str {
    match (settings.secure, settings.service) {
        (false, Service::Hospital) => "bulkhead-hospital-session",
        (false, Service::Company) => "bulkhead-company-session",
        (false, Service::Dev) => "bulkhead-dev-session",
        (false, Service::Owner) => "bulkhead-owner-session",
        (true, Service::Hospital) => "__Host-bulkhead-hospital-session",
        (true, Service::Company) => "__Host-bulkhead-company-session",
        (true, Service::Dev) => "__Host-bulkhead-dev-session",
        (true, Service::Owner) => "__Host-bulkhead-owner-session",
    }
}

/// The cookie of the forms shown before sign-in (login, enrolment), one per server.
pub fn public_form_cookie_name(settings: &WebSettings) -> &'static str {
    match settings.service {
        Service::Hospital => "bulkhead-hospital-login",
        Service::Company => "bulkhead-company-login",
        Service::Dev => "bulkhead-dev-login",
        Service::Owner => "bulkhead-owner-login",
    }
}

/// The session cookie holding `value` (a session cookie: no `Max-Age`, so
/// closing the browser drops it; the server enforces idle and absolute
/// limits anyway).
pub fn cookie(settings: &WebSettings, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(settings.secure)
        .same_site(SameSite::Strict)
        .finish()
}

/// A cookie that deletes `name` in the browser.
pub fn removal(settings: &WebSettings, name: &'static str) -> Cookie<'static> {
    let mut c = cookie(settings, name, String::new());
    c.set_max_age(time::Duration::ZERO);
    c
}

/// Store a new session; returns the cookie value (never stored).
pub fn create(
    conn: &mut DbConn,
    user_id: &str,
    jti: &str,
    session_epoch: i32,
    expires_at: NaiveDateTime,
    auth_session_id: Option<&str>,
) -> ApiResult<(String, Session)> {
    let value = random_token();
    let at = now();
    let row = Session {
        id_hash: hash_id(&value),
        user_id: user_id.to_string(),
        jti: jti.to_string(),
        session_epoch,
        csrf_token: random_token(),
        created_at: at,
        last_seen_at: at,
        expires_at,
        auth_session_id: auth_session_id.map(str::to_string),
    };
    diesel::insert_into(web_sessions::table)
        .values(&row)
        .execute(conn)?;
    Ok((value, row))
}

/// The session of a cookie value, if stored.
pub fn find(conn: &mut DbConn, cookie_value: &str) -> ApiResult<Option<Session>> {
    Ok(web_sessions::table
        .find(hash_id(cookie_value))
        .select(Session::as_select())
        .first(conn)
        .optional()?)
}

/// Note a request of the session (for the idle timeout).
pub fn touch(conn: &mut DbConn, id_hash: &str) -> ApiResult<()> {
    diesel::update(web_sessions::table.find(id_hash.to_string()))
        .set(web_sessions::last_seen_at.eq(now()))
        .execute(conn)?;
    Ok(())
}

/// Delete one session.
pub fn delete(conn: &mut DbConn, id_hash: &str) -> ApiResult<()> {
    diesel::delete(web_sessions::table.find(id_hash.to_string())).execute(conn)?;
    Ok(())
}

/// Whether a session is past its idle or absolute limit at `at`.
pub fn is_stale(s: &Session, idle: TimeDelta, at: NaiveDateTime) -> bool {
    s.expires_at <= at || s.last_seen_at + idle <= at
}

/// Delete sessions past their absolute limit (called at login, so the table
/// does not grow with abandoned sessions).
pub fn purge_expired(conn: &mut DbConn) -> ApiResult<usize> {
    Ok(
        diesel::delete(web_sessions::table.filter(web_sessions::expires_at.le(now())))
            .execute(conn)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(last_seen: NaiveDateTime, expires: NaiveDateTime) -> Session {
        Session {
            id_hash: String::new(),
            user_id: String::new(),
            jti: String::new(),
            session_epoch: 0,
            csrf_token: String::new(),
            created_at: last_seen,
            last_seen_at: last_seen,
            expires_at: expires,
            auth_session_id: None,
        }
    }

    #[test]
    fn idle_and_absolute_limits_end_a_session() {
        let t = now();
        let idle = TimeDelta::minutes(30);
        assert!(!is_stale(&session(t, t + TimeDelta::hours(1)), idle, t));
        assert!(is_stale(
            &session(t - TimeDelta::minutes(31), t + TimeDelta::hours(1)),
            idle,
            t
        ));
        assert!(is_stale(&session(t, t), idle, t));
    }

    #[test]
    fn the_stored_id_is_a_hash_of_the_cookie() {
        let v = random_token();
        assert_eq!(v.len(), 64);
        assert_ne!(hash_id(&v), v);
        assert_eq!(hash_id(&v), hash_id(&v));
    }
}
