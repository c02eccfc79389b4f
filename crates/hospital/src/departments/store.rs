//! Queries on `departments`, always within one tenant.

use chrono::NaiveDateTime;
use common::db::{now, DbConn};
use common::response::Page;
use common::ApiResult;
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::departments;

/// A department.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
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
    /// One of the clinical modules of DESIGN section 6.
    pub clinical_module: bool,
    /// Whether it is in use.
    pub active: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Changed.
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

/// Seed the usual set for `tenant` if it has no department yet. Returns how many were added.
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

/// A page of a tenant's departments, by name; inactive ones only if asked.
pub fn list(
    conn: &mut DbConn,
    tenant: &str,
    include_inactive: bool,
    page: &Page,
) -> ApiResult<(Vec<Department>, i64)> {
    let filtered = || {
        let mut q = departments::table
            .filter(departments::tenant_id.eq(tenant.to_string()))
            .into_boxed();
        if !include_inactive {
            q = q.filter(departments::active.eq(true));
        }
        q
    };
    let total = filtered().count().get_result(conn)?;
    let rows = filtered()
        .order(departments::name.asc())
        .limit(page.page_size)
        .offset(page.offset())
        .select(Department::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Rename and/or (de)activate.
pub fn update(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    name: Option<&str>,
    active: Option<bool>,
) -> ApiResult<Department> {
    let target = departments::table
        .filter(departments::tenant_id.eq(tenant))
        .filter(departments::id.eq(id));
    if let Some(n) = name {
        diesel::update(target)
            .set(departments::name.eq(n))
            .execute(conn)?;
    }
    if let Some(a) = active {
        diesel::update(target)
            .set(departments::active.eq(a))
            .execute(conn)?;
    }
    diesel::update(target)
        .set(departments::updated_at.eq(now()))
        .execute(conn)?;
    get(conn, tenant, id)
}
