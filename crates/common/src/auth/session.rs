//! Server-side sessions (`auth_sessions`) and their refresh tokens
//! (`refresh_tokens`).
//!
//! Every login opens a session; its access tokens name it (`sid`) and its
//! refresh token (32 random bytes, only the SHA-256 stored) rotates on each
//! use: the old one is spent, and presenting a spent one again (someone
//! holds a copy) ends the whole session. The token check refuses a token
//! whose session has ended, is past its absolute expiry, or has been idle
//! past its timeout. `last_used_at` is touched at most once a minute
//! ([`TOUCH_EVERY_SECS`]), so a read does not become a write.

use chrono::{NaiveDateTime, TimeDelta};
use diesel::prelude::*;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::stamp::{OptStamp, Stamp};
use crate::db::DbConn;
use crate::error::ApiResult;
use crate::schema::{auth_sessions, refresh_tokens};

/// `last_used_at` is written at most this often per session (so the idle
/// timeout is exact to within a minute).
pub const TOUCH_EVERY_SECS: i64 = 60;

/// The longest user agent kept with a session.
pub const USER_AGENT_MAX: usize = 200;

/// One stored session.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_sessions)]
pub struct AuthSession {
    /// UUID (the tokens' `sid`).
    pub id: String,
    /// The account.
    pub user_id: String,
    /// Its tenant (hospital).
    pub tenant_id: Option<String>,
    /// Opened (login).
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    /// Last request or refresh (to within [`TOUCH_EVERY_SECS`]).
    #[diesel(deserialize_as = Stamp)]
    pub last_used_at: NaiveDateTime,
    /// Ends then however active (absolute lifetime).
    #[diesel(deserialize_as = Stamp)]
    pub expires_at: NaiveDateTime,
    /// Ends after this long without use.
    pub idle_timeout_secs: i64,
    /// Client address at login.
    pub address: Option<String>,
    /// Client user agent at login (truncated).
    pub user_agent: Option<String>,
    /// When it was ended, if it was.
    #[diesel(deserialize_as = OptStamp)]
    pub ended_at: Option<NaiveDateTime>,
    /// Why: `logout`, `ended_by_user`, `ended_by_admin`, `refresh_reuse`,
    /// `password_change`, `password_reset`, `deactivated`, `role_change`,
    /// `mfa_reset`.
    pub ended_reason: Option<String>,
}

/// Why a session no longer admits anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dead {
    /// Ended (logout, an admin, reuse, a credential change).
    Ended,
    /// Past its absolute lifetime.
    Expired,
    /// Unused longer than its idle timeout.
    Idle,
}

impl Dead {
    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            Dead::Ended => "this session has ended; log in again",
            Dead::Expired => "this session has reached its maximum lifetime; log in again",
            Dead::Idle => "this session timed out after inactivity; log in again",
        }
    }
}

impl AuthSession {
    /// Whether the session admits a request at `at`.
    pub fn check(&self, at: NaiveDateTime) -> Result<(), Dead> {
        if self.ended_at.is_some() {
            Err(Dead::Ended)
        } else if self.expires_at <= at {
            Err(Dead::Expired)
        } else if self.last_used_at + TimeDelta::seconds(self.idle_timeout_secs) <= at {
            Err(Dead::Idle)
        } else {
            Ok(())
        }
    }

    /// Whether a use at `at` should be written down.
    pub fn needs_touch(&self, at: NaiveDateTime) -> bool {
        at - self.last_used_at >= TimeDelta::seconds(TOUCH_EVERY_SECS)
    }
}

/// What the owner sees of a session.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// Session id.
    pub id: String,
    /// Opened.
    pub created_at: NaiveDateTime,
    /// Last used (to within a minute).
    pub last_used_at: NaiveDateTime,
    /// Ends then however active.
    pub expires_at: NaiveDateTime,
    /// Ends after this many seconds without use.
    pub idle_timeout_secs: i64,
    /// Client address at login.
    pub address: Option<String>,
    /// Client user agent at login (truncated).
    pub user_agent: Option<String>,
    /// Whether this is the session of the token that asked.
    pub current: bool,
}

impl SessionView {
    /// The view of `s`; `current` when it is the caller's own session.
    pub fn of(s: &AuthSession, current: &str) -> Self {
        Self {
            id: s.id.clone(),
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            idle_timeout_secs: s.idle_timeout_secs,
            address: s.address.clone(),
            user_agent: s.user_agent.clone(),
            current: s.id == current,
        }
    }
}

/// What a new session is opened with.
pub struct Opening<'a> {
    /// The account.
    pub user_id: &'a str,
    /// Its tenant (`""` when none).
    pub tenant_id: &'a str,
    /// Now, by the context's clock.
    pub at: NaiveDateTime,
    /// Absolute lifetime.
    pub absolute_secs: i64,
    /// Idle timeout of the account's role.
    pub idle_secs: i64,
    /// Client address.
    pub address: Option<&'a str>,
    /// Client user agent.
    pub user_agent: Option<&'a str>,
}

/// A new refresh token value (64 hex characters; never stored).
fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the table stores for a refresh token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Open a session and issue its first refresh token (returned, never stored).
pub fn open(conn: &mut DbConn, o: &Opening<'_>) -> ApiResult<(AuthSession, String)> {
    let row = AuthSession {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: o.user_id.to_string(),
        tenant_id: Some(o.tenant_id.to_string()).filter(|t| !t.is_empty()),
        created_at: o.at,
        last_used_at: o.at,
        expires_at: o.at + TimeDelta::seconds(o.absolute_secs),
        idle_timeout_secs: o.idle_secs,
        address: o.address.map(|a| truncate(a, 64)),
        user_agent: o.user_agent.map(|a| truncate(a, USER_AGENT_MAX)),
        ended_at: None,
        ended_reason: None,
    };
    diesel::insert_into(auth_sessions::table)
        .values(&row)
        .execute(conn)?;
    let token = issue_refresh(conn, &row.id, o.at)?;
    Ok((row, token))
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// A new refresh token of `session_id`.
fn issue_refresh(conn: &mut DbConn, session_id: &str, at: NaiveDateTime) -> ApiResult<String> {
    let token = random_token();
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(hash_token(&token)),
            refresh_tokens::session_id.eq(session_id),
            refresh_tokens::issued_at.eq(at),
        ))
        .execute(conn)?;
    Ok(token)
}

/// One session by id.
pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<AuthSession>> {
    Ok(auth_sessions::table
        .find(id)
        .select(AuthSession::as_select())
        .first(conn)
        .optional()?)
}

/// Note a use of the session at `at` (callers only do so once a minute).
pub fn touch(conn: &mut DbConn, id: &str, at: NaiveDateTime) -> ApiResult<()> {
    diesel::update(
        auth_sessions::table
            .find(id)
            .filter(auth_sessions::ended_at.is_null())
            .filter(auth_sessions::last_used_at.lt(at)),
    )
    .set(auth_sessions::last_used_at.eq(at))
    .execute(conn)?;
    Ok(())
}

/// End one session (no-op if it already ended). Whether this call ended it.
pub fn end(conn: &mut DbConn, id: &str, reason: &str, at: NaiveDateTime) -> ApiResult<bool> {
    let n = diesel::update(
        auth_sessions::table
            .find(id)
            .filter(auth_sessions::ended_at.is_null()),
    )
    .set((
        auth_sessions::ended_at.eq(Some(at)),
        auth_sessions::ended_reason.eq(Some(reason)),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// End every open session of a user. How many were ended.
pub fn end_all_of_user(
    conn: &mut DbConn,
    user_id: &str,
    reason: &str,
    at: NaiveDateTime,
) -> ApiResult<usize> {
    Ok(diesel::update(
        auth_sessions::table
            .filter(auth_sessions::user_id.eq(user_id))
            .filter(auth_sessions::ended_at.is_null()),
    )
    .set((
        auth_sessions::ended_at.eq(Some(at)),
        auth_sessions::ended_reason.eq(Some(reason)),
    ))
    .execute(conn)?)
}

/// End every open session of a tenant's users (the tenant was suspended or
/// archived). How many were ended.
pub fn end_all_of_tenant(
    conn: &mut DbConn,
    tenant_id: &str,
    reason: &str,
    at: NaiveDateTime,
) -> ApiResult<usize> {
    Ok(diesel::update(
        auth_sessions::table
            .filter(auth_sessions::tenant_id.eq(tenant_id))
            .filter(auth_sessions::ended_at.is_null()),
    )
    .set((
        auth_sessions::ended_at.eq(Some(at)),
        auth_sessions::ended_reason.eq(Some(reason)),
    ))
    .execute(conn)?)
}

/// A user's sessions that still admit requests at `at`, newest first.
pub fn list_live(
    conn: &mut DbConn,
    user_id: &str,
    at: NaiveDateTime,
) -> ApiResult<Vec<AuthSession>> {
    let rows = auth_sessions::table
        .filter(auth_sessions::user_id.eq(user_id))
        .filter(auth_sessions::ended_at.is_null())
        .filter(auth_sessions::expires_at.gt(at))
        .order((auth_sessions::created_at.desc(), auth_sessions::id.asc()))
        .select(AuthSession::as_select())
        .load(conn)?;
    Ok(rows.into_iter().filter(|s| s.check(at).is_ok()).collect())
}

/// What presenting a refresh token did.
#[derive(Debug)]
pub enum Rotation {
    /// No such token (never issued here, or its session was purged).
    Unknown,
    /// The token had been spent already: the session is now ended.
    Reused(AuthSession),
    /// The session no longer admits anyone (the token is left unspent).
    Dead(AuthSession, Dead),
    /// Spent; the session's next refresh token.
    Rotated(AuthSession, String),
}

/// Spend a refresh token at `at` and issue the next one, or end its
/// session when it was spent before. Runs inside the caller's write
/// transaction, so two concurrent presentations are serialized: the first
/// rotates, the second is reuse.
pub fn rotate(conn: &mut DbConn, token: &str, at: NaiveDateTime) -> ApiResult<Rotation> {
    let hash = hash_token(token);
    let found: Option<(Option<NaiveDateTime>, AuthSession)> = refresh_tokens::table
        .inner_join(auth_sessions::table)
        .filter(refresh_tokens::token_hash.eq(&hash))
        .select((refresh_tokens::spent_at, AuthSession::as_select()))
        .first(conn)
        .optional()?;
    let Some((spent, session)) = found else {
        return Ok(Rotation::Unknown);
    };
    if spent.is_some() {
        end(conn, &session.id, "refresh_reuse", at)?;
        return Ok(Rotation::Reused(session));
    }
    if let Err(dead) = session.check(at) {
        return Ok(Rotation::Dead(session, dead));
    }
    let n = diesel::update(
        refresh_tokens::table
            .find(&hash)
            .filter(refresh_tokens::spent_at.is_null()),
    )
    .set(refresh_tokens::spent_at.eq(Some(at)))
    .execute(conn)?;
    if n == 0 {
        // Spent between the read and the update (another writer): reuse.
        end(conn, &session.id, "refresh_reuse", at)?;
        return Ok(Rotation::Reused(session));
    }
    diesel::update(auth_sessions::table.find(&session.id))
        .set(auth_sessions::last_used_at.eq(at))
        .execute(conn)?;
    let next = issue_refresh(conn, &session.id, at)?;
    Ok(Rotation::Rotated(session, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(at: NaiveDateTime) -> AuthSession {
        AuthSession {
            id: "s".into(),
            user_id: "u".into(),
            tenant_id: None,
            created_at: at,
            last_used_at: at,
            expires_at: at + TimeDelta::hours(8),
            idle_timeout_secs: 900,
            address: None,
            user_agent: None,
            ended_at: None,
            ended_reason: None,
        }
    }

    #[test]
    fn idle_absolute_and_ended_sessions_are_dead() {
        let t = crate::db::now();
        let s = session(t);
        assert_eq!(s.check(t + TimeDelta::seconds(899)), Ok(()));
        assert_eq!(s.check(t + TimeDelta::seconds(900)), Err(Dead::Idle));
        let mut busy = session(t);
        busy.last_used_at = t + TimeDelta::hours(8) - TimeDelta::seconds(10);
        assert_eq!(busy.check(t + TimeDelta::hours(8)), Err(Dead::Expired));
        let mut ended = session(t);
        ended.ended_at = Some(t);
        assert_eq!(ended.check(t), Err(Dead::Ended));
    }

    #[test]
    fn touches_are_at_most_once_a_minute() {
        let t = crate::db::now();
        let s = session(t);
        assert!(!s.needs_touch(t + TimeDelta::seconds(59)));
        assert!(s.needs_touch(t + TimeDelta::seconds(60)));
    }

    #[test]
    fn the_stored_refresh_token_is_a_hash() {
        let v = random_token();
        assert_eq!(v.len(), 64);
        assert_ne!(hash_token(&v), v);
    }
}
