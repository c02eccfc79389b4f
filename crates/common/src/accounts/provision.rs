//! Creating users outside the API: the bootstrap admin, demo users and the
//! CLI. Each creation is audited in the same transaction.

use super::create::{self, Creator, NewAccount};
use super::store;
use crate::audit::Origin;
use crate::db::{write_tx, Db};
use crate::error::{ApiError, ApiResult};
use crate::rbac::Policy;

/// Create `account` unless its username is taken in that tenant, audited
/// as done by `actor` (`bootstrap`, `demo-seed`, `cli`). Returns the new
/// id, or None if it existed already. Blocking.
pub fn ensure_user(
    db: &Db,
    policy: &Policy,
    cost: u32,
    account: &NewAccount<'_>,
    actor: &str,
) -> ApiResult<Option<String>> {
    let mut conn = db.conn()?;
    // Checked first so that a restart does not pay a bcrypt hash per user.
    if store::username_exists(&mut conn, account.tenant_id, account.username)? {
        return Ok(None);
    }
    let user = create::prepare(policy, cost, account)?;
    let by = Creator {
        actor,
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
