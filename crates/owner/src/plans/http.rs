//! `GET|POST …/plans`, `GET|PATCH …/plans/{id}`.

use actix_web::{web, HttpResponse};
use common::audit::{self, Event, Origin};
use common::auth::AuthUser;
use common::db::{now, Db};
use common::http::resource;
use common::response::{self, Page, PageQuery};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::store::{self, Plan};
use crate::OwnerPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/plans")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/plans/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update)),
    );
}

/// Most modules or features a plan names.
const MAX_NAMES: usize = 50;
/// Largest limit accepted.
const MAX_LIMIT: i64 = 1_000_000_000;

/// A present field that may be `null`: `Some(None)` clears it.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A plan or tenant name: 1 to 100 printable characters, trimmed.
pub(crate) fn check_name(field: &str, name: &str) -> ApiResult<String> {
    let t = name.trim();
    if t.is_empty() || t.chars().count() > 100 || t.chars().any(char::is_control) {
        return Err(ApiError::field(
            field,
            "must be 1 to 100 printable characters",
        ));
    }
    Ok(t.to_string())
}

fn check_limit(field: &str, v: Option<i64>) -> ApiResult<Option<i64>> {
    match v {
        Some(n) if !(0..=MAX_LIMIT).contains(&n) => Err(ApiError::field(
            field,
            "must be between 0 and 1000000000, or null for no limit",
        )),
        other => Ok(other),
    }
}

fn check_names(field: &str, names: Vec<String>) -> ApiResult<Vec<String>> {
    if names.len() > MAX_NAMES {
        return Err(ApiError::field(field, "at most 50 names"));
    }
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for n in names {
        let ok = (1..=64).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
        if !ok {
            return Err(ApiError::field(
                field,
                "each name is 1 to 64 of a-z, 0-9, '_', '.', '-'",
            ));
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

#[utoipa::path(get, path = "/plans", tag = "plans", security(("bearer" = [])), summary = "The plans (tenants.read)",
    params(PageQuery), responses((status = 200, description = "A page of plans", body = Vec<Plan>)))]
async fn list(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    user.require(P::TenantsRead)?;
    let page = Page::from_query(&q)?;
    let (rows, total) = db.run(move |c| store::list(c, &page)).await?;
    Ok(response::page(rows, &page, total))
}

fn no_plan() -> ApiError {
    ApiError::NotFound("no such plan".into())
}

#[utoipa::path(get, path = "/plans/{id}", tag = "plans", security(("bearer" = [])), summary = "One plan (tenants.read)",
    responses((status = 200, description = "The plan", body = Plan)))]
async fn get(db: web::Data<Db>, user: AuthUser, id: web::Path<String>) -> ApiResult<HttpResponse> {
    user.require(P::TenantsRead)?;
    let id = id.into_inner();
    let p = db
        .run(move |c| store::find(c, &id))
        .await?
        .ok_or_else(no_plan)?;
    Ok(response::ok(p))
}

/// A new plan.
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanCreate {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    max_staff: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    max_patients: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    max_storage_mb: Option<i64>,
    #[serde(default)]
    #[schema(max_items = 50)]
    modules: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 50)]
    features: Vec<String>,
}

#[utoipa::path(post, path = "/plans", tag = "plans", security(("bearer" = [])), summary = "Add a plan (plans.manage)",
    responses((status = 201, description = "Created", body = Plan),
        (status = 409, description = "A plan of this name exists")))]
async fn create(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<PlanCreate>,
) -> ApiResult<HttpResponse> {
    user.require(P::PlansManage)?;
    let b = body.into_inner();
    let mut plan = Plan::new(&check_name("name", &b.name)?);
    plan.max_staff = check_limit("max_staff", b.max_staff)?;
    plan.max_patients = check_limit("max_patients", b.max_patients)?;
    plan.max_storage_mb = check_limit("max_storage_mb", b.max_storage_mb)?;
    plan.modules = check_names("modules", b.modules)?;
    plan.features = check_names("features", b.features)?;
    let created = db
        .write(move |c| {
            if store::name_taken(c, &plan.name, None)? {
                return Err(ApiError::Conflict("a plan of this name exists".into()));
            }
            store::insert(c, &plan)?;
            let event = Event::new(
                &user.id,
                &user.role,
                "plan.create",
                &format!("plan:{}", plan.id),
            )
            .details(json!({ "name": plan.name }));
            audit::append(c, &event, &origin)?;
            Ok(plan)
        })
        .await?;
    Ok(response::created(created))
}

/// Changes to a plan; a limit set to `null` is lifted.
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlanUpdate {
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    max_staff: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    max_patients: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    max_storage_mb: Option<Option<i64>>,
    #[schema(max_items = 50)]
    modules: Option<Vec<String>>,
    #[schema(max_items = 50)]
    features: Option<Vec<String>>,
}

#[utoipa::path(patch, path = "/plans/{id}", tag = "plans", security(("bearer" = [])), summary = "Change a plan's name or limits (plans.manage)",
    responses((status = 200, description = "The changed plan", body = Plan),
        (status = 409, description = "A plan of this name exists")))]
async fn update(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    body: web::Json<PlanUpdate>,
) -> ApiResult<HttpResponse> {
    user.require(P::PlansManage)?;
    let b = body.into_inner();
    let name = b
        .name
        .as_deref()
        .map(|n| check_name("name", n))
        .transpose()?;
    let max_staff = b
        .max_staff
        .map(|v| check_limit("max_staff", v))
        .transpose()?;
    let max_patients = b
        .max_patients
        .map(|v| check_limit("max_patients", v))
        .transpose()?;
    let max_storage = b
        .max_storage_mb
        .map(|v| check_limit("max_storage_mb", v))
        .transpose()?;
    let modules = b.modules.map(|m| check_names("modules", m)).transpose()?;
    let features = b.features.map(|f| check_names("features", f)).transpose()?;
    let id = id.into_inner();
    let changed = db
        .write(move |c| {
            let mut p = store::find(c, &id)?.ok_or_else(no_plan)?;
            if let Some(n) = name {
                if store::name_taken(c, &n, Some(&p.id))? {
                    return Err(ApiError::Conflict("a plan of this name exists".into()));
                }
                p.name = n;
            }
            if let Some(v) = max_staff {
                p.max_staff = v;
            }
            if let Some(v) = max_patients {
                p.max_patients = v;
            }
            if let Some(v) = max_storage {
                p.max_storage_mb = v;
            }
            if let Some(v) = modules {
                p.modules = v;
            }
            if let Some(v) = features {
                p.features = v;
            }
            p.updated_at = now();
            store::save(c, &p)?;
            let event = Event::new(
                &user.id,
                &user.role,
                "plan.update",
                &format!("plan:{}", p.id),
            )
            .details(json!({ "name": p.name, "max_staff": p.max_staff }));
            audit::append(c, &event, &origin)?;
            Ok(p)
        })
        .await?;
    Ok(response::ok(changed))
}
