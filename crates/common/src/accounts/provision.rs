//! Creating users outside the API: the bootstrap admin, demo users and the
//! CLI. Each creation is audited in the same transaction.

use serde_json::json;

use super::store::{self, NewUser};
use crate::audit::{self, Event, Origin};
use crate::auth::password;
use crate::db::{write_tx, Db};
use crate::error::{ApiError, ApiResult};
use crate::rbac::Policy;

/// A user to create from outside the API.
#[derive(Debug, Clone)]
pub struct Provision<'a> {
    /// Tenant (`""` when none).
    pub tenant_id: &'a str,
    /// Login name.
    pub username: &'a str,
    /// Password (checked against the policy unless `skip_policy`).
    pub password: &'a str,
    /// Role (must exist in the policy).
    pub role: &'a str,
    /// Demo users keep the original design's weak passwords.
    pub skip_policy: bool,
    /// Who is creating it (`bootstrap`, `demo-seed`, `cli`).
    pub actor: &'a str,
}

/// Create the user unless the username is taken in that tenant.
/// Returns the new id, or None if it existed already. Blocking.
pub fn ensure_user(
    db: &Db,
    policy: &Policy,
    cost: u32,
    p: &Provision<'_>,
) -> ApiResult<Option<String>> {
    if !policy.has_role(p.role) {
        return Err(ApiError::field(
            "role",
            format!("unknown role `{}`", p.role),
        ));
    }
    super::http::validate_username(p.username)?;
    if !p.skip_policy {
        password::check_policy(p.password, p.username)?;
    }
    let mut conn = db.conn()?;
    if store::username_exists(&mut conn, p.tenant_id, p.username)? {
        return Ok(None);
    }
    let user = NewUser::new(
        p.tenant_id,
        p.username,
        password::hash(p.password, cost)?,
        p.role,
    );
    let id = user.id.clone();
    write_tx(&mut conn, |conn| {
        if store::username_exists(conn, p.tenant_id, p.username)? {
            return Ok(None);
        }
        store::insert(conn, &user)?;
        let event = Event::new(p.actor, "system", "user.create", &format!("user:{id}"))
            .tenant(Some(p.tenant_id))
            .details(json!({ "username": p.username, "role": p.role }));
        audit::append(conn, &event, &Origin::default())?;
        Ok(Some(id.clone()))
    })
}
