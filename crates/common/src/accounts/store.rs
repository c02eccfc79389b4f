//! Queries on the `users` and `revoked_tokens` tables. Every lookup that a
//! caller drives is scoped to a tenant (`""` on servers without tenants).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::auth::session::{self, AuthSession};
use crate::db::stamp::{self, OptStamp, Stamp};
use crate::db::Page;
use crate::db::{now, DbConn};
use crate::error::ApiResult;
use crate::schema::{auth_sessions, revoked_tokens, user_mfa, users};

/// A stored user.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    /// UUID.
    pub id: String,
    /// Tenant (`""` when none).
    pub tenant_id: String,
    /// Login name.
    pub username: String,
    /// Optional e-mail (also accepted at login).
    pub email: Option<String>,
    /// Display name.
    pub full_name: Option<String>,
    /// bcrypt hash.
    pub password_hash: String,
    /// Role name.
    pub role: String,
    /// Whether the user may log in.
    pub active: bool,
    /// Consecutive failed logins.
    pub failed_logins: i32,
    /// Locked until this time, if locked.
    #[diesel(deserialize_as = OptStamp)]
    pub locked_until: Option<NaiveDateTime>,
    /// Last successful login.
    #[diesel(deserialize_as = OptStamp)]
    pub last_login_at: Option<NaiveDateTime>,
    /// Created.
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    /// Last changed.
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    /// Must change the password before anything else (set by someone else).
    pub must_change_password: bool,
    /// Raised by a password change, reset, deactivation or role change;
    /// tokens issued under an older epoch are refused.
    pub session_epoch: i32,
}

/// What an API client sees of a user (never the hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// UUID.
    pub id: String,
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: Option<String>,
    /// Display name.
    pub full_name: Option<String>,
    /// Role.
    pub role: String,
    /// Tenant (hospital only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Whether the user may log in.
    pub active: bool,
    /// Whether the account is locked now.
    pub locked: bool,
    /// Last successful login.
    #[serde(serialize_with = "stamp::json_opt")]
    pub last_login_at: Option<NaiveDateTime>,
    /// Created.
    #[serde(serialize_with = "stamp::json")]
    pub created_at: NaiveDateTime,
    /// Last changed.
    #[serde(serialize_with = "stamp::json")]
    pub updated_at: NaiveDateTime,
    /// Must change the password before anything else.
    pub must_change_password: bool,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            role: u.role.clone(),
            tenant_id: Some(u.tenant_id.clone()).filter(|t| !t.is_empty()),
            active: u.active,
            locked: u.locked_until.is_some_and(|t| t > now()),
            last_login_at: u.last_login_at,
            created_at: u.created_at,
            updated_at: u.updated_at,
            must_change_password: u.must_change_password,
        }
    }
}

/// A user to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    /// UUID.
    pub id: String,
    /// Tenant (`""` when none).
    pub tenant_id: String,
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: Option<String>,
    /// Display name.
    pub full_name: Option<String>,
    /// bcrypt hash.
    pub password_hash: String,
    /// Role.
    pub role: String,
    /// Active.
    pub active: bool,
    /// 0.
    pub failed_logins: i32,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Created.
    pub updated_at: NaiveDateTime,
    /// Must change the password at first login.
    pub must_change_password: bool,
}

impl NewUser {
    /// A fresh active user.
    pub fn new(tenant_id: &str, username: &str, password_hash: String, role: &str) -> Self {
        let t = now();
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant_id.to_string(),
            username: username.to_string(),
            email: None,
            full_name: None,
            password_hash,
            role: role.to_string(),
            active: true,
            failed_logins: 0,
            created_at: t,
            updated_at: t,
            must_change_password: false,
        }
    }
}

/// Insert a user.
pub fn insert(conn: &mut DbConn, user: &NewUser) -> ApiResult<()> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)?;
    Ok(())
}

/// A user by id, any tenant (token checks).
pub fn find_by_id(conn: &mut DbConn, id: &str) -> ApiResult<Option<User>> {
    Ok(users::table
        .filter(users::id.eq(id))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// A user by id within a tenant.
pub fn get_in_tenant(conn: &mut DbConn, tenant_id: &str, id: &str) -> ApiResult<User> {
    Ok(users::table
        .filter(users::id.eq(id))
        .filter(users::tenant_id.eq(tenant_id))
        .select(User::as_select())
        .first(conn)?)
}

/// The one user `login` names in `tenant`: the user with that username,
/// else the user with that e-mail (unique per tenant). A username wins, so
/// an e-mail equal to someone else's username never makes a login ambiguous.
pub fn find_for_login(conn: &mut DbConn, login: &str, tenant: &str) -> ApiResult<Option<User>> {
    let by_name = users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::username.eq(login))
        .select(User::as_select())
        .first(conn)
        .optional()?;
    if by_name.is_some() {
        return Ok(by_name);
    }
    Ok(users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::email.eq(login))
        .select(User::as_select())
        .first(conn)
        .optional()?)
}

/// What the token check reads: the user, whether the token id was
/// revoked, and the token's session (if it names one of this user's).
pub type TokenState = (User, bool, Option<AuthSession>);

/// A token's user, whether the token id was revoked and the token's
/// server-side session, in one query (every authenticated request pays one
/// round trip, not two or three).
pub fn find_for_token(
    conn: &mut DbConn,
    user_id: &str,
    jti: &str,
    sid: Option<&str>,
) -> ApiResult<Option<TokenState>> {
    Ok(find_for_request(conn, user_id, jti, sid)?.map(|(state, _)| state))
}

/// [`find_for_token`] and whether the user has a confirmed second factor,
/// still in one query: a role that must use one is checked on every
/// request without a second round trip.
pub fn find_for_request(
    conn: &mut DbConn,
    user_id: &str,
    jti: &str,
    sid: Option<&str>,
) -> ApiResult<Option<(TokenState, bool)>> {
    let sid = sid.unwrap_or_default().to_string();
    type Row = (User, Option<String>, Option<AuthSession>, Option<bool>);
    // (A macro: the select's backend is a type parameter, fixed per arm.)
    macro_rules! token_query {
        () => {
            users::table
                .left_join(revoked_tokens::table.on(revoked_tokens::jti.eq(jti.to_string())))
                .left_join(
                    auth_sessions::table.on(auth_sessions::id
                        .eq(sid)
                        .and(auth_sessions::user_id.eq(users::id))),
                )
                .left_join(user_mfa::table.on(user_mfa::user_id.eq(users::id)))
                .filter(users::id.eq(user_id))
                .select((
                    User::as_select(),
                    revoked_tokens::jti.nullable(),
                    auth_sessions::all_columns.nullable(),
                    user_mfa::enabled.nullable(),
                ))
        };
    }
    // Every request runs this: on the backend's own connection, so the
    // cached statement is used as it is. Through the multi-connection
    // diesel writes the statement's SQL again at every execution (its
    // derive serialises the query in the bind-collecting pass too).
    let row: Option<Row> = crate::on_backend!(conn, |c| token_query!().first(c).optional())?;
    Ok(row.map(|(user, revoked, session, mfa)| {
        ((user, revoked.is_some(), session), mfa.unwrap_or(false))
    }))
}

/// Whether a username is taken in a tenant.
pub fn username_exists(conn: &mut DbConn, tenant_id: &str, username: &str) -> ApiResult<bool> {
    let n: i64 = users::table
        .filter(users::tenant_id.eq(tenant_id))
        .filter(users::username.eq(username))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Whether `name` already identifies a user of the tenant at login, as a
/// username or as an e-mail (other than `except`). Keeping the two name
/// spaces apart keeps every login identifier unambiguous.
pub fn login_name_taken(
    conn: &mut DbConn,
    tenant_id: &str,
    name: &str,
    except: Option<&str>,
) -> ApiResult<bool> {
    let mut q = users::table
        .filter(users::tenant_id.eq(tenant_id))
        .filter(users::username.eq(name).or(users::email.eq(name)))
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(users::id.ne(id.to_string()));
    }
    let n: i64 = q.count().get_result(conn)?;
    Ok(n > 0)
}

/// Active users holding `role` in a tenant.
pub fn count_active_with_role(conn: &mut DbConn, tenant_id: &str, role: &str) -> ApiResult<i64> {
    Ok(users::table
        .filter(users::tenant_id.eq(tenant_id))
        .filter(users::role.eq(role))
        .filter(users::active.eq(true))
        .count()
        .get_result(conn)?)
}

/// Filters for listing users.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserFilter {
    /// Only this role.
    pub role: Option<String>,
    /// Only active (true) or inactive (false) users.
    pub active: Option<bool>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

/// A page of a tenant's users, by username, and the total.
pub fn list(
    conn: &mut DbConn,
    tenant_id: &str,
    filter: &UserFilter,
    page: &Page,
) -> ApiResult<(Vec<User>, i64)> {
    macro_rules! filtered {
        () => {{
            let mut q = users::table
                .filter(users::tenant_id.eq(tenant_id.to_string()))
                .into_boxed();
            if let Some(r) = &filter.role {
                q = q.filter(users::role.eq(r.clone()));
            }
            if let Some(a) = filter.active {
                q = q.filter(users::active.eq(a));
            }
            q
        }};
    }
    // On the backend's own connection (a list is a hot read; see
    // find_for_request for what the multi-connection costs).
    crate::on_backend!(conn, |c| {
        let total = filtered!().count().get_result(c)?;
        let rows = filtered!()
            .order(users::username.asc())
            .limit(page.page_size)
            .offset(page.offset())
            .select(User::as_select())
            .load(c)?;
        Ok((rows, total))
    })
}

/// Count one failed login of `user_id` and return the new count. One
/// `UPDATE … SET failed_logins = failed_logins + 1 … RETURNING`, so
/// concurrent failures each count (a read-then-write lost all but one).
pub fn count_failure(conn: &mut DbConn, user_id: &str) -> ApiResult<i32> {
    Ok(diesel::update(users::table.filter(users::id.eq(user_id)))
        .set(users::failed_logins.eq(users::failed_logins + 1))
        .returning(users::failed_logins)
        .get_result(conn)?)
}

/// Refuse logins of `user_id` until `until` (the growing per-account delay).
pub fn delay_logins(conn: &mut DbConn, user_id: &str, until: NaiveDateTime) -> ApiResult<()> {
    diesel::update(users::table.filter(users::id.eq(user_id)))
        .set(users::locked_until.eq(Some(until)))
        .execute(conn)?;
    Ok(())
}

/// Refuse every token issued to `user_id` so far: raise the session epoch
/// and end every open server-side session (with `reason`). Returns the new
/// epoch.
pub fn end_sessions(conn: &mut DbConn, user_id: &str, reason: &str) -> ApiResult<i32> {
    session::end_all_of_user(conn, user_id, reason, now())?;
    Ok(diesel::update(users::table.filter(users::id.eq(user_id)))
        .set(users::session_epoch.eq(users::session_epoch + 1))
        .returning(users::session_epoch)
        .get_result(conn)?)
}

/// Record a successful login.
pub fn record_success(conn: &mut DbConn, user_id: &str) -> ApiResult<()> {
    let t = now();
    diesel::update(users::table.filter(users::id.eq(user_id)))
        .set((
            users::failed_logins.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
            users::last_login_at.eq(Some(t)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Changes an admin may make to a user.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    /// New role.
    pub role: Option<String>,
    /// New e-mail.
    pub email: Option<String>,
    /// New display name.
    pub full_name: Option<String>,
    /// Activate or deactivate.
    pub active: Option<bool>,
    /// Clear a lock.
    pub locked_until: Option<Option<NaiveDateTime>>,
    /// Reset the failure count (with an unlock).
    pub failed_logins: Option<i32>,
    /// Always set.
    pub updated_at: Option<NaiveDateTime>,
}

/// Apply changes to a user in a tenant.
pub fn update(
    conn: &mut DbConn,
    tenant_id: &str,
    id: &str,
    changes: &UserChanges,
) -> ApiResult<User> {
    let n = diesel::update(
        users::table
            .filter(users::id.eq(id))
            .filter(users::tenant_id.eq(tenant_id)),
    )
    .set(changes)
    .execute(conn)?;
    if n == 0 {
        return Err(diesel::result::Error::NotFound.into());
    }
    get_in_tenant(conn, tenant_id, id)
}

/// Revoke a token id until its expiry; forget expired revocations.
pub fn revoke(conn: &mut DbConn, jti: &str, expires_at: NaiveDateTime) -> ApiResult<()> {
    diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.lt(now())))
        .execute(conn)?;
    let exists: i64 = revoked_tokens::table
        .filter(revoked_tokens::jti.eq(jti))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        diesel::insert_into(revoked_tokens::table)
            .values((
                revoked_tokens::jti.eq(jti),
                revoked_tokens::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Whether a token id was revoked.
pub fn is_revoked(conn: &mut DbConn, jti: &str) -> ApiResult<bool> {
    let n: i64 = revoked_tokens::table
        .filter(revoked_tokens::jti.eq(jti))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Make the user change their password at next login (after an admin reset).
pub fn require_password_change(conn: &mut DbConn, user_id: &str) -> ApiResult<()> {
    diesel::update(users::table.filter(users::id.eq(user_id)))
        .set(users::must_change_password.eq(true))
        .execute(conn)?;
    Ok(())
}

/// Set a new password hash, clear `must_change_password` and end every
/// session issued before (`reason`: `password_change` or `password_reset`).
/// Returns the new session epoch.
pub fn set_password(conn: &mut DbConn, user_id: &str, hash: &str, reason: &str) -> ApiResult<i32> {
    diesel::update(users::table.filter(users::id.eq(user_id)))
        .set((
            users::password_hash.eq(hash),
            users::must_change_password.eq(false),
            users::updated_at.eq(now()),
        ))
        .execute(conn)?;
    end_sessions(conn, user_id, reason)
}
