//! `POST …/patients/{id}/break-glass`, `GET …/break-glass`,
//! `POST …/break-glass/{id}/acknowledge`.

use crate::settings::ClinicalSection;
use actix_web::{web, HttpResponse};
use common::audit::Severity;
use common::db::Db;
use common::http::resource;
use common::response::{self, Page};
use common::security::{self, NewEvent};
use common::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::json;

use super::store;
use crate::care_team::store as care_team;
use crate::context::Ctx;
use crate::patients::scope;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/patients/{id}/break-glass").route(web::post().to(request)))
        .service(resource("/break-glass").route(web::get().to(list)))
        .service(resource("/break-glass/{id}/acknowledge").route(web::post().to(acknowledge)));
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[schema(min_length = 20, max_length = 1000)]
    reason: String,
}

/// At least a sentence: 20+ characters and 4+ words, at most 1000 characters.
fn check_reason(reason: &str) -> ApiResult<()> {
    let r = reason.trim();
    if r.chars().count() < 20 || r.split_whitespace().count() < 4 {
        return Err(ApiError::field(
            "reason",
            "give the reason in at least a sentence (20 characters, 4 words)",
        ));
    }
    if r.chars().count() > 1000 || r.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::field(
            "reason",
            "must be at most 1000 printable characters",
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/patients/{id}/break-glass", tag = "break-the-glass", security(("bearer" = [])),
    summary = "Open a record outside one's care team for a limited time, with a reason (break_glass.request; critical audit and a security event)",
    responses((status = 201, description = "The grant", body = crate::openapi::GrantIssued),
        (status = 409, description = "Already on the patient's care team")))]
async fn request(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<Request>,
) -> ApiResult<HttpResponse> {
    let minutes = clinical.break_glass_minutes;
    let grant = open(&db, minutes, ctx, id.into_inner(), body.into_inner().reason).await?;
    Ok(response::created(
        json!({ "id": grant.id, "patient_id": grant.patient_id, "expires_at": grant.expires_at }),
    ))
}

/// Open a patient's record outside the care team for `minutes`, with the
/// API's checks, audit row and security event (shared with the pages).
pub(crate) async fn open(
    db: &Db,
    minutes: i64,
    ctx: Ctx,
    id: String,
    reason: String,
) -> ApiResult<store::Grant> {
    ctx.require(P::BreakGlassRequest)?;
    check_reason(&reason)?;
    let c = ctx.clone();
    let grant = db
        .write(move |conn| {
            let (tenant, user) = (&ctx.tenant, &ctx.user);
            if !scope::exists_in_tenant(conn, tenant, &id)? {
                return Err(scope::not_found());
            }
            if care_team::is_member(conn, tenant, &id, &user.id)? {
                return Err(ApiError::Conflict(
                    "you are on this patient's care team already".into(),
                ));
            }
            let g = store::insert(
                conn,
                &ctx.keyring,
                tenant,
                &id,
                &user.id,
                reason.trim(),
                minutes,
            )?;
            let details = json!({ "grant": g.id, "expires_at": g.expires_at, "minutes": minutes });
            let event = ctx
                .patient_event("patient.break_glass", &id)
                .severity(Severity::Critical)
                .details(details.clone());
            ctx.audit(conn, &event)?;
            // Raised to company for review; the reason (PHI) stays here.
            let raised = NewEvent::new(
                "break_glass",
                Severity::Critical,
                &user.id,
                Some(tenant),
                details,
            );
            security::record(conn, &raised)?;
            Ok(g)
        })
        .await?;
    // Committed: the patient's care team hears of it.
    crate::messages::notify::break_glass(db, &c, &grant.patient_id, &grant.id).await?;
    Ok(grant)
}

#[derive(utoipa::IntoParams, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    acknowledged: Option<bool>,
    #[param(minimum = 1, maximum = 1_000_000)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

#[utoipa::path(get, path = "/break-glass", tag = "break-the-glass", security(("bearer" = [])), summary = "Grants to review (break_glass.review)",
    params(ListQuery), responses((status = 200, description = "A page of grants", body = Vec<super::store::GrantView>)))]
async fn list(db: web::Data<Db>, ctx: Ctx, q: web::Query<ListQuery>) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (views, total) = review_queue(&db, ctx, q.acknowledged, page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of grants for review, with one access-log row per grant shown
/// (shared with the pages).
pub(crate) async fn review_queue(
    db: &Db,
    ctx: Ctx,
    acknowledged: Option<bool>,
    page: Page,
) -> ApiResult<(Vec<store::GrantView>, i64)> {
    ctx.require(P::BreakGlassReview)?;
    let c = ctx.clone();
    let (views, total) = db
        .run(move |conn| {
            let (rows, total) = store::list(conn, &c.tenant, acknowledged, &page)?;
            let views = rows
                .iter()
                .map(|g| store::to_view(conn, &c.keyring, g))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((views, total))
        })
        .await?;
    // The reasons are PHI about a patient: one access-log row per grant shown.
    let events = views
        .iter()
        .map(|g| {
            ctx.patient_event("break_glass.review_read", &g.patient_id)
                .details(json!({ "grant": g.id }))
        })
        .collect();
    ctx.record(db, events).await?;
    Ok((views, total))
}

#[utoipa::path(post, path = "/break-glass/{id}/acknowledge", tag = "break-the-glass", security(("bearer" = [])), summary = "Mark a grant reviewed (break_glass.review)",
    responses((status = 200, description = "Acknowledged", body = crate::openapi::Acknowledged),
        (status = 409, description = "Already acknowledged")))]
async fn acknowledge(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    acknowledge_grant(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(json!({ "acknowledged": true })))
}

/// Mark a grant reviewed, with its audit row (shared with the pages).
pub(crate) async fn acknowledge_grant(db: &Db, ctx: Ctx, id: String) -> ApiResult<()> {
    ctx.require(P::BreakGlassReview)?;
    db.write(move |conn| {
        let g = store::get(conn, &ctx.tenant, &id)
            .map_err(|_| ApiError::NotFound("no such grant".into()))?;
        if g.acknowledged_at.is_some() {
            return Err(ApiError::Conflict("already acknowledged".into()));
        }
        store::acknowledge(conn, &ctx.tenant, &id, &ctx.user.id)?;
        let event = ctx
            .patient_event("break_glass.acknowledge", &g.patient_id)
            .details(json!({ "grant": id }));
        ctx.audit(conn, &event)
    })
    .await
}
