//! Creating a user, the one way: validate the fields, check the password
//! policy, hash, refuse a taken username, insert and audit. The users API,
//! start-up provisioning and portal enrolment all come through here.
//!
//! Two steps because they run in different places: [`prepare`] is the slow
//! part (bcrypt) and runs outside any transaction; [`insert`] runs inside
//! the caller's transaction so that whatever else the caller writes (a
//! patient's portal link) commits with the user and its audit row.

use serde_json::json;

use super::store::{self, NewUser};
use super::validate::{validate_email, validate_full_name, validate_username};
use crate::audit::{self, Event, Origin};
use crate::auth::password;
use crate::db::DbConn;
use crate::error::{ApiError, ApiResult};
use crate::rbac::Policy;

/// The fields of a user to create.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    /// Tenant (`""` when none).
    pub tenant_id: &'a str,
    /// Login name.
    pub username: &'a str,
    /// Password in clear (hashed by [`prepare`], never stored).
    pub password: &'a str,
    /// Role (must exist in the policy).
    pub role: &'a str,
    /// E-mail.
    pub email: Option<&'a str>,
    /// Display name.
    pub full_name: Option<&'a str>,
    /// Check the password policy (only demo users, with the original
    /// design's weak passwords, skip it).
    pub check_policy: bool,
}

impl<'a> NewAccount<'a> {
    /// An account with no e-mail or display name whose password must meet
    /// the policy.
    pub fn new(tenant_id: &'a str, username: &'a str, password: &'a str, role: &'a str) -> Self {
        Self {
            tenant_id,
            username,
            password,
            role,
            email: None,
            full_name: None,
            check_policy: true,
        }
    }
}

/// Who creates the user, for the audit row.
#[derive(Debug, Clone, Copy)]
pub struct Creator<'a> {
    /// Actor id (a user id, or `bootstrap`, `demo-seed`, `cli`).
    pub actor: &'a str,
    /// Actor role (`system` outside the API).
    pub role: &'a str,
}

/// Validate every field and hash the password. Blocking (bcrypt): call it
/// from `web::block` in a handler.
pub fn prepare(policy: &Policy, cost: u32, account: &NewAccount<'_>) -> ApiResult<NewUser> {
    validate_username(account.username)?;
    if !policy.has_role(account.role) {
        let roles: Vec<&str> = policy.roles().collect();
        return Err(ApiError::Validation {
            message: format!("role: unknown role `{}`", account.role),
            details: Some(json!({ "field": "role", "allowed": roles })),
        });
    }
    if let Some(e) = account.email {
        validate_email(e)?;
    }
    if let Some(n) = account.full_name {
        validate_full_name(n)?;
    }
    if account.check_policy {
        password::check_policy(account.password, account.username)?;
    }
    let hash = password::hash(account.password, cost)?;
    let mut user = NewUser::new(account.tenant_id, account.username, hash, account.role);
    user.email = account.email.map(str::to_string);
    user.full_name = account.full_name.map(str::to_string);
    Ok(user)
}

/// Insert a prepared user and its `user.create` audit row, in the caller's
/// transaction. A username or e-mail that already names someone in the
/// tenant (as either) is a 409, so a login name never matches two users.
pub fn insert(
    conn: &mut DbConn,
    user: &NewUser,
    by: Creator<'_>,
    origin: &Origin,
) -> ApiResult<()> {
    if store::login_name_taken(conn, &user.tenant_id, &user.username, None)? {
        return Err(ApiError::Conflict("that username is taken".into()));
    }
    if let Some(e) = &user.email {
        if e != &user.username && store::login_name_taken(conn, &user.tenant_id, e, None)? {
            return Err(ApiError::Conflict(
                "that e-mail is taken (as an e-mail or a username)".into(),
            ));
        }
    }
    store::insert(conn, user)?;
    let event = Event::new(
        by.actor,
        by.role,
        "user.create",
        &format!("user:{}", user.id),
    )
    .tenant(Some(user.tenant_id.as_str()).filter(|t| !t.is_empty()))
    .details(json!({ "username": user.username, "role": user.role }));
    audit::append(conn, &event, origin)?;
    Ok(())
}
