//! `GET|POST …/departments`, `PATCH …/departments/{id}`.

use actix_web::{web, HttpResponse};
use common::db::{now, Db};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::json;

use super::store::{self, Department, DepartmentChanges};
use crate::context::Ctx;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/departments")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(
        resource("/departments/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update)),
    );
}

#[derive(utoipa::IntoParams, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    include_inactive: Option<bool>,
    #[param(minimum = 1, maximum = 1_000_000)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

/// A read: departments are seeded at start-up and by the first write of
/// a tenant, never here.
#[utoipa::path(get, path = "/departments", tag = "departments", security(("bearer" = [])), summary = "List departments (departments.read)",
    params(ListQuery), responses((status = 200, description = "A page of departments", body = Vec<Department>)))]
async fn list(db: web::Data<Db>, ctx: Ctx, q: web::Query<ListQuery>) -> ApiResult<HttpResponse> {
    ctx.require(P::DepartmentsRead)?;
    let page = Page::of(q.page, q.page_size)?;
    let all = q.include_inactive.unwrap_or(false);
    let (rows, total) = db
        .run_quick(move |c| store::list(c, &ctx.tenant, all, &page))
        .await?;
    Ok(response::page(rows, &page, total))
}

#[utoipa::path(get, path = "/departments/{id}", tag = "departments", security(("bearer" = [])), summary = "One department (departments.read)",
    responses((status = 200, description = "The department", body = Department)))]
async fn get(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    ctx.require(P::DepartmentsRead)?;
    let id = id.into_inner();
    let d = db
        .run_quick(move |c| store::get(c, &ctx.tenant, &id))
        .await
        .map_err(not_found)?;
    Ok(response::ok(d))
}

fn not_found(e: ApiError) -> ApiError {
    match e {
        ApiError::NotFound(_) => ApiError::NotFound("no such department".into()),
        other => other,
    }
}

fn validate_name(name: &str) -> ApiResult<()> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must be 1 to 100 printable characters",
        ));
    }
    Ok(())
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    #[schema(pattern = r"^\s*[A-Za-z0-9_]{1,32}\s*$")]
    code: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: String,
    #[serde(default)]
    clinical_module: bool,
}

#[utoipa::path(post, path = "/departments", tag = "departments", security(("bearer" = [])), summary = "Add a department (departments.manage)",
    responses((status = 201, description = "Created", body = Department),
        (status = 409, description = "A department with this code exists")))]
async fn create(db: web::Data<Db>, ctx: Ctx, body: web::Json<Create>) -> ApiResult<HttpResponse> {
    ctx.require(P::DepartmentsManage)?;
    let body = body.into_inner();
    let code = body.code.trim().to_ascii_uppercase();
    if code.is_empty()
        || code.len() > 32
        || !code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ApiError::field(
            "code",
            "must be 1 to 32 letters, digits or '_'",
        ));
    }
    validate_name(&body.name)?;
    let d = Department::new(&ctx.tenant, &code, body.name.trim(), body.clinical_module);
    let created = db
        .write(move |c| {
            // A tenant whose first user arrived while the server ran (no
            // restart seeded it) gets the usual set before its first own.
            store::seed_if_empty(c, &ctx.tenant)?;
            if store::code_exists(c, &ctx.tenant, &d.code)? {
                return Err(ApiError::Conflict(
                    "a department with this code exists".into(),
                ));
            }
            store::insert(c, &d)?;
            let event = ctx
                .event("department.create", &format!("department:{}", d.id))
                .details(json!({ "code": d.code }));
            ctx.audit(c, &event)?;
            Ok(d)
        })
        .await?;
    Ok(response::created(created))
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    name: Option<String>,
    active: Option<bool>,
}

#[utoipa::path(patch, path = "/departments/{id}", tag = "departments", security(("bearer" = [])), summary = "Rename, deactivate or reactivate a department (departments.manage)",
    responses((status = 200, description = "The changed department", body = Department)))]
async fn update(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<Update>,
) -> ApiResult<HttpResponse> {
    ctx.require(P::DepartmentsManage)?;
    let body = body.into_inner();
    if let Some(n) = &body.name {
        validate_name(n)?;
    }
    if body.name.is_none() && body.active.is_none() {
        return Err(ApiError::validation("nothing to change"));
    }
    let action = match body.active {
        Some(false) => "department.deactivate",
        _ => "department.update",
    };
    let changes = DepartmentChanges {
        name: body.name.as_deref().map(|n| n.trim().to_string()),
        active: body.active,
        updated_at: now(),
    };
    let id = id.into_inner();
    let updated = db
        .write(move |c| {
            if !store::update(c, &ctx.tenant, &id, &changes)? {
                return Err(ApiError::NotFound("no such department".into()));
            }
            ctx.audit(c, &ctx.event(action, &format!("department:{id}")))?;
            store::get(c, &ctx.tenant, &id)
        })
        .await?;
    Ok(response::ok(updated))
}
