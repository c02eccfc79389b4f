//! Queries on `tenants`.

use chrono::NaiveDateTime;
use common::db::Page;
use common::db::{now, DbConn};
use common::ApiResult;
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::tenants;

/// A tenant.
#[derive(utoipa::ToSchema, Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    /// UUID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Short unique name.
    pub slug: String,
    /// `active`, `suspended`.
    pub status: String,
    /// The demo tenant.
    pub demo: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Changed.
    pub updated_at: NaiveDateTime,
}

/// A tenant to insert.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tenants)]
pub struct NewTenant {
    /// UUID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Short unique name.
    pub slug: String,
    /// Status.
    pub status: String,
    /// Demo flag.
    pub demo: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Changed.
    pub updated_at: NaiveDateTime,
}

impl NewTenant {
    /// An active tenant.
    pub fn new(id: &str, name: &str, slug: &str, demo: bool) -> Self {
        let t = now();
        Self {
            id: id.into(),
            name: name.into(),
            slug: slug.into(),
            status: "active".into(),
            demo,
            created_at: t,
            updated_at: t,
        }
    }
}

/// Insert.
pub fn insert(conn: &mut DbConn, t: &NewTenant) -> ApiResult<()> {
    diesel::insert_into(tenants::table)
        .values(t)
        .execute(conn)?;
    Ok(())
}

/// By id.
pub fn find(conn: &mut DbConn, id: &str) -> ApiResult<Option<Tenant>> {
    Ok(tenants::table
        .filter(tenants::id.eq(id))
        .select(Tenant::as_select())
        .first(conn)
        .optional()?)
}

/// A page, by name.
pub fn list(conn: &mut DbConn, page: &Page) -> ApiResult<(Vec<Tenant>, i64)> {
    let total = tenants::table.count().get_result(conn)?;
    let rows = tenants::table
        .order(tenants::name.asc())
        .limit(page.page_size)
        .offset(page.offset())
        .select(Tenant::as_select())
        .load(conn)?;
    Ok((rows, total))
}
