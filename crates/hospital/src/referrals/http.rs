//! `POST|GET …/referrals`, `GET …/referrals/{id}`,
//! `POST …/referrals/{id}/{accept,decline,cancel}`.

use actix_web::{web, HttpResponse};
use common::accounts::store as users;
use common::db::{now, Db, DbConn};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::json;

use super::model::{ReferralDirection, ReferralStatus, ReferralView};
use super::scope;
use super::store::{self, ListFilter, Referral};
use crate::appointments::model::{check_id, check_text};
use crate::care_team::store as care_team_store;
use crate::context::Ctx;
use crate::departments::store as departments;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/referrals")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(resource("/referrals/{id}").route(web::get().to(get)))
    .service(resource("/referrals/{id}/accept").route(web::post().to(accept)))
    .service(resource("/referrals/{id}/decline").route(web::post().to(decline)))
    .service(resource("/referrals/{id}/cancel").route(web::post().to(cancel)));
}

/// A referral: to exactly one of a doctor or a department.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ReferralRequest {
    /// The patient (on the referring doctor's care team).
    #[schema(min_length = 1, max_length = 64)]
    pub patient_id: String,
    /// The doctor referred to (a user who receives referrals; not oneself).
    #[schema(min_length = 1, max_length = 64)]
    pub to_doctor_id: Option<String>,
    /// The department referred to (active).
    #[schema(min_length = 1, max_length = 64)]
    pub to_department_id: Option<String>,
    /// Why (3 to 2000 characters; clinical, sealed).
    #[schema(min_length = 3, max_length = 2000)]
    pub reason: String,
}

/// Why a referral is declined.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ReferralDeclineRequest {
    /// Why (3 to 1000 characters; sealed).
    #[schema(min_length = 3, max_length = 1000)]
    pub reason: String,
}

#[utoipa::path(post, path = "/referrals", tag = "referrals", security(("bearer" = [])),
    summary = "Refer a patient on one's care team to a doctor or a department (referrals.write)",
    request_body = ReferralRequest,
    responses((status = 201, description = "Referred (pending)", body = ReferralView),
        (status = 404, description = "No such patient, or not one the caller may see"),
        (status = 409, description = "CONFLICT: the patient already has a pending referral to that doctor or department")))]
async fn create(
    db: web::Data<Db>,
    ctx: Ctx,
    body: web::Json<ReferralRequest>,
) -> ApiResult<HttpResponse> {
    let view = refer(&db, ctx, body.into_inner()).await?;
    Ok(response::created(view))
}

/// Refer, with the API's checks and audit row (shared with pages).
pub(crate) async fn refer(db: &Db, ctx: Ctx, req: ReferralRequest) -> ApiResult<ReferralView> {
    scope::require_referrer(&ctx.user)?;
    check_id("patient_id", &req.patient_id)?;
    let (to_doctor, to_department) = match (blank(&req.to_doctor_id), blank(&req.to_department_id))
    {
        (Some(d), None) => {
            check_id("to_doctor_id", d)?;
            (Some(d.to_string()), None)
        }
        (None, Some(d)) => {
            check_id("to_department_id", d)?;
            (None, Some(d.to_string()))
        }
        _ => {
            return Err(ApiError::field(
                "to_doctor_id",
                "give exactly one of to_doctor_id and to_department_id",
            ))
        }
    };
    let reason = check_text("reason", &req.reason, 3, 2000)?;
    let c = ctx.clone();
    let r = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            scope::require_referrer_for(conn, user, tenant, &req.patient_id)?;
            if let Some(d) = &to_doctor {
                if *d == user.id {
                    return Err(ApiError::field(
                        "to_doctor_id",
                        "one does not refer to oneself",
                    ));
                }
                let to = users::get_in_tenant(conn, tenant, d)
                    .map_err(|_| ApiError::field("to_doctor_id", "no such doctor"))?;
                if !to.active || !user.role_can(&to.role, P::ReferralsReceive) {
                    return Err(ApiError::field(
                        "to_doctor_id",
                        "not an active doctor who receives referrals",
                    ));
                }
            }
            if let Some(d) = &to_department {
                let dept = departments::get(conn, tenant, d)
                    .map_err(|_| ApiError::field("to_department_id", "no such department"))?;
                if !dept.active {
                    return Err(ApiError::field(
                        "to_department_id",
                        "the department is not in use",
                    ));
                }
            }
            if store::pending_exists(
                conn,
                tenant,
                &req.patient_id,
                to_doctor.as_deref(),
                to_department.as_deref(),
            )? {
                return Err(ApiError::Conflict(
                    "the patient already has a pending referral there".into(),
                ));
            }
            let id = uuid::Uuid::new_v4().to_string();
            let t = now();
            let r = Referral {
                reason_enc: store::seal(conn, &c.keyring, tenant, "reason", &id, &reason)?,
                id,
                tenant_id: tenant.clone(),
                patient_id: req.patient_id.clone(),
                referred_by: user.id.clone(),
                to_doctor_id: to_doctor.clone(),
                to_department_id: to_department.clone(),
                status: ReferralStatus::Pending.as_str().to_string(),
                decline_reason_enc: None,
                decided_by: None,
                decided_at: None,
                created_at: t,
                updated_at: t,
            };
            store::insert(conn, &r)?;
            // Ids only: the reason is clinical.
            let event = c
                .patient_event("referral.create", &r.patient_id)
                .details(json!({
                    "referral": r.id, "to_doctor_id": r.to_doctor_id,
                    "to_department_id": r.to_department_id,
                }));
            c.audit(conn, &event)?;
            Ok(r)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &r)).await
}

/// A given, non-blank text.
fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The referral `id` the caller is about to accept or decline: a
/// department referral someone else decided meanwhile is a conflict.
fn to_decide(conn: &mut DbConn, c: &Ctx, id: &str) -> ApiResult<Referral> {
    match store::find_visible(conn, scope::visible(&c.user, &c.tenant)?, id)? {
        Some(r) => Ok(r),
        None if scope::was_open_to(conn, &c.user, &c.tenant, id)? => Err(ApiError::Conflict(
            "the referral was decided or cancelled meanwhile".into(),
        )),
        None => Err(scope::not_found()),
    }
}

fn reread(conn: &mut DbConn, c: &Ctx, id: &str) -> ApiResult<Referral> {
    store::find_visible(conn, scope::visible(&c.user, &c.tenant)?, id)?.ok_or_else(scope::not_found)
}

#[utoipa::path(get, path = "/referrals/{id}", tag = "referrals", security(("bearer" = [])),
    summary = "One referral with its reason (written to the patient's access log)",
    responses((status = 200, description = "The referral", body = ReferralView)))]
async fn get(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let view = read_referral(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(view))
}

/// One referral, with its access-log row (shared with pages).
pub(crate) async fn read_referral(db: &Db, ctx: Ctx, id: String) -> ApiResult<ReferralView> {
    scope::require_reader(&ctx.user)?;
    let c = ctx.clone();
    let view = db
        .run(move |conn| {
            let r = reread(conn, &c, &id)?;
            store::to_view(conn, &c.keyring, &r)
        })
        .await?;
    ctx.record(db, vec![read_event(&ctx, &view)]).await?;
    Ok(view)
}

fn read_event(ctx: &Ctx, v: &ReferralView) -> common::audit::Event {
    ctx.patient_event("referral.read", &v.patient_id)
        .details(json!({ "referral": v.id }))
}

/// The list's filters and page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ReferralListQuery {
    /// `incoming` (to oneself, or pending to a department) or `outgoing`
    /// (made by oneself); both when absent.
    pub direction: Option<ReferralDirection>,
    /// Only in this status.
    pub status: Option<ReferralStatus>,
    /// One patient's referrals.
    pub patient_id: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/referrals", tag = "referrals", security(("bearer" = [])),
    summary = "Referrals the caller may see, newest first, with their reasons (each shown is written to its patient's access log)",
    params(ReferralListQuery),
    responses((status = 200, description = "A page of referrals", body = Vec<ReferralView>)))]
async fn list(
    db: web::Data<Db>,
    ctx: Ctx,
    q: web::Query<ReferralListQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (views, total) = list_referrals(&db, ctx, &q, page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of referrals, one access-log row per referral shown (shared with pages).
pub(crate) async fn list_referrals(
    db: &Db,
    ctx: Ctx,
    q: &ReferralListQuery,
    page: Page,
) -> ApiResult<(Vec<ReferralView>, i64)> {
    scope::require_reader(&ctx.user)?;
    if let Some(p) = &q.patient_id {
        check_id("patient_id", p)?;
    }
    let filter = ListFilter {
        direction: q.direction,
        me: ctx.user.id.clone(),
        status: q.status,
        patient_id: q.patient_id.clone(),
    };
    let c = ctx.clone();
    let (views, total) = db
        .run(move |conn| {
            let (rows, total) =
                store::list(conn, || scope::visible(&c.user, &c.tenant), &filter, &page)?;
            let views = rows
                .iter()
                .map(|r| store::to_view(conn, &c.keyring, r))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((views, total))
        })
        .await?;
    let events = views.iter().map(|v| read_event(&ctx, v)).collect();
    ctx.record(db, events).await?;
    Ok((views, total))
}

fn not_pending(status: ReferralStatus) -> ApiError {
    ApiError::Conflict(format!("the referral is {}", status.as_str()))
}

#[utoipa::path(post, path = "/referrals/{id}/accept", tag = "referrals", security(("bearer" = [])),
    summary = "Accept a pending referral (referrals.receive, the doctor referred to or, for a department, another doctor): the caller joins the patient's care team",
    responses((status = 200, description = "Accepted", body = ReferralView),
        (status = 409, description = "CONFLICT: the referral is no longer pending (accepted, declined or cancelled meanwhile)")))]
async fn accept(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let view = accept_referral(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(view))
}

/// Accept (shared with pages).
pub(crate) async fn accept_referral(db: &Db, ctx: Ctx, id: String) -> ApiResult<ReferralView> {
    scope::require_receiver(&ctx.user)?;
    let c = ctx.clone();
    let (r, joined) = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            let r = to_decide(conn, &c, &id)?;
            scope::require_receiver_of(user, &r)?;
            let status = r.status()?;
            if status != ReferralStatus::Pending {
                return Err(not_pending(status));
            }
            if !store::decide(conn, &r, ReferralStatus::Accepted, &user.id, None)? {
                return Err(ApiError::Conflict("the referral changed meanwhile".into()));
            }
            let joined = !care_team_store::is_member(conn, tenant, &r.patient_id, &user.id)?;
            if joined {
                let me = users::get_in_tenant(conn, tenant, &user.id)?;
                crate::care_team::http::join(conn, &c, &r.patient_id, &me)?;
            }
            let event = c
                .patient_event("referral.accept", &r.patient_id)
                .details(json!({ "referral": r.id, "joined_care_team": joined }));
            c.audit(conn, &event)?;
            Ok((reread(conn, &c, &r.id)?, joined))
        })
        .await?;
    if joined {
        crate::messages::notify::care_team_added(&ctx, &r.patient_id, &ctx.user.id);
    }
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &r)).await
}

#[utoipa::path(post, path = "/referrals/{id}/decline", tag = "referrals", security(("bearer" = [])),
    summary = "Decline a pending referral with a reason (referrals.receive, the doctor referred to or, for a department, another doctor)",
    request_body = ReferralDeclineRequest,
    responses((status = 200, description = "Declined", body = ReferralView),
        (status = 409, description = "CONFLICT: the referral is no longer pending")))]
async fn decline(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<ReferralDeclineRequest>,
) -> ApiResult<HttpResponse> {
    let view = decline_referral(&db, ctx, id.into_inner(), body.into_inner().reason).await?;
    Ok(response::ok(view))
}

/// Decline (shared with pages).
pub(crate) async fn decline_referral(
    db: &Db,
    ctx: Ctx,
    id: String,
    reason: String,
) -> ApiResult<ReferralView> {
    scope::require_receiver(&ctx.user)?;
    let reason = check_text("reason", &reason, 3, 1000)?;
    let c = ctx.clone();
    let r = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            let r = to_decide(conn, &c, &id)?;
            scope::require_receiver_of(user, &r)?;
            let status = r.status()?;
            if status != ReferralStatus::Pending {
                return Err(not_pending(status));
            }
            let sealed = store::seal(conn, &c.keyring, tenant, "decline_reason", &r.id, &reason)?;
            if !store::decide(conn, &r, ReferralStatus::Declined, &user.id, Some(sealed))? {
                return Err(ApiError::Conflict("the referral changed meanwhile".into()));
            }
            let event = c
                .patient_event("referral.decline", &r.patient_id)
                .details(json!({ "referral": r.id }));
            c.audit(conn, &event)?;
            reread(conn, &c, &r.id)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &r)).await
}

#[utoipa::path(post, path = "/referrals/{id}/cancel", tag = "referrals", security(("bearer" = [])),
    summary = "Cancel one's own pending referral (referrals.write, the referring doctor)",
    responses((status = 200, description = "Cancelled", body = ReferralView),
        (status = 409, description = "CONFLICT: the referral is no longer pending")))]
async fn cancel(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let view = cancel_referral(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(view))
}

/// Cancel (shared with pages).
pub(crate) async fn cancel_referral(db: &Db, ctx: Ctx, id: String) -> ApiResult<ReferralView> {
    scope::require_referrer(&ctx.user)?;
    let c = ctx.clone();
    let r = db
        .write(move |conn| {
            let user = &c.user;
            let r = reread(conn, &c, &id)?;
            scope::require_own(user, &r)?;
            let status = r.status()?;
            if status != ReferralStatus::Pending {
                return Err(not_pending(status));
            }
            if !store::decide(conn, &r, ReferralStatus::Cancelled, &user.id, None)? {
                return Err(ApiError::Conflict("the referral changed meanwhile".into()));
            }
            let event = c
                .patient_event("referral.cancel", &r.patient_id)
                .details(json!({ "referral": r.id }));
            c.audit(conn, &event)?;
            reread(conn, &c, &r.id)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &r)).await
}
