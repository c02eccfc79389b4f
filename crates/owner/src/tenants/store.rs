//! Queries on `tenants`, `tenant_first_admins`, `tenant_health` and
//! `tenant_staff`.

use chrono::NaiveDateTime;
use common::db::Page;
use common::db::{now, DbConn};
use common::ApiResult;
use diesel::prelude::*;
use serde::Serialize;

use super::health::{self, HealthRow, Standing};
use crate::schema::{tenant_first_admins, tenant_health, tenant_staff, tenants};

/// A tenant as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tenants)]
pub struct TenantRow {
    id: String,
    name: String,
    slug: String,
    status: String,
    demo: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    db_name: Option<String>,
    region: String,
    plan_id: Option<String>,
}

/// A tenant, with the health its last heartbeat gives.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
#[schema(as = OwnerTenant)]
pub struct Tenant {
    /// UUID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Short unique name: the hospital's subdomain.
    pub slug: String,
    /// `active`, `suspended`, `archived`.
    pub status: String,
    /// The demo tenant.
    pub demo: bool,
    /// The hospital's database name (unique; none for the demo tenant).
    pub db_name: Option<String>,
    /// Where it runs.
    pub region: String,
    /// Its plan, if assigned.
    pub plan_id: Option<String>,
    /// `healthy`, `degraded` or `unreachable` (from the heartbeats).
    pub health: String,
    /// Last heartbeat received (UTC).
    pub last_heartbeat_at: Option<NaiveDateTime>,
    /// Why the patient files make it `degraded`, if they do (store
    /// unreachable, or usage near the plan's quota).
    pub files_warning: Option<String>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Changed.
    pub updated_at: NaiveDateTime,
}

impl TenantRow {
    /// Its status.
    pub fn status(&self) -> &str {
        &self.status
    }

    /// Its plan.
    pub fn plan_id(&self) -> Option<&str> {
        self.plan_id.as_deref()
    }
}

impl Tenant {
    fn of(r: TenantRow, h: Option<&HealthRow>, standing: &Standing) -> Self {
        Self {
            health: health::status(h, standing, now()).to_string(),
            last_heartbeat_at: h.map(|h| h.received_at),
            files_warning: h.and_then(|h| h.files(standing)).and_then(|f| f.warning),
            id: r.id,
            name: r.name,
            slug: r.slug,
            status: r.status,
            demo: r.demo,
            db_name: r.db_name,
            region: r.region,
            plan_id: r.plan_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
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
    /// Database name.
    pub db_name: Option<String>,
    /// Region.
    pub region: String,
    /// Plan.
    pub plan_id: Option<String>,
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
            db_name: None,
            region: "local".into(),
            plan_id: None,
        }
    }
}

/// The first administrator chosen at registration (password hash only).
#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = tenant_first_admins)]
pub struct FirstAdmin {
    /// Tenant.
    pub tenant_id: String,
    /// E-mail (the login name).
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// bcrypt hash.
    pub password_hash: String,
    /// When the hospital fetched it.
    pub provisioned_at: Option<NaiveDateTime>,
    /// The certificate (SHA-256) that fetched it.
    pub provisioned_by: Option<String>,
}

/// Insert.
pub fn insert(conn: &mut DbConn, t: &NewTenant) -> ApiResult<()> {
    diesel::insert_into(tenants::table)
        .values(t)
        .execute(conn)?;
    Ok(())
}

/// Insert the first admin.
pub fn insert_first_admin(conn: &mut DbConn, a: &FirstAdmin) -> ApiResult<()> {
    diesel::insert_into(tenant_first_admins::table)
        .values(a)
        .execute(conn)?;
    Ok(())
}

/// The stored row, by id.
pub fn find_row(conn: &mut DbConn, id: &str) -> ApiResult<Option<TenantRow>> {
    Ok(tenants::table
        .filter(tenants::id.eq(id))
        .select(TenantRow::as_select())
        .first(conn)
        .optional()?)
}

/// By id, with its health.
pub fn find(conn: &mut DbConn, id: &str, standing: &Standing) -> ApiResult<Option<Tenant>> {
    let Some(row) = find_row(conn, id)? else {
        return Ok(None);
    };
    let h = health::find(conn, id)?;
    Ok(Some(Tenant::of(row, h.as_ref(), standing)))
}

/// Whether a tenant has this subdomain or this database name.
pub fn taken(conn: &mut DbConn, slug: &str, db_name: &str) -> ApiResult<Option<&'static str>> {
    let slug_taken = tenants::table
        .filter(tenants::slug.eq(slug))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    if slug_taken {
        return Ok(Some("subdomain"));
    }
    let db_taken = tenants::table
        .filter(tenants::db_name.eq(db_name))
        .count()
        .get_result::<i64>(conn)?
        > 0;
    Ok(db_taken.then_some("db_name"))
}

/// List filters.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Status.
    pub status: Option<String>,
    /// Plan id.
    pub plan_id: Option<String>,
    /// Health status.
    pub health: Option<String>,
}

/// A page, by name. Health is computed from each tenant's last heartbeat,
/// so the filter on it runs here over the tenants matching the others
/// (an owner has hospitals by the hundred, not by the million).
pub fn list(
    conn: &mut DbConn,
    filter: &Filter,
    page: &Page,
    standing: &Standing,
) -> ApiResult<(Vec<Tenant>, i64)> {
    let mut q = tenants::table
        .left_join(tenant_health::table)
        .order((tenants::name.asc(), tenants::id.asc()))
        .select((TenantRow::as_select(), Option::<HealthRow>::as_select()))
        .into_boxed();
    if let Some(s) = &filter.status {
        q = q.filter(tenants::status.eq(s.clone()));
    }
    if let Some(p) = &filter.plan_id {
        q = q.filter(tenants::plan_id.eq(p.clone()));
    }
    let rows: Vec<(TenantRow, Option<HealthRow>)> = q.load(conn)?;
    let all: Vec<Tenant> = rows
        .into_iter()
        .map(|(t, h)| Tenant::of(t, h.as_ref(), standing))
        .filter(|t| filter.health.as_deref().is_none_or(|h| t.health == h))
        .collect();
    let total = all.len() as i64;
    let start = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let size = usize::try_from(page.page_size).unwrap_or(0);
    Ok((all.into_iter().skip(start).take(size).collect(), total))
}

/// Changes to a tenant.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = tenants)]
pub struct Changes {
    /// New name.
    pub name: Option<String>,
    /// New status.
    pub status: Option<String>,
    /// New plan (`Some(None)` unassigns).
    pub plan_id: Option<Option<String>>,
    /// Changed.
    pub updated_at: Option<NaiveDateTime>,
}

/// Apply changes.
pub fn update(conn: &mut DbConn, id: &str, changes: &Changes) -> ApiResult<usize> {
    Ok(diesel::update(tenants::table.filter(tenants::id.eq(id)))
        .set(changes)
        .execute(conn)?)
}

/// One entry of a tenant's staff directory.
#[derive(utoipa::ToSchema, Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = tenant_staff)]
pub struct StaffMember {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: String,
    /// May log in.
    pub active: bool,
    /// Last login (UTC).
    pub last_login_at: Option<NaiveDateTime>,
    /// When the hospital last reported it.
    pub reported_at: NaiveDateTime,
}

/// A page of a tenant's staff directory, by username.
pub fn staff(conn: &mut DbConn, tenant: &str, page: &Page) -> ApiResult<(Vec<StaffMember>, i64)> {
    let total = tenant_staff::table
        .filter(tenant_staff::tenant_id.eq(tenant))
        .count()
        .get_result(conn)?;
    let rows = tenant_staff::table
        .filter(tenant_staff::tenant_id.eq(tenant))
        .order(tenant_staff::username.asc())
        .limit(page.page_size)
        .offset(page.offset())
        .select(StaffMember::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Replace a tenant's directory with the reported one.
pub fn replace_staff(
    conn: &mut DbConn,
    tenant: &str,
    staff: &[contracts::StaffEntry],
) -> ApiResult<()> {
    diesel::delete(tenant_staff::table.filter(tenant_staff::tenant_id.eq(tenant))).execute(conn)?;
    let at = now();
    // One row at a time: the multi-backend connection has no batch insert.
    for s in staff {
        diesel::insert_into(tenant_staff::table)
            .values((
                tenant_staff::tenant_id.eq(tenant),
                tenant_staff::username.eq(&s.username),
                tenant_staff::role.eq(&s.role),
                tenant_staff::active.eq(s.active),
                tenant_staff::last_login_at.eq(s.last_login_at),
                tenant_staff::reported_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The first admin of `tenant`, if one was chosen.
pub fn first_admin(conn: &mut DbConn, tenant: &str) -> ApiResult<Option<FirstAdmin>> {
    Ok(tenant_first_admins::table
        .filter(tenant_first_admins::tenant_id.eq(tenant))
        .select(FirstAdmin::as_select())
        .first(conn)
        .optional()?)
}

/// Bind the first admin's provisioning to the certificate `by`.
pub fn mark_provisioned(conn: &mut DbConn, tenant: &str, by: &str) -> ApiResult<()> {
    diesel::update(
        tenant_first_admins::table
            .filter(tenant_first_admins::tenant_id.eq(tenant))
            .filter(tenant_first_admins::provisioned_by.is_null()),
    )
    .set((
        tenant_first_admins::provisioned_at.eq(Some(now())),
        tenant_first_admins::provisioned_by.eq(Some(by)),
    ))
    .execute(conn)?;
    Ok(())
}

impl TenantRow {
    /// The hospital's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}
