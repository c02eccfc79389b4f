//! Creating users outside the API: the bootstrap admin, demo users and the
//! CLI. Each creation is audited in the same transaction.

use super::create::{self, Creator, NewAccount};
use super::store;
use crate::audit::Origin;
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
    let mut conn = db.conn()?;
    // Checked first so that a restart does not pay a bcrypt hash per user.
    if store::username_exists(&mut conn, p.tenant_id, p.username)? {
        return Ok(None);
    }
    let account = NewAccount {
        tenant_id: p.tenant_id,
        username: p.username,
        password: p.password,
        role: p.role,
        email: None,
        full_name: None,
        check_policy: !p.skip_policy,
    };
    let user = create::prepare(policy, cost, &account)?;
    let by = Creator {
        actor: p.actor,
        role: "system",
    };
    let created = write_tx(&mut conn, |conn| {
        create::insert(conn, &user, by, &Origin::default())
    });
    match created {
        Ok(()) => Ok(Some(user.id.clone())),
        // Another start-up created it meanwhile.
        Err(ApiError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
