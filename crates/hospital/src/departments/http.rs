//! `GET|POST …/departments`, `PATCH …/departments/{id}`.

use actix_web::{web, HttpResponse};
use common::audit::{self, Event, Origin};
use common::auth::AuthUser;
use common::db::Db;
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::json;

use super::store::{self, Department};
use crate::tenant::tenant_of;
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    include_inactive: Option<bool>,
    page: Option<i64>,
    page_size: Option<i64>,
}

async fn list(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    user.require(P::DepartmentsRead)?;
    let page = Page::of(q.page, q.page_size)?;
    let tenant = tenant_of(&user)?;
    let all = q.include_inactive.unwrap_or(false);
    let (rows, total) = db
        .write(move |c| {
            store::seed_if_empty(c, &tenant)?;
            store::list(c, &tenant, all, &page)
        })
        .await?;
    Ok(response::page(rows, &page, total))
}

async fn get(db: web::Data<Db>, user: AuthUser, id: web::Path<String>) -> ApiResult<HttpResponse> {
    user.require(P::DepartmentsRead)?;
    let tenant = tenant_of(&user)?;
    let id = id.into_inner();
    let d = db
        .run(move |c| store::get(c, &tenant, &id))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    code: String,
    name: String,
    #[serde(default)]
    clinical_module: bool,
}

async fn create(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<Create>,
) -> ApiResult<HttpResponse> {
    user.require(P::DepartmentsManage)?;
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
    let tenant = tenant_of(&user)?;
    let d = Department::new(&tenant, &code, body.name.trim(), body.clinical_module);
    let created = db
        .write(move |c| {
            store::seed_if_empty(c, &tenant)?;
            if store::code_exists(c, &tenant, &d.code)? {
                return Err(ApiError::Conflict(
                    "a department with this code exists".into(),
                ));
            }
            store::insert(c, &d)?;
            let event = Event::new(
                &user.id,
                &user.role,
                "department.create",
                &format!("department:{}", d.id),
            )
            .tenant(Some(&tenant))
            .details(json!({ "code": d.code }));
            audit::append(c, &event, &origin)?;
            Ok(d)
        })
        .await?;
    Ok(response::created(created))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    name: Option<String>,
    active: Option<bool>,
}

async fn update(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    body: web::Json<Update>,
) -> ApiResult<HttpResponse> {
    user.require(P::DepartmentsManage)?;
    let body = body.into_inner();
    if let Some(n) = &body.name {
        validate_name(n)?;
    }
    if body.name.is_none() && body.active.is_none() {
        return Err(ApiError::validation("nothing to change"));
    }
    let tenant = tenant_of(&user)?;
    let id = id.into_inner();
    let updated = db
        .write(move |c| {
            store::get(c, &tenant, &id).map_err(not_found)?;
            let d = store::update(
                c,
                &tenant,
                &id,
                body.name.as_deref().map(str::trim),
                body.active,
            )?;
            let action = match body.active {
                Some(false) => "department.deactivate",
                _ => "department.update",
            };
            let event = Event::new(&user.id, &user.role, action, &format!("department:{id}"))
                .tenant(Some(&tenant));
            audit::append(c, &event, &origin)?;
            Ok(d)
        })
        .await?;
    Ok(response::ok(updated))
}
