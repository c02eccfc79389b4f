//! Queries on `rbac_roles` (roles stored through the roles API) and
//! `rbac_versions` (one change counter per tenant). Every query is scoped to
//! a tenant (`""` on servers without tenants).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::{now, DbConn};
use crate::error::ApiResult;
use crate::schema::{rbac_roles, rbac_versions, users};

/// A stored role: a custom one, or the override of a built-in one.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = rbac_roles)]
pub struct StoredRole {
    /// Tenant (`""` when none).
    pub tenant_id: String,
    /// Role name.
    pub name: String,
    /// Sorted, space-separated permission names.
    pub permissions: String,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

impl StoredRole {
    /// The permission names.
    pub fn permission_names(&self) -> Vec<&str> {
        self.permissions.split_whitespace().collect()
    }
}

/// The tenant's change counter (0 before its first change).
pub fn version(conn: &mut DbConn, tenant: &str) -> ApiResult<i64> {
    Ok(rbac_versions::table
        .filter(rbac_versions::tenant_id.eq(tenant))
        .select(rbac_versions::version)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// Raise the tenant's change counter; returns the new value.
pub fn bump_version(conn: &mut DbConn, tenant: &str) -> ApiResult<i64> {
    let row = (
        rbac_versions::tenant_id.eq(tenant),
        rbac_versions::version.eq(1i64),
    );
    crate::on_backend!(conn, |c| diesel::insert_into(rbac_versions::table)
        .values(row)
        .on_conflict(rbac_versions::tenant_id)
        .do_update()
        .set(rbac_versions::version.eq(rbac_versions::version + 1i64))
        .execute(c))?;
    version(conn, tenant)
}

/// Every stored role of the tenant, by name.
pub fn list(conn: &mut DbConn, tenant: &str) -> ApiResult<Vec<StoredRole>> {
    Ok(rbac_roles::table
        .filter(rbac_roles::tenant_id.eq(tenant))
        .order(rbac_roles::name.asc())
        .select(StoredRole::as_select())
        .load(conn)?)
}

/// One stored role of the tenant.
pub fn get(conn: &mut DbConn, tenant: &str, name: &str) -> ApiResult<Option<StoredRole>> {
    Ok(rbac_roles::table
        .filter(rbac_roles::tenant_id.eq(tenant))
        .filter(rbac_roles::name.eq(name))
        .select(StoredRole::as_select())
        .first(conn)
        .optional()?)
}

/// Store `permissions` as the tenant's role `name` (insert or replace).
pub fn put(conn: &mut DbConn, tenant: &str, name: &str, permissions: &[String]) -> ApiResult<()> {
    let mut sorted = permissions.to_vec();
    sorted.sort();
    sorted.dedup();
    let joined = sorted.join(" ");
    let at = now();
    let changed = diesel::update(
        rbac_roles::table
            .filter(rbac_roles::tenant_id.eq(tenant))
            .filter(rbac_roles::name.eq(name)),
    )
    .set((
        rbac_roles::permissions.eq(&joined),
        rbac_roles::updated_at.eq(at),
    ))
    .execute(conn)?;
    if changed == 0 {
        diesel::insert_into(rbac_roles::table)
            .values((
                rbac_roles::tenant_id.eq(tenant),
                rbac_roles::name.eq(name),
                rbac_roles::permissions.eq(&joined),
                rbac_roles::created_at.eq(at),
                rbac_roles::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Remove the tenant's stored role `name` (a custom role, or a built-in
/// one's override); whether a row went.
pub fn delete(conn: &mut DbConn, tenant: &str, name: &str) -> ApiResult<bool> {
    let n = diesel::delete(
        rbac_roles::table
            .filter(rbac_roles::tenant_id.eq(tenant))
            .filter(rbac_roles::name.eq(name)),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// How many of the tenant's users (active or not) hold each role.
pub fn holders(conn: &mut DbConn, tenant: &str) -> ApiResult<Vec<(String, i64)>> {
    Ok(users::table
        .filter(users::tenant_id.eq(tenant))
        .group_by(users::role)
        .select((users::role, diesel::dsl::count_star()))
        .load(conn)?)
}

/// How many of the tenant's users (active or not) hold `role`.
pub fn holders_of(conn: &mut DbConn, tenant: &str, role: &str) -> ApiResult<i64> {
    Ok(users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::role.eq(role))
        .count()
        .get_result(conn)?)
}

/// How many active users of the tenant hold `role`, leaving out `except`.
pub fn active_holders_except(
    conn: &mut DbConn,
    tenant: &str,
    role: &str,
    except: &str,
) -> ApiResult<i64> {
    Ok(users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::role.eq(role))
        .filter(users::active.eq(true))
        .filter(users::id.ne(except))
        .count()
        .get_result(conn)?)
}
