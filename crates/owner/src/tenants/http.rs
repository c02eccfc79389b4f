//! `GET|POST …/tenants`, `GET|PATCH …/tenants/{id}`,
//! `GET …/tenants/{id}/database-health` (with the online copy's state),
//! `GET …/tenants/{id}/users`.

use actix_web::{web, HttpResponse};
use common::audit::{self, Event, Origin};
use common::auth::{password, AuthContext, AuthUser};
use common::db::{now, Db};
use common::response::{self, Page, PageQuery};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::health::{self, DatabaseHealth, Standing};
use super::store::{self, Changes, Filter, FirstAdmin, NewTenant, StaffMember, Tenant};
use crate::plans::http::{check_name, nullable};
use crate::OwnerPermission as P;

/// Mount the tenant routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use common::http::resource;
    cfg.service(
        resource("/tenants")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/tenants/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update)),
    )
    .service(resource("/tenants/{id}/database-health").route(web::get().to(database_health)))
    .service(
        resource("/tenants/{id}/users")
            .route(web::get().to(users))
            .route(web::post().to(super::commands::create_user)),
    )
    .configure(super::commands::routes)
    .configure(super::backups::http::routes);
}

/// Statuses a tenant can have.
pub const STATUSES: [&str; 3] = ["active", "suspended", "archived"];
/// Health statuses.
pub const HEALTH: [&str; 3] = ["healthy", "degraded", "unreachable"];

#[derive(utoipa::IntoParams, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `active`, `suspended`, `archived`.
    #[param(pattern = "^(active|suspended|archived)$")]
    status: Option<String>,
    /// A plan id.
    #[param(max_length = 64)]
    plan: Option<String>,
    /// `healthy`, `degraded`, `unreachable`.
    #[param(pattern = "^(healthy|degraded|unreachable)$")]
    health: Option<String>,
    #[param(minimum = 1, maximum = 1_000_000)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

/// Check the list filters.
pub fn filter(
    status: Option<String>,
    plan: Option<String>,
    health: Option<String>,
) -> ApiResult<Filter> {
    if status.as_deref().is_some_and(|s| !STATUSES.contains(&s)) {
        return Err(ApiError::field(
            "status",
            "must be active, suspended or archived",
        ));
    }
    if health.as_deref().is_some_and(|h| !HEALTH.contains(&h)) {
        return Err(ApiError::field(
            "health",
            "must be healthy, degraded or unreachable",
        ));
    }
    if plan
        .as_deref()
        .is_some_and(|p| p.is_empty() || p.len() > 64)
    {
        return Err(ApiError::field("plan", "must be a plan id"));
    }
    Ok(Filter {
        status,
        plan_id: plan,
        health,
    })
}

#[utoipa::path(get, path = "/tenants", tag = "tenants", security(("bearer" = [])), summary = "The tenants (hospitals), with their health (tenants.read)",
    params(ListQuery), responses((status = 200, description = "A page of tenants", body = Vec<Tenant>)))]
async fn list(
    db: web::Data<Db>,
    standing: web::Data<Standing>,
    user: AuthUser,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    user.require(P::TenantsRead)?;
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let f = filter(q.status, q.plan, q.health)?;
    let s = standing.get_ref().clone();
    let (rows, total) = db.run(move |c| store::list(c, &f, &page, &s)).await?;
    Ok(response::page(rows, &page, total))
}

fn no_tenant() -> ApiError {
    ApiError::NotFound("no such tenant".into())
}

#[utoipa::path(get, path = "/tenants/{id}", tag = "tenants", security(("bearer" = [])), summary = "One tenant (tenants.read)",
    responses((status = 200, description = "The tenant", body = Tenant)))]
async fn get(
    db: web::Data<Db>,
    standing: web::Data<Standing>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    user.require(P::TenantsRead)?;
    let id = id.into_inner();
    let s = standing.get_ref().clone();
    let t = db
        .run(move |c| store::find(c, &id, &s))
        .await?
        .ok_or_else(no_tenant)?;
    Ok(response::ok(t))
}

/// The hospital's first administrator.
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FirstAdminInput {
    /// Their e-mail: the login name on the hospital.
    #[schema(max_length = 254, pattern = r"^[^@\s]+@[^.\s][^\s]*\.[^\s]*$")]
    email: String,
    /// Checked against the password policy; only its hash is kept.
    #[schema(min_length = 12, max_length = 72)]
    password: String,
    #[serde(alias = "firstName")]
    #[schema(min_length = 1, max_length = 100)]
    first_name: String,
    #[serde(alias = "lastName")]
    #[schema(min_length = 1, max_length = 100)]
    last_name: String,
}

/// A hospital to register. The original's camelCase names
/// (`companyName`, `tenantDbName`, `firstAdmin`) are accepted as well.
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantCreate {
    /// The hospital's name.
    #[serde(alias = "companyName")]
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// DNS label: 1 to 63 of a-z, 0-9, '-', not at either end.
    #[schema(
        min_length = 1,
        max_length = 63,
        pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
    )]
    subdomain: String,
    /// Its database name: a letter, then a-z, 0-9, '_' (at most 63).
    #[serde(alias = "tenantDbName")]
    #[schema(min_length = 1, max_length = 63, pattern = "^[a-z][a-z0-9_]*$")]
    db_name: String,
    /// Where it runs (default `local`).
    #[schema(min_length = 1, max_length = 32, pattern = "^[a-z0-9][a-z0-9-]*$")]
    region: Option<String>,
    /// A plan to assign.
    #[serde(alias = "planId")]
    plan_id: Option<String>,
    #[serde(alias = "firstAdmin")]
    first_admin: FirstAdminInput,
}

/// What `POST /tenants` answers: the tenant and what its hospital needs.
#[derive(utoipa::ToSchema, Serialize)]
pub(crate) struct Registered {
    tenant: Tenant,
    /// The hospital's settings: `tenancy.tenant_id`, its plane identity,
    /// and the certificate to issue for it.
    hospital: HospitalSetup,
}

#[derive(utoipa::ToSchema, Serialize)]
pub(crate) struct HospitalSetup {
    /// `tenancy.tenant_id` of the hospital's configuration.
    tenant_id: String,
    /// The URI SAN of its certificate.
    identity: String,
    /// Its database name.
    db_name: String,
    /// The command that issues its certificate.
    certificate_command: String,
}

fn check_label(field: &str, v: &str, max: usize, db: bool) -> ApiResult<()> {
    let b = v.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= max
        && if db {
            b[0].is_ascii_lowercase()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
        } else {
            b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        };
    if ok {
        return Ok(());
    }
    Err(ApiError::field(
        field,
        if db {
            "must be a letter then a-z, 0-9 or '_' (at most 63)"
        } else {
            "must be a-z, 0-9 or '-', not starting or ending with '-'"
        },
    ))
}

fn check_email(email: &str) -> ApiResult<()> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && !d.starts_with('.') && d.contains('.') && !d.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "first_admin.email",
            "must be an e-mail address",
        ))
    }
}

/// A hospital to register, as the API and `bulkhead register-tenant` take it.
pub struct Registration {
    /// The hospital's name.
    pub name: String,
    /// Its subdomain (a DNS label).
    pub subdomain: String,
    /// Its database name.
    pub db_name: String,
    /// Where it runs (default `local`).
    pub region: Option<String>,
    /// A plan to assign.
    pub plan_id: Option<String>,
    /// The first admin's e-mail (their login name).
    pub admin_email: String,
    /// The first admin's password (checked against the policy, then hashed).
    pub admin_password: String,
    /// The first admin's first name.
    pub admin_first_name: String,
    /// The first admin's last name.
    pub admin_last_name: String,
}

/// Check a registration and hash the first admin's password (bcrypt at
/// `cost`: call it off the async workers). The tenant gets a new id.
pub fn prepare(r: Registration, cost: u32) -> ApiResult<(NewTenant, FirstAdmin)> {
    let name = check_name("name", &r.name)?;
    check_label("subdomain", &r.subdomain, 63, false)?;
    check_label("db_name", &r.db_name, 63, true)?;
    let region = r.region.unwrap_or_else(|| "local".into());
    if region.len() > 32 || region.starts_with('-') {
        return Err(ApiError::field(
            "region",
            "must be 1 to 32 of a-z, 0-9, '-'",
        ));
    }
    check_label("region", &region, 32, false)?;
    check_email(&r.admin_email)?;
    let first = check_name("first_admin.first_name", &r.admin_first_name)?;
    let last = check_name("first_admin.last_name", &r.admin_last_name)?;
    password::check_policy(&r.admin_password, &r.admin_email)?;
    let hash = password::hash(&r.admin_password, cost)?;
    let id = uuid::Uuid::new_v4().to_string();
    let mut t = NewTenant::new(&id, &name, &r.subdomain, false);
    t.db_name = Some(r.db_name);
    t.region = region;
    t.plan_id = r.plan_id;
    let admin = FirstAdmin {
        tenant_id: id,
        email: r.admin_email.to_ascii_lowercase(),
        first_name: first,
        last_name: last,
        password_hash: hash,
        provisioned_at: None,
        provisioned_by: None,
    };
    Ok((t, admin))
}

/// Store a prepared registration in one transaction, with its audit row
/// (`actor`: id and role). 409 when the subdomain or database name is
/// taken, 400 for an unknown plan.
pub fn register(
    c: &mut common::db::DbConn,
    t: &NewTenant,
    admin: &FirstAdmin,
    actor: (&str, &str),
    origin: &Origin,
) -> ApiResult<()> {
    let db_name = t.db_name.as_deref().unwrap_or_default();
    if let Some(field) = store::taken(c, &t.slug, db_name)? {
        return Err(ApiError::Conflict(format!(
            "a tenant with this {field} exists"
        )));
    }
    if let Some(p) = &t.plan_id {
        if crate::plans::store::find(c, p)?.is_none() {
            return Err(ApiError::field("plan_id", "no such plan"));
        }
    }
    store::insert(c, t)?;
    store::insert_first_admin(c, admin)?;
    let event = Event::new(
        actor.0,
        actor.1,
        "tenant.create",
        &format!("tenant:{}", t.id),
    )
    .tenant(Some(&t.id))
    .details(json!({ "subdomain": t.slug, "db_name": t.db_name, "region": t.region }));
    audit::append(c, &event, origin)?;
    Ok(())
}

#[utoipa::path(post, path = "/tenants", tag = "tenants", security(("bearer" = [])), summary = "Register a hospital (tenants.manage)",
    description = "The first admin's password is checked against the password policy and only its bcrypt hash is kept. camelCase names of the original (`companyName`, `subdomain`, `tenantDbName`, `firstAdmin{email,password,firstName,lastName}`) are accepted.",
    responses((status = 201, description = "Registered", body = Registered),
        (status = 409, description = "The subdomain or the database name is taken")))]
async fn create(
    db: web::Data<Db>,
    auth: web::Data<AuthContext>,
    standing: web::Data<Standing>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<TenantCreate>,
) -> ApiResult<HttpResponse> {
    user.require(P::TenantsManage)?;
    let b = body.into_inner();
    let a = b.first_admin;
    let reg = Registration {
        name: b.name,
        subdomain: b.subdomain,
        db_name: b.db_name,
        region: b.region,
        plan_id: b.plan_id,
        admin_email: a.email,
        admin_password: a.password,
        admin_first_name: a.first_name,
        admin_last_name: a.last_name,
    };
    let cost = auth.bcrypt_cost;
    let (t, admin) = web::block(move || prepare(reg, cost)).await??;
    let s = standing.get_ref().clone();
    let db_name = t.db_name.clone().unwrap_or_default();
    let tenant = db
        .write(move |c| {
            register(c, &t, &admin, (&user.id, &user.role), &origin)?;
            store::find(c, &t.id, &s)?.ok_or_else(no_tenant)
        })
        .await?;
    let hospital = HospitalSetup {
        tenant_id: tenant.id.clone(),
        identity: format!("spiffe://bulkhead/hospital/{}", tenant.id),
        db_name,
        certificate_command: format!(
            "bulkhead certs issue --service hospital --tenant {}",
            tenant.id
        ),
    };
    Ok(response::created(Registered { tenant, hospital }))
}

/// Changes to a tenant.
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantUpdate {
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    /// `active`, `suspended` (its hospital refuses logins) or `archived`.
    #[schema(pattern = "^(active|suspended|archived)$")]
    status: Option<String>,
    /// Assign a plan; `null` unassigns.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 64)]
    plan_id: Option<Option<String>>,
}

#[utoipa::path(patch, path = "/tenants/{id}", tag = "tenants", security(("bearer" = [])), summary = "Rename a tenant, change its status or assign its plan (tenants.manage)",
    responses((status = 200, description = "The changed tenant", body = Tenant)))]
async fn update(
    db: web::Data<Db>,
    standing: web::Data<Standing>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    body: web::Json<TenantUpdate>,
) -> ApiResult<HttpResponse> {
    user.require(P::TenantsManage)?;
    let b = body.into_inner();
    let name = b
        .name
        .as_deref()
        .map(|n| check_name("name", n))
        .transpose()?;
    if b.status.as_deref().is_some_and(|s| !STATUSES.contains(&s)) {
        return Err(ApiError::field(
            "status",
            "must be active, suspended or archived",
        ));
    }
    let id = id.into_inner();
    let s = standing.get_ref().clone();
    let changed = db
        .write(move |c| {
            let before = store::find(c, &id, &s)?.ok_or_else(no_tenant)?;
            if let Some(Some(p)) = &b.plan_id {
                if crate::plans::store::find(c, p)?.is_none() {
                    return Err(ApiError::field("plan_id", "no such plan"));
                }
            }
            let changes = Changes {
                name,
                status: b.status.clone(),
                plan_id: b.plan_id.clone(),
                updated_at: Some(now()),
            };
            store::update(c, &id, &changes)?;
            let after = store::find(c, &id, &s)?.ok_or_else(no_tenant)?;
            let event = Event::new(
                &user.id,
                &user.role,
                "tenant.update",
                &format!("tenant:{id}"),
            )
            .tenant(Some(&id))
            .details(json!({
                "status": { "from": before.status, "to": after.status },
                "plan_id": { "from": before.plan_id, "to": after.plan_id },
                "renamed": before.name != after.name,
            }));
            audit::append(c, &event, &origin)?;
            Ok(after)
        })
        .await?;
    Ok(response::ok(changed))
}

#[utoipa::path(get, path = "/tenants/{id}/database-health", tag = "tenants", security(("bearer" = [])), summary = "A tenant's database health from its hospital's heartbeats (tenants.read)",
    responses((status = 200, description = "The health", body = DatabaseHealth)))]
async fn database_health(
    db: web::Data<Db>,
    standing: web::Data<Standing>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    user.require(P::TenantsRead)?;
    let id = id.into_inner();
    let s = standing.get_ref().clone();
    let h = db
        .run(move |c| {
            store::find_row(c, &id)?.ok_or_else(no_tenant)?;
            let h = health::find(c, &id)?;
            let held = super::backups::store::totals(c, &id)?;
            Ok(DatabaseHealth::of(&id, h, &held, &s, now()))
        })
        .await?;
    Ok(response::ok(h))
}

#[utoipa::path(get, path = "/tenants/{id}/users", tag = "tenants", security(("bearer" = [])), summary = "A tenant's staff directory as its hospital reports it (tenants.read)",
    params(PageQuery), responses((status = 200, description = "A page of staff accounts (no patients, no PHI)", body = Vec<StaffMember>)))]
async fn users(
    db: web::Data<Db>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    user.require(P::TenantsRead)?;
    let page = Page::from_query(&q)?;
    let id = id.into_inner();
    let (rows, total) = db
        .run(move |c| {
            store::find_row(c, &id)?.ok_or_else(no_tenant)?;
            store::staff(c, &id, &page)
        })
        .await?;
    Ok(response::page(rows, &page, total))
}
