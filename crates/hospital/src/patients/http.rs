//! `…/patients`: register, list and search, read, update, soft delete and
//! restore, the access log, the portal account.
//!
//! Reads run on a read connection; their access-log rows are then
//! appended in one write, and only after that write has committed does the
//! data leave (a failed audit answers an error, never the data). Changes
//! write their audit row in the same transaction as the change.

use actix_web::{web, HttpResponse};
use common::accounts::store as users;
use common::audit::{self, Filter};
use common::db::Db;
use common::http::resource;
use common::response::{self, Page, PageQuery};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::model::{NewPatient, PatientChanges};
use super::scope;
use super::search;
use super::store::{self, ListFilter};
use super::update;
use crate::context::Ctx;
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

#[utoipa::path(post, path = "/patients", tag = "patients", security(("bearer" = [])), summary = "Register a patient (patients.register; clinical fields need patients.update_clinical); with insurance, the insurer is asked and its answer kept (insurance_eligibility; never an error: unverified when it cannot answer)",
    responses((status = 201, description = "Registered", body = super::model::PatientView),
        (status = 403, description = "The role may not register patients, or PLAN_LIMIT: the plan's patient records are used up")))]
async fn register(
    db: web::Data<Db>,
    ctx: Ctx,
    body: web::Json<NewPatient>,
) -> ApiResult<HttpResponse> {
    let created = register_patient(&db, ctx, body.into_inner()).await?;
    Ok(response::created(created))
}

/// Register a patient (the API's rules and audit row; shared with the pages).
pub(crate) async fn register_patient(
    db: &Db,
    ctx: Ctx,
    body: NewPatient,
) -> ApiResult<super::model::PatientView> {
    ctx.require(P::PatientsRegister)?;
    body.validate()?;
    if (body.allergies.is_some() || body.blood_type.is_some())
        && !ctx.can(P::PatientsUpdateClinical)
    {
        return Err(ApiError::Forbidden(
            "your role may not record clinical fields (allergies, blood_type)".into(),
        ));
    }
    // Asked before the write transaction (which never waits on the
    // insurer); whatever happens there, registration goes on.
    let checked = ctx.insurance.eligibility(body.insurance.as_ref()).await;
    let c = ctx.clone();
    let row = db
        .write(move |conn| {
            crate::owner_link::standing::require_patient_room(conn, &c.tenant)?;
            let row = store::insert(conn, &c.keyring, &c.tenant, &c.user.id, &body, &checked)?;
            c.audit(conn, &c.patient_event("patient.create", &row.id))?;
            Ok(row)
        })
        .await?;
    db.run(move |conn| store::to_view(conn, &ctx.keyring, &row, ctx.view))
        .await
}

#[derive(utoipa::IntoParams, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    search: Option<String>,
    include_deleted: Option<bool>,
    #[param(minimum = 1, maximum = 1_000_000)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

#[utoipa::path(get, path = "/patients", tag = "patients", security(("bearer" = [])),
    summary = "List or search the patients the caller may see (each one shown is written to the access log)",
    params(ListQuery), responses((status = 200, description = "A page of patients", body = Vec<super::model::PatientView>)))]
async fn list(db: web::Data<Db>, ctx: Ctx, q: web::Query<ListQuery>) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let include_deleted = q.include_deleted.unwrap_or(false);
    let (views, total) = list_patients(&db, ctx, q.search, include_deleted, page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of the patients the caller may see, optionally searched, with
/// one access-log row per patient shown (shared with the pages).
pub(crate) async fn list_patients(
    db: &Db,
    ctx: Ctx,
    search: Option<String>,
    include_deleted: bool,
    page: Page,
) -> ApiResult<(Vec<super::model::PatientView>, i64)> {
    scope::require_reader(&ctx.user)?;
    let q = ListQuery {
        search,
        include_deleted: None,
        page: None,
        page_size: None,
    };
    if include_deleted && !ctx.can(P::PatientsDelete) {
        return Err(ApiError::Forbidden(
            "your role may not list deleted patients".into(),
        ));
    }
    if let Some(term) = &q.search {
        search::check_term(term)?;
    }
    let searched = q.search.is_some();
    let c = ctx.clone();
    let (views, total) = db
        .run(move |conn| {
            let search = match &q.search {
                Some(term) => match search::search_indexes(conn, &c.keyring, &c.tenant, term)? {
                    Some(indexes) => Some(indexes),
                    None => return Ok((Vec::new(), 0)),
                },
                None => None,
            };
            let filter = ListFilter {
                user: &c.user,
                tenant: &c.tenant,
                include_deleted,
                search: search.as_ref(),
            };
            let (rows, total) = store::list(conn, &filter, &page)?;
            let views = rows
                .iter()
                .map(|row| store::to_view(conn, &c.keyring, row, c.view))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((views, total))
        })
        .await?;
    // One access-log row per patient shown.
    let events = views
        .iter()
        .map(|v| {
            ctx.patient_event("patient.list", &v.id)
                .details(json!({ "search": searched }))
        })
        .collect();
    ctx.record(db, events).await?;
    Ok((views, total))
}

#[utoipa::path(get, path = "/patients/{id}", tag = "patients", security(("bearer" = [])), summary = "One patient (written to the access log); a soft-deleted patient is 404",
    responses((status = 200, description = "The patient", body = super::model::PatientView),
        (status = 404, description = "No such patient in the caller's scope, or deleted")))]
async fn get(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let patient = read_patient(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(patient))
}

/// One patient the caller may see, with its access-log row (shared with the pages).
pub(crate) async fn read_patient(
    db: &Db,
    ctx: Ctx,
    id: String,
) -> ApiResult<super::model::PatientView> {
    scope::require_reader(&ctx.user)?;
    let c = ctx.clone();
    let patient = db
        .run_quick(move |conn| {
            // A soft-deleted patient answers 404 here, to every role: the
            // admin finds it with `GET /patients?include_deleted=true` and
            // restores it with `POST /patients/{id}/restore`.
            let row = store::find_visible(conn, &c.user, &c.tenant, false, &id)?
                .ok_or_else(scope::not_found)?;
            store::to_view(conn, &c.keyring, &row, c.view)
        })
        .await?;
    ctx.record(db, vec![ctx.patient_event("patient.read", &patient.id)])
        .await?;
    Ok(patient)
}

#[utoipa::path(patch, path = "/patients/{id}", tag = "patients", security(("bearer" = [])),
    summary = "Change demographics or clinical fields (absent: unchanged; null: cleared)",
    responses((status = 200, description = "The changed patient", body = super::model::PatientView)))]
async fn update(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<PatientChanges>,
) -> ApiResult<HttpResponse> {
    let updated = update_patient(&db, ctx, id.into_inner(), body.into_inner()).await?;
    Ok(response::ok(updated))
}

/// Change a patient the caller may see, field rules and audit row as on
/// the API (shared with the pages).
pub(crate) async fn update_patient(
    db: &Db,
    ctx: Ctx,
    id: String,
    changes: PatientChanges,
) -> ApiResult<super::model::PatientView> {
    scope::require_reader(&ctx.user)?;
    scope::require_editor(&ctx.user)?;
    changes.validate()?;
    let (demo, clinical) = (changes.demographic_fields(), changes.clinical_fields());
    scope::check_editable(&ctx.user, &demo, &clinical)?;
    let c = ctx.clone();
    let row = db
        .write(move |conn| {
            let row = store::find_visible(conn, &c.user, &c.tenant, false, &id)?
                .ok_or_else(scope::not_found)?;
            let row = update::apply(conn, &c.keyring, &row, &c.user.id, &changes)?;
            let fields: Vec<&str> = demo.iter().chain(clinical.iter()).copied().collect();
            let event = c
                .patient_event("patient.update", &row.id)
                .details(json!({ "fields": fields }));
            c.audit(conn, &event)?;
            Ok(row)
        })
        .await?;
    db.run(move |conn| store::to_view(conn, &ctx.keyring, &row, ctx.view))
        .await
}

#[utoipa::path(delete, path = "/patients/{id}", tag = "patients", security(("bearer" = [])), summary = "Soft-delete a patient (patients.delete)",
    responses((status = 200, description = "Deleted", body = crate::openapi::Deleted)))]
async fn delete(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    set_deleted(db, ctx, id.into_inner(), true).await?;
    Ok(response::ok(json!({ "deleted": true })))
}

#[utoipa::path(post, path = "/patients/{id}/restore", tag = "patients", security(("bearer" = [])), summary = "Restore a soft-deleted patient (patients.delete)",
    responses((status = 200, description = "Restored", body = crate::openapi::Restored),
        (status = 403, description = "The role may not restore patients, or PLAN_LIMIT: the plan's patient records are used up")))]
async fn restore(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    set_deleted(db, ctx, id.into_inner(), false).await?;
    Ok(response::ok(json!({ "restored": true })))
}

/// Soft-delete (`deleted`) or restore a patient the caller may see.
async fn set_deleted(db: web::Data<Db>, ctx: Ctx, id: String, deleted: bool) -> ApiResult<()> {
    ctx.require(P::PatientsDelete)?;
    // Deleting needs the record live; restoring needs it deleted (in scope).
    let (action, include_deleted) = if deleted {
        ("patient.delete", false)
    } else {
        ("patient.restore", true)
    };
    db.write(move |conn| {
        if !scope::can_see(conn, &ctx.user, &ctx.tenant, &id, include_deleted)? {
            return Err(scope::not_found());
        }
        if !deleted && store::is_deleted(conn, &ctx.tenant, &id)? {
            crate::owner_link::standing::require_patient_room(conn, &ctx.tenant)?;
        }
        let by = deleted.then_some(ctx.user.id.as_str());
        store::set_deleted(conn, &ctx.tenant, &id, by)?;
        ctx.audit(conn, &ctx.patient_event(action, &id))?;
        if deleted {
            // Its open appointments would hold doctors' time, hidden from all.
            let cancelled = crate::appointments::store::cancel_for_deleted_patient(
                conn,
                &ctx.keyring,
                &ctx.tenant,
                &id,
                &ctx.user.id,
            )?;
            for appointment in cancelled {
                let event = ctx
                    .patient_event("appointment.cancel", &id)
                    .details(json!({ "appointment": appointment, "patient_deleted": true }));
                ctx.audit(conn, &event)?;
            }
        }
        Ok(())
    })
    .await
}

/// One line of a patient's access log.
#[derive(utoipa::ToSchema, Debug, Serialize)]
pub(crate) struct AccessEntry {
    pub(crate) at: chrono::NaiveDateTime,
    pub(crate) actor_id: String,
    pub(crate) actor_username: Option<String>,
    pub(crate) actor_role: String,
    pub(crate) action: String,
    pub(crate) outcome: String,
    pub(crate) severity: String,
}

#[utoipa::path(get, path = "/patients/{id}/access-log", tag = "patients", security(("bearer" = [])),
    summary = "Who accessed a patient's record (the patient, their care team, or access_log.read_all)",
    params(PageQuery), responses((status = 200, description = "A page of access-log lines, newest first", body = Vec<AccessEntry>)))]
async fn access_log(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    q: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = Page::from_query(&q)?;
    let (entries, total) = read_access_log(&db, ctx, id.into_inner(), page).await?;
    Ok(response::page(entries, &page, total))
}

/// A page of a patient's access log, after recording the reader's visit
/// (shared with the pages).
pub(crate) async fn read_access_log(
    db: &Db,
    ctx: Ctx,
    id: String,
    page: Page,
) -> ApiResult<(Vec<AccessEntry>, i64)> {
    let (c, patient) = (ctx.clone(), id.clone());
    db.run(move |conn| scope::require_access_log_reader(conn, &c.user, &c.tenant, &patient))
        .await?;
    // Recorded before the log is read, so the reader's own visit is its
    // newest line.
    ctx.record(db, vec![ctx.patient_event("patient.access_log.read", &id)])
        .await?;
    let tenant = ctx.tenant;
    db.run(move |conn| {
        let filter = Filter {
            tenant_id: Some(tenant.clone()),
            resource: Some(format!("patient:{id}")),
            ..Default::default()
        };
        let (rows, total) = audit::list(conn, &filter, &page)?;
        let mut entries = Vec::with_capacity(rows.len());
        for r in rows {
            let actor_username = users::find_by_id(conn, &r.actor)?
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
    .await
}
