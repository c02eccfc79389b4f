//! Queries on `departments`, always within one tenant.

use chrono::NaiveDateTime;
use common::db::stamp::{self, Stamp};
use common::db::Page;
use common::db::{now, DbConn};
use common::schema::users;
use common::ApiResult;
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::departments;

/// A department.
#[derive(utoipa::ToSchema, Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = departments)]
pub struct Department {
    /// UUID.
    pub id: String,
    /// Tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// Short unique code (`RADIOLOGY`).
    pub code: String,
    /// Display name.
    pub name: String,
    /// One of the clinical modules (radiology, medicine, …; see docs/api.md).
    pub clinical_module: bool,
    /// Whether it is in use.
    pub active: bool,
    /// Created.
    #[diesel(deserialize_as = Stamp)]
    #[serde(serialize_with = "stamp::json")]
    pub created_at: NaiveDateTime,
    /// Changed.
    #[diesel(deserialize_as = Stamp)]
    #[serde(serialize_with = "stamp::json")]
    pub updated_at: NaiveDateTime,
}

impl Department {
    /// A new active department.
    pub fn new(tenant_id: &str, code: &str, name: &str, clinical_module: bool) -> Self {
        let t = now();
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant_id.into(),
            code: code.into(),
            name: name.into(),
            clinical_module,
            active: true,
            created_at: t,
            updated_at: t,
        }
    }
}

/// Seed the usual set for `tenant` if it has no department yet (inside a
/// write transaction; idempotent). Returns how many were added.
pub fn seed_if_empty(conn: &mut DbConn, tenant: &str) -> ApiResult<usize> {
    let n: i64 = departments::table
        .filter(departments::tenant_id.eq(tenant))
        .count()
        .get_result(conn)?;
    if n > 0 {
        return Ok(0);
    }
    for (code, name, module) in super::SEEDED {
        diesel::insert_into(departments::table)
            .values(&Department::new(tenant, code, name, *module))
            .execute(conn)?;
    }
    Ok(super::SEEDED.len())
}

/// Every tenant that has a user: the tenants a hosted server serves (no
/// tenant registry exists on the hospital; tenants come with their users).
pub fn tenants_with_users(conn: &mut DbConn) -> ApiResult<Vec<String>> {
    Ok(users::table
        .filter(users::tenant_id.ne(""))
        .select(users::tenant_id)
        .distinct()
        .order(users::tenant_id.asc())
        .load(conn)?)
}

/// Insert.
pub fn insert(conn: &mut DbConn, d: &Department) -> ApiResult<()> {
    diesel::insert_into(departments::table)
        .values(d)
        .execute(conn)?;
    Ok(())
}

/// By id in a tenant.
pub fn get(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<Department> {
    Ok(departments::table
        .filter(departments::tenant_id.eq(tenant))
        .filter(departments::id.eq(id))
        .select(Department::as_select())
        .first(conn)?)
}

/// Whether a code is taken in a tenant.
pub fn code_exists(conn: &mut DbConn, tenant: &str, code: &str) -> ApiResult<bool> {
    let n: i64 = departments::table
        .filter(departments::tenant_id.eq(tenant))
        .filter(departments::code.eq(code))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// A page of a tenant's departments, by name, and their total. The count
/// and the page run one filter, on the backend's own connection (a hot
/// read; see `common::accounts::store::find_for_request`).
pub fn list(
    conn: &mut DbConn,
    tenant: &str,
    include_inactive: bool,
    page: &Page,
) -> ApiResult<(Vec<Department>, i64)> {
    // A tenant's departments, inactive ones only if asked: two static
    // queries (each prepared once per connection and found by type), not
    // one boxed query whose SQL diesel would write again at every call.
    common::on_backend!(conn, |c| {
        macro_rules! count_and_page {
            ($q:expr) => {{
                let total = $q.count().get_result(c)?;
                let rows = $q
                    .order((departments::name.asc(), departments::id.asc()))
                    .limit(page.page_size)
                    .offset(page.offset())
                    .select(Department::as_select())
                    .load(c)?;
                Ok((rows, total))
            }};
        }
        let mine = departments::tenant_id.eq(tenant);
        if include_inactive {
            count_and_page!(departments::table.filter(mine))
        } else {
            count_and_page!(departments::table.filter(mine.and(departments::active.eq(true))))
        }
    })
}

/// A change to a department: absent fields stay.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = departments)]
pub struct DepartmentChanges {
    /// New display name.
    pub name: Option<String>,
    /// In use or not.
    pub active: Option<bool>,
    /// When (always set).
    pub updated_at: NaiveDateTime,
}

/// Apply `changes` in one UPDATE; false if no such department in the tenant.
pub fn update(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    changes: &DepartmentChanges,
) -> ApiResult<bool> {
    let n = diesel::update(
        departments::table
            .filter(departments::tenant_id.eq(tenant))
            .filter(departments::id.eq(id)),
    )
    .set(changes)
    .execute(conn)?;
    Ok(n > 0)
}
