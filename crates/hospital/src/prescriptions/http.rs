//! `POST|GET …/prescriptions`, `GET …/prescriptions/{id}`,
//! `POST …/prescriptions/{id}/{dispense,reject}`.

use actix_web::{web, HttpResponse};
use common::db::{now, Db, DbConn};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::json;

use super::model::{
    details, matching_allergies, PrescriptionStatus, PrescriptionView, Route, MAX_QUANTITY,
    MAX_REFILLS,
};
use super::scope;
use super::store::{self, ListFilter, Prescription};
use crate::appointments::model::{check_id, check_text};
use crate::context::Ctx;
use crate::patients::sealed::Sealer;
use crate::patients::store as patients_store;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/prescriptions")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(resource("/prescriptions/{id}").route(web::get().to(get)))
    .service(resource("/prescriptions/{id}/dispense").route(web::post().to(dispense)))
    .service(resource("/prescriptions/{id}/reject").route(web::post().to(reject)));
}

/// A prescription.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct PrescriptionRequest {
    /// The patient (on the prescriber's care team).
    #[schema(min_length = 1, max_length = 64)]
    pub patient_id: String,
    /// Medication and strength (2 to 200 characters).
    #[schema(min_length = 2, max_length = 200)]
    pub medication: String,
    /// Dose per intake (1 to 100).
    #[schema(min_length = 1, max_length = 100)]
    pub dose: String,
    /// How it is taken.
    pub route: Route,
    /// How often (1 to 100).
    #[schema(min_length = 1, max_length = 100)]
    pub frequency: String,
    /// For how long (1 to 100).
    #[schema(min_length = 1, max_length = 100)]
    pub duration: String,
    /// Units per fill, 1 to 10000.
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: i64,
    /// Refills after the first fill, 0 to 12 (default 0).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 12)]
    pub refills: i64,
    /// Notes (at most 1000).
    #[schema(max_length = 1000)]
    pub notes: Option<String>,
    /// The prescriber has seen the allergy warning and prescribes anyway.
    #[serde(default)]
    pub acknowledge_allergies: bool,
}

#[utoipa::path(post, path = "/prescriptions", tag = "prescriptions", security(("bearer" = [])),
    summary = "Prescribe for a patient on one's care team (prescriptions.write); a recorded allergy the medication matches answers 409 ALLERGY_WARNING naming it unless acknowledge_allergies is true",
    request_body = PrescriptionRequest,
    responses((status = 201, description = "Prescribed", body = PrescriptionView),
        (status = 409, description = "ALLERGY_WARNING: `details.allergies` lists the matching allergies; send again with `acknowledge_allergies: true`")))]
async fn create(
    db: web::Data<Db>,
    ctx: Ctx,
    body: web::Json<PrescriptionRequest>,
) -> ApiResult<HttpResponse> {
    let view = prescribe(&db, ctx, body.into_inner()).await?;
    Ok(response::created(view))
}

/// The allergies recorded on `patient` (of the caller's tenant).
fn allergies_of(conn: &mut DbConn, c: &Ctx, patient: &str) -> ApiResult<Vec<String>> {
    let row = patients_store::by_id(conn, &c.tenant, patient)?;
    let s = Sealer::new(&c.keyring, &row.tenant_id, &row.id, row.version);
    Ok(
        s.open_json::<Vec<String>>(conn, "allergies", row.allergies_enc.as_deref())?
            .unwrap_or_default(),
    )
}

/// Prescribe, with the API's checks and audit row (shared with pages).
pub(crate) async fn prescribe(
    db: &Db,
    ctx: Ctx,
    req: PrescriptionRequest,
) -> ApiResult<PrescriptionView> {
    scope::require_prescriber(&ctx.user)?;
    check_id("patient_id", &req.patient_id)?;
    let d = details(
        &req.medication,
        &req.dose,
        req.route,
        &req.frequency,
        &req.duration,
        req.notes.as_deref(),
    )?;
    if !(1..=MAX_QUANTITY).contains(&req.quantity) {
        return Err(ApiError::field(
            "quantity",
            format!("must be 1 to {MAX_QUANTITY}"),
        ));
    }
    if !(0..=MAX_REFILLS).contains(&req.refills) {
        return Err(ApiError::field(
            "refills",
            format!("must be 0 to {MAX_REFILLS}"),
        ));
    }
    let c = ctx.clone();
    let p = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            scope::require_prescriber_for(conn, user, tenant, &req.patient_id)?;
            let matched = matching_allergies(&d.medication, &allergies_of(conn, &c, &req.patient_id)?);
            if !matched.is_empty() && !req.acknowledge_allergies {
                return Err(ApiError::Warning {
                    code: "ALLERGY_WARNING",
                    message: format!(
                        "the patient has a recorded allergy to {}; send again with acknowledge_allergies: true to prescribe anyway",
                        matched.join(", ")
                    ),
                    details: json!({ "allergies": matched }),
                });
            }
            let id = uuid::Uuid::new_v4().to_string();
            let json = serde_json::to_string(&d).map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
            let t = now();
            let p = Prescription {
                details_enc: store::seal(conn, &c.keyring, tenant, "details", &id, &json)?,
                id,
                tenant_id: tenant.clone(),
                patient_id: req.patient_id.clone(),
                prescriber_id: user.id.clone(),
                quantity: req.quantity,
                refills: req.refills,
                total_quantity: req.quantity * (req.refills + 1),
                dispensed_quantity: 0,
                status: PrescriptionStatus::Pending.as_str().to_string(),
                allergy_acknowledged: !matched.is_empty(),
                reject_reason_enc: None,
                created_at: t,
                updated_by: user.id.clone(),
                updated_at: t,
            };
            store::insert(conn, &p)?;
            // Ids and counts only: the allergy names are PHI.
            let event = c.patient_event("prescription.create", &p.patient_id).details(json!({
                "prescription": p.id, "total_quantity": p.total_quantity,
                "allergy_warnings_acknowledged": matched.len(),
            }));
            c.audit(conn, &event)?;
            Ok(p)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &p)).await
}

fn reread(conn: &mut DbConn, c: &Ctx, id: &str) -> ApiResult<Prescription> {
    store::find_visible(conn, scope::visible(&c.user, &c.tenant)?, id)?.ok_or_else(scope::not_found)
}

#[utoipa::path(get, path = "/prescriptions/{id}", tag = "prescriptions", security(("bearer" = [])),
    summary = "One prescription with its dispenses (written to the patient's access log)",
    responses((status = 200, description = "The prescription", body = PrescriptionView)))]
async fn get(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let view = read_prescription(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(view))
}

/// One prescription, with its access-log row (shared with pages).
pub(crate) async fn read_prescription(
    db: &Db,
    ctx: Ctx,
    id: String,
) -> ApiResult<PrescriptionView> {
    scope::require_reader(&ctx.user)?;
    let c = ctx.clone();
    let view = db
        .run(move |conn| {
            let p = reread(conn, &c, &id)?;
            store::to_view(conn, &c.keyring, &p)
        })
        .await?;
    ctx.record(db, vec![read_event(&ctx, &view)]).await?;
    Ok(view)
}

fn read_event(ctx: &Ctx, v: &PrescriptionView) -> common::audit::Event {
    ctx.patient_event("prescription.read", &v.patient_id)
        .details(json!({ "prescription": v.id }))
}

/// The list's filters and page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct PrescriptionListQuery {
    /// One patient's prescriptions.
    pub patient_id: Option<String>,
    /// Only in this status.
    pub status: Option<PrescriptionStatus>,
    /// Only pending or partially dispensed (the pharmacy's queue).
    pub open: Option<bool>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/prescriptions", tag = "prescriptions", security(("bearer" = [])),
    summary = "Prescriptions the caller may see, oldest first: a pharmacist's queue (open=true), a care team's patients, a patient's own (each shown is written to its patient's access log)",
    params(PrescriptionListQuery), responses((status = 200, description = "A page of prescriptions", body = Vec<PrescriptionView>)))]
async fn list(
    db: web::Data<Db>,
    ctx: Ctx,
    q: web::Query<PrescriptionListQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (views, total) = list_prescriptions(&db, ctx, &q, page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of prescriptions, one access-log row per prescription shown
/// (shared with pages).
pub(crate) async fn list_prescriptions(
    db: &Db,
    ctx: Ctx,
    q: &PrescriptionListQuery,
    page: Page,
) -> ApiResult<(Vec<PrescriptionView>, i64)> {
    scope::require_reader(&ctx.user)?;
    if let Some(p) = &q.patient_id {
        check_id("patient_id", p)?;
    }
    let filter = ListFilter {
        patient_id: q.patient_id.clone(),
        status: q.status,
        open: q.open.unwrap_or(false),
    };
    let c = ctx.clone();
    let one_patient = filter.patient_id.is_some();
    let (views, total) = db
        .run(move |conn| {
            let (rows, total) = store::list(
                conn,
                || scope::listed(&c.user, &c.tenant, one_patient),
                &filter,
                &page,
            )?;
            let views = rows
                .iter()
                .map(|p| store::to_view(conn, &c.keyring, p))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((views, total))
        })
        .await?;
    let events = views.iter().map(|v| read_event(&ctx, v)).collect();
    ctx.record(db, events).await?;
    Ok((views, total))
}

/// A dispense.
#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct DispenseRequest {
    /// How many units are handed out now (1 to what remains).
    #[schema(minimum = 1)]
    pub quantity: i64,
}

#[utoipa::path(post, path = "/prescriptions/{id}/dispense", tag = "prescriptions", security(("bearer" = [])),
    summary = "Dispense some or all of what remains (prescriptions.dispense); never more than quantity × (1 + refills), also under concurrent dispenses",
    request_body = DispenseRequest,
    responses((status = 200, description = "Dispensed; the remaining quantity", body = PrescriptionView),
        (status = 409, description = "More than remains, or rejected / fully dispensed")))]
async fn dispense(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<DispenseRequest>,
) -> ApiResult<HttpResponse> {
    let view = dispense_prescription(&db, ctx, id.into_inner(), body.quantity).await?;
    Ok(response::ok(view))
}

/// Dispense (shared with pages).
pub(crate) async fn dispense_prescription(
    db: &Db,
    ctx: Ctx,
    id: String,
    n: i64,
) -> ApiResult<PrescriptionView> {
    scope::require_pharmacist(&ctx.user)?;
    if !(1..=MAX_QUANTITY * (MAX_REFILLS + 1)).contains(&n) {
        return Err(ApiError::field(
            "quantity",
            "must be a positive number of units",
        ));
    }
    let c = ctx.clone();
    let p = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            let p = reread(conn, &c, &id)?;
            let status = p.status()?;
            if !status.open() {
                return Err(ApiError::Conflict(format!(
                    "the prescription is {}",
                    status.as_str().replace('_', " ")
                )));
            }
            if !store::take(conn, tenant, &p.id, n, &user.id)? {
                return Err(ApiError::Conflict(format!(
                    "only {} remain to dispense",
                    p.total_quantity - p.dispensed_quantity
                )));
            }
            let dispense = store::insert_dispense(conn, tenant, &p.id, &user.id, n)?;
            let p = store::settle(conn, tenant, &p.id)?;
            let event = c
                .patient_event("prescription.dispense", &p.patient_id)
                .details(json!({
                    "prescription": p.id, "dispense": dispense, "quantity": n,
                    "remaining": p.total_quantity - p.dispensed_quantity,
                }));
            c.audit(conn, &event)?;
            Ok(p)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &p)).await
}

/// Why a prescription is rejected.
#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// 3 to 500 characters (sealed).
    #[schema(min_length = 3, max_length = 500)]
    pub reason: String,
}

#[utoipa::path(post, path = "/prescriptions/{id}/reject", tag = "prescriptions", security(("bearer" = [])),
    summary = "Reject an open prescription with a reason (prescriptions.dispense); nothing more is dispensed",
    request_body = RejectRequest,
    responses((status = 200, description = "Rejected", body = PrescriptionView),
        (status = 409, description = "Already rejected or fully dispensed")))]
async fn reject(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<RejectRequest>,
) -> ApiResult<HttpResponse> {
    let view = reject_prescription(&db, ctx, id.into_inner(), body.into_inner().reason).await?;
    Ok(response::ok(view))
}

/// Reject (shared with pages).
pub(crate) async fn reject_prescription(
    db: &Db,
    ctx: Ctx,
    id: String,
    reason: String,
) -> ApiResult<PrescriptionView> {
    scope::require_pharmacist(&ctx.user)?;
    let reason = check_text("reason", &reason, 3, 500)?;
    let c = ctx.clone();
    let p = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            let p = reread(conn, &c, &id)?;
            let status = p.status()?;
            if !status.open() {
                return Err(ApiError::Conflict(format!(
                    "the prescription is {}",
                    status.as_str().replace('_', " ")
                )));
            }
            let sealed = store::seal(conn, &c.keyring, tenant, "reject_reason", &p.id, &reason)?;
            if !store::reject(conn, &p, &sealed, &user.id)? {
                return Err(ApiError::Conflict(
                    "the prescription was changed meanwhile; read it again".into(),
                ));
            }
            let event = c
                .patient_event("prescription.reject", &p.patient_id)
                .details(json!({ "prescription": p.id }));
            c.audit(conn, &event)?;
            reread(conn, &c, &p.id)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &p)).await
}
