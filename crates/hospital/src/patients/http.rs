//! `…/patients`: register, list and search, read, update, soft delete and
//! restore, the access log, the portal account. Every read and write is
//! audited inside the transaction that reads or writes, so the audit row
//! exists before any data leaves the server.

use actix_web::{web, HttpResponse};
use common::accounts::store as users;
use common::audit::{self, Event, Filter, Origin};
use common::auth::AuthUser;
use common::crypto::Keyring;
use common::db::{Db, DbConn};
use common::http::resource;
use common::response::{self, Page, PageQuery};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::model::{NewPatient, PatientChanges};
use super::scope::{self, view_of};
use super::store;
use crate::tenant::{keyring_of, tenant_of};
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/patients")
            .route(web::get().to(list))
            .route(web::post().to(register)),
    )
    .service(
        resource("/patients/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(delete)),
    )
    .service(resource("/patients/{id}/restore").route(web::post().to(restore)))
    .service(resource("/patients/{id}/access-log").route(web::get().to(access_log)))
    .configure(super::portal::routes);
}

/// Record an action on a patient (in the caller's transaction).
pub fn audit_patient(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    origin: &Origin,
    action: &str,
    patient_id: &str,
    details: serde_json::Value,
) -> ApiResult<()> {
    let event = Event::new(
        &user.id,
        &user.role,
        action,
        &format!("patient:{patient_id}"),
    )
    .tenant(Some(tenant))
    .details(details);
    audit::append(conn, &event, origin)?;
    Ok(())
}

async fn register(
    db: web::Data<Db>,
    kr: Option<web::Data<Keyring>>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<NewPatient>,
) -> ApiResult<HttpResponse> {
    user.require(P::PatientsRegister)?;
    let body = body.into_inner();
    body.validate()?;
    if (body.allergies.is_some() || body.blood_type.is_some())
        && !user.can(P::PatientsUpdateClinical)
    {
        return Err(ApiError::Forbidden(
            "your role may not record clinical fields (allergies, blood_type)".into(),
        ));
    }
    let tenant = tenant_of(&user)?;
    let keyring = keyring_of(&kr)?;
    let view = view_of(&user);
    let created = db
        .write(move |c| {
            crate::departments::store::seed_if_empty(c, &tenant)?;
            let row = store::insert(c, &keyring, &tenant, &user.id, &body)?;
            audit_patient(
                c,
                &user,
                &tenant,
                &origin,
                "patient.create",
                &row.id,
                json!({}),
            )?;
            store::to_view(c, &keyring, &row, view)
        })
        .await?;
    Ok(response::created(created))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    search: Option<String>,
    include_deleted: Option<bool>,
    page: Option<i64>,
    page_size: Option<i64>,
}

async fn list(
    db: web::Data<Db>,
    kr: Option<web::Data<Keyring>>,
    user: AuthUser,
    origin: Origin,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let tenant = tenant_of(&user)?;
    let keyring = keyring_of(&kr)?;
    let view = view_of(&user);
    let include_deleted = q.include_deleted.unwrap_or(false);
    if include_deleted && !user.can(P::PatientsDelete) {
        return Err(ApiError::Forbidden(
            "your role may not list deleted patients".into(),
        ));
    }
    let (views, total) = db
        .write(move |c| {
            let search = match &q.search {
                Some(term) => Some(store::search_indexes(c, &keyring, &tenant, term)?),
                None => None,
            };
            let make = || scope::visible(&user, &tenant, include_deleted);
            let (rows, total) = store::list(c, &make, search.as_ref(), &page)?;
            let mut views = Vec::with_capacity(rows.len());
            for row in &rows {
                // One access-log row per patient shown, before the data leaves.
                let details = json!({ "search": search.is_some() });
                audit_patient(c, &user, &tenant, &origin, "patient.list", &row.id, details)?;
                views.push(store::to_view(c, &keyring, row, view)?);
            }
            Ok((views, total))
        })
        .await?;
    Ok(response::page(views, &page, total))
}

async fn get(
    db: web::Data<Db>,
    kr: Option<web::Data<Keyring>>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let tenant = tenant_of(&user)?;
    let keyring = keyring_of(&kr)?;
    let id = id.into_inner();
    let view = view_of(&user);
    let patient = db
        .write(move |c| {
            let row = store::find_visible(c, scope::visible(&user, &tenant, true)?, &id)?
                .ok_or_else(scope::not_found)?;
            audit_patient(
                c,
                &user,
                &tenant,
                &origin,
                "patient.read",
                &row.id,
                json!({}),
            )?;
            store::to_view(c, &keyring, &row, view)
        })
        .await?;
    Ok(response::ok(patient))
}

async fn update(
    db: web::Data<Db>,
    kr: Option<web::Data<Keyring>>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    body: web::Json<PatientChanges>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let changes = body.into_inner();
    changes.validate()?;
    let (demo, clinical) = (changes.demographic_fields(), changes.clinical_fields());
    scope::check_editable(&user, &demo, &clinical)?;
    let tenant = tenant_of(&user)?;
    let keyring = keyring_of(&kr)?;
    let id = id.into_inner();
    let view = view_of(&user);
    let updated = db
        .write(move |c| {
            let visible = scope::visible(&user, &tenant, false)?;
            let row = store::find_visible(c, visible, &id)?.ok_or_else(scope::not_found)?;
            store::update(c, &keyring, &row, &user.id, &changes)?;
            let fields: Vec<&str> = demo.iter().chain(clinical.iter()).copied().collect();
            audit_patient(
                c,
                &user,
                &tenant,
                &origin,
                "patient.update",
                &row.id,
                json!({ "fields": fields }),
            )?;
            let row = store::find_visible(c, scope::visible(&user, &tenant, false)?, &id)?
                .ok_or_else(scope::not_found)?;
            store::to_view(c, &keyring, &row, view)
        })
        .await?;
    Ok(response::ok(updated))
}

async fn delete(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    user.require(P::PatientsDelete)?;
    let tenant = tenant_of(&user)?;
    let id = id.into_inner();
    db.write(move |c| {
        if !scope::can_see(c, &user, &tenant, &id, false)? {
            return Err(scope::not_found());
        }
        store::set_deleted(c, &tenant, &id, Some(&user.id))?;
        audit_patient(c, &user, &tenant, &origin, "patient.delete", &id, json!({}))
    })
    .await?;
    Ok(response::ok(json!({ "deleted": true })))
}

async fn restore(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    user.require(P::PatientsDelete)?;
    let tenant = tenant_of(&user)?;
    let id = id.into_inner();
    db.write(move |c| {
        if !scope::can_see(c, &user, &tenant, &id, true)? {
            return Err(scope::not_found());
        }
        store::set_deleted(c, &tenant, &id, None)?;
        audit_patient(
            c,
            &user,
            &tenant,
            &origin,
            "patient.restore",
            &id,
            json!({}),
        )
    })
    .await?;
    Ok(response::ok(json!({ "restored": true })))
}

/// One line of a patient's access log.
#[derive(Debug, Serialize)]
struct AccessEntry {
    at: chrono::NaiveDateTime,
    actor_id: String,
    actor_username: Option<String>,
    actor_role: String,
    action: String,
    outcome: String,
    severity: String,
}

async fn access_log(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    q: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = Page::from_query(&q)?;
    let tenant = tenant_of(&user)?;
    let id = id.into_inner();
    let (entries, total) = db
        .write(move |c| {
            scope::require_access_log_reader(c, &user, &tenant, &id)?;
            audit_patient(
                c,
                &user,
                &tenant,
                &origin,
                "patient.access_log.read",
                &id,
                json!({}),
            )?;
            let filter = Filter {
                tenant_id: Some(tenant.clone()),
                resource: Some(format!("patient:{id}")),
                ..Default::default()
            };
            let (rows, total) = audit::list(c, &filter, &page)?;
            let mut entries = Vec::with_capacity(rows.len());
            for r in rows {
                let actor_username = users::find_by_id(c, &r.actor)?
                    .filter(|u| u.tenant_id == tenant)
                    .map(|u| u.username);
                entries.push(AccessEntry {
                    at: r.occurred_at,
                    actor_id: r.actor,
                    actor_username,
                    actor_role: r.actor_role,
                    action: r.action,
                    outcome: r.outcome,
                    severity: r.severity,
                });
            }
            Ok((entries, total))
        })
        .await?;
    Ok(response::page(entries, &page, total))
}
