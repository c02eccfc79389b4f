//! `POST|GET …/lab-orders`, `GET …/lab-orders/{id}`,
//! `POST …/lab-orders/{id}/{results,finalize,amendments,cancel}`.

use actix_web::{web, HttpResponse};
use common::db::{now, Db, DbConn};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::json;

use super::model::{
    self, LabOrderKind, LabOrderStatus, LabOrderView, LabPriority, LabResult, LabTest,
};
use super::scope;
use super::store::{self, Amendment, LabOrder, ListFilter};
use crate::appointments::model::{check_id, check_text};
use crate::context::Ctx;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/lab-orders")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(resource("/lab-orders/{id}").route(web::get().to(get)))
    .service(resource("/lab-orders/{id}/results").route(web::post().to(results)))
    .service(resource("/lab-orders/{id}/finalize").route(web::post().to(finalize)))
    .service(resource("/lab-orders/{id}/amendments").route(web::post().to(amend)))
    .service(resource("/lab-orders/{id}/cancel").route(web::post().to(cancel)));
}

/// A lab order.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct LabOrderRequest {
    /// The patient (on the ordering doctor's care team).
    #[schema(min_length = 1, max_length = 64)]
    pub patient_id: String,
    /// The tests, 1 to 20, codes unique.
    #[schema(min_items = 1, max_items = 20)]
    pub tests: Vec<LabTest>,
    /// Lab tests (default) or imaging studies.
    #[serde(default = "lab")]
    pub kind: LabOrderKind,
    /// How soon (default routine).
    #[serde(default = "routine")]
    pub priority: LabPriority,
    /// Notes for the lab (at most 1000).
    #[schema(max_length = 1000)]
    pub notes: Option<String>,
}

fn routine() -> LabPriority {
    LabPriority::Routine
}

fn lab() -> LabOrderKind {
    LabOrderKind::Lab
}

const ORDERS: &str = "lab_orders";
const AMENDMENTS: &str = "lab_result_amendments";

#[utoipa::path(post, path = "/lab-orders", tag = "labs", security(("bearer" = [])),
    summary = "Order lab tests or imaging studies (kind) for a patient on one's care team (labs.order)",
    request_body = LabOrderRequest,
    responses((status = 201, description = "Ordered", body = LabOrderView)))]
async fn create(
    db: web::Data<Db>,
    ctx: Ctx,
    body: web::Json<LabOrderRequest>,
) -> ApiResult<HttpResponse> {
    let view = order(&db, ctx, body.into_inner()).await?;
    Ok(response::created(view))
}

/// Order tests, with the API's checks and audit row (shared with pages).
pub(crate) async fn order(db: &Db, ctx: Ctx, req: LabOrderRequest) -> ApiResult<LabOrderView> {
    scope::require_orderer(&ctx.user)?;
    check_id("patient_id", &req.patient_id)?;
    let tests = model::tests(&req.tests)?;
    let notes = match req.notes.as_deref() {
        Some(n) if !n.trim().is_empty() => Some(check_text("notes", n, 1, 1000)?),
        _ => None,
    };
    let c = ctx.clone();
    let o = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            scope::require_orderer_for(conn, user, tenant, &req.patient_id)?;
            let id = uuid::Uuid::new_v4().to_string();
            let notes_enc = match &notes {
                Some(n) => Some(store::seal(
                    conn, &c.keyring, tenant, ORDERS, "notes", &id, n,
                )?),
                None => None,
            };
            let t = now();
            let o = LabOrder {
                tests_enc: store::seal_json(
                    conn, &c.keyring, tenant, ORDERS, "tests", &id, &tests,
                )?,
                notes_enc,
                id,
                tenant_id: tenant.clone(),
                patient_id: req.patient_id.clone(),
                ordered_by: user.id.clone(),
                priority: req.priority.as_str().to_string(),
                kind: req.kind.as_str().to_string(),
                status: LabOrderStatus::Ordered.as_str().to_string(),
                test_count: tests.len() as i64,
                resulted_count: 0,
                results_enc: None,
                finalized_by: None,
                finalized_at: None,
                created_at: t,
                updated_by: user.id.clone(),
                updated_at: t,
            };
            store::insert(conn, &o)?;
            // Ids and counts only: the tests ordered are PHI.
            let event = c
                .patient_event("lab_order.create", &o.patient_id)
                .details(json!({
                    "lab_order": o.id, "tests": o.test_count, "priority": o.priority,
                    "kind": o.kind,
                }));
            c.audit(conn, &event)?;
            Ok(o)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &o)).await
}

fn reread(conn: &mut DbConn, c: &Ctx, id: &str) -> ApiResult<LabOrder> {
    store::find_visible(conn, scope::visible(&c.user, &c.tenant)?, id)?.ok_or_else(scope::not_found)
}

#[utoipa::path(get, path = "/lab-orders/{id}", tag = "labs", security(("bearer" = [])),
    summary = "One lab order with its results and amendments (written to the patient's access log); a patient sees only their own finalized orders",
    responses((status = 200, description = "The order", body = LabOrderView)))]
async fn get(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let view = read_order(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(view))
}

/// One order, with its access-log row (shared with pages).
pub(crate) async fn read_order(db: &Db, ctx: Ctx, id: String) -> ApiResult<LabOrderView> {
    scope::require_reader(&ctx.user)?;
    let c = ctx.clone();
    let view = db
        .run(move |conn| {
            let o = reread(conn, &c, &id)?;
            store::to_view(conn, &c.keyring, &o)
        })
        .await?;
    ctx.record(db, vec![read_event(&ctx, &view)]).await?;
    Ok(view)
}

fn read_event(ctx: &Ctx, v: &LabOrderView) -> common::audit::Event {
    ctx.patient_event("lab_order.read", &v.patient_id)
        .details(json!({ "lab_order": v.id }))
}

/// The list's filters and page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct LabOrderListQuery {
    /// One patient's orders.
    pub patient_id: Option<String>,
    /// Only in this status.
    pub status: Option<LabOrderStatus>,
    /// Only ordered or in progress (the lab's worklist).
    pub open: Option<bool>,
    /// Only lab or only imaging orders.
    pub kind: Option<LabOrderKind>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/lab-orders", tag = "labs", security(("bearer" = [])),
    summary = "Lab and imaging orders the caller may see, oldest first: the lab's or radiologist's worklist (open=true), a care team's patients and one's own orders, a patient's own finalized results (each shown is written to its patient's access log)",
    params(LabOrderListQuery), responses((status = 200, description = "A page of lab orders", body = Vec<LabOrderView>)))]
async fn list(
    db: web::Data<Db>,
    ctx: Ctx,
    q: web::Query<LabOrderListQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (views, total) = list_orders(&db, ctx, &q, page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of orders, one access-log row per order shown (shared with pages).
pub(crate) async fn list_orders(
    db: &Db,
    ctx: Ctx,
    q: &LabOrderListQuery,
    page: Page,
) -> ApiResult<(Vec<LabOrderView>, i64)> {
    scope::require_reader(&ctx.user)?;
    if let Some(p) = &q.patient_id {
        check_id("patient_id", p)?;
    }
    let filter = ListFilter {
        patient_id: q.patient_id.clone(),
        status: q.status,
        open: q.open.unwrap_or(false),
        kind: q.kind,
    };
    let c = ctx.clone();
    let (views, total) = db
        .run(move |conn| {
            let (rows, total) =
                store::list(conn, || scope::visible(&c.user, &c.tenant), &filter, &page)?;
            let views = rows
                .iter()
                .map(|o| store::to_view(conn, &c.keyring, o))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((views, total))
        })
        .await?;
    let events = views.iter().map(|v| read_event(&ctx, v)).collect();
    ctx.record(db, events).await?;
    Ok((views, total))
}

/// Results entered for some or all of an order's tests.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct LabResultsRequest {
    /// 1 to 20 results, each for a test of the order (a test's result
    /// entered again replaces the earlier one until the order is finalized).
    #[schema(min_items = 1, max_items = 20)]
    pub results: Vec<LabResult>,
}

fn closed(status: LabOrderStatus) -> ApiError {
    match status {
        LabOrderStatus::Finalized => {
            ApiError::Conflict("the lab order is finalized; correct it with an amendment".into())
        }
        s => ApiError::Conflict(format!("the lab order is {}", s.as_str().replace('_', " "))),
    }
}

#[utoipa::path(post, path = "/lab-orders/{id}/results", tag = "labs", security(("bearer" = [])),
    summary = "Enter results for tests of an open order (labs.result; imaging.result for imaging orders): per test value, unit, reference range and abnormal flag",
    request_body = LabResultsRequest,
    responses((status = 200, description = "Entered; the order in progress", body = LabOrderView),
        (status = 409, description = "The order is finalized (amend it) or cancelled")))]
async fn results(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<LabResultsRequest>,
) -> ApiResult<HttpResponse> {
    let view = enter_results(&db, ctx, id.into_inner(), body.into_inner().results).await?;
    Ok(response::ok(view))
}

/// Enter results (shared with pages).
pub(crate) async fn enter_results(
    db: &Db,
    ctx: Ctx,
    id: String,
    fresh: Vec<LabResult>,
) -> ApiResult<LabOrderView> {
    scope::require_lab(&ctx.user)?;
    let c = ctx.clone();
    let o = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            let o = reread(conn, &c, &id)?;
            scope::require_lab_for(user, o.kind()?)?;
            let status = o.status()?;
            if !status.open() {
                return Err(closed(status));
            }
            let tests = store::tests_of(conn, &c.keyring, &o)?;
            let fresh = model::results(&fresh, &tests)?;
            let entered = store::results_of(conn, &c.keyring, &o)?;
            let all = model::merge(&tests, &entered, &fresh);
            let sealed =
                store::seal_json(conn, &c.keyring, tenant, ORDERS, "results", &o.id, &all)?;
            if !store::set_results(conn, &o, &sealed, all.len() as i64, &user.id)? {
                return Err(ApiError::Conflict("the lab order changed meanwhile".into()));
            }
            let event = c
                .patient_event("lab_order.results", &o.patient_id)
                .details(json!({
                    "lab_order": o.id, "entered": fresh.len(), "resulted": all.len(),
                    "tests": o.test_count,
                }));
            c.audit(conn, &event)?;
            reread(conn, &c, &o.id)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &o)).await
}

#[utoipa::path(post, path = "/lab-orders/{id}/finalize", tag = "labs", security(("bearer" = [])),
    summary = "Finalize an order whose every test has a result (labs.result; imaging.result for imaging orders): from then on it is fixed, corrected only by amendments, and the patient sees it",
    responses((status = 200, description = "Finalized", body = LabOrderView),
        (status = 409, description = "RESULTS_INCOMPLETE: `details.missing` lists the codes of tests without a result; CONFLICT when already finalized or cancelled")))]
async fn finalize(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let view = finalize_order(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(view))
}

/// Finalize (shared with pages).
pub(crate) async fn finalize_order(db: &Db, ctx: Ctx, id: String) -> ApiResult<LabOrderView> {
    scope::require_lab(&ctx.user)?;
    let c = ctx.clone();
    let o = db
        .write(move |conn| {
            let user = &c.user;
            let o = reread(conn, &c, &id)?;
            scope::require_lab_for(user, o.kind()?)?;
            let status = o.status()?;
            if !status.open() {
                return Err(closed(status));
            }
            let tests = store::tests_of(conn, &c.keyring, &o)?;
            let results = store::results_of(conn, &c.keyring, &o)?;
            let missing = model::missing(&tests, &results);
            if !missing.is_empty() {
                return Err(ApiError::Warning {
                    code: "RESULTS_INCOMPLETE",
                    message: format!(
                        "{} of {} tests have no result yet",
                        missing.len(),
                        tests.len()
                    ),
                    details: json!({ "missing": missing }),
                });
            }
            if !store::finalize(conn, &o, &user.id)? {
                return Err(ApiError::Conflict("the lab order changed meanwhile".into()));
            }
            let event = c
                .patient_event("lab_order.finalize", &o.patient_id)
                .details(json!({
                    "lab_order": o.id, "tests": o.test_count,
                    "results_hash": model::results_hash(&results)?,
                }));
            c.audit(conn, &event)?;
            reread(conn, &c, &o.id)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &o)).await
}

/// A correction of finalized results.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct LabAmendmentRequest {
    /// Why (3 to 500 characters, sealed).
    #[schema(min_length = 3, max_length = 500)]
    pub reason: String,
    /// The corrected results of some or all tests; tests not named keep
    /// their current result.
    #[schema(min_items = 1, max_items = 20)]
    pub results: Vec<LabResult>,
}

#[utoipa::path(post, path = "/lab-orders/{id}/amendments", tag = "labs", security(("bearer" = [])),
    summary = "Correct the results of a finalized order (labs.result; imaging.result for imaging orders): the finalized results stay; the amendment records who, why, when and the whole corrected results",
    request_body = LabAmendmentRequest,
    responses((status = 201, description = "Amended; the order with all its amendments", body = LabOrderView),
        (status = 409, description = "The order is not finalized (enter results instead)")))]
async fn amend(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<LabAmendmentRequest>,
) -> ApiResult<HttpResponse> {
    let view = amend_order(&db, ctx, id.into_inner(), body.into_inner()).await?;
    Ok(response::created(view))
}

/// Amend (shared with pages).
pub(crate) async fn amend_order(
    db: &Db,
    ctx: Ctx,
    id: String,
    req: LabAmendmentRequest,
) -> ApiResult<LabOrderView> {
    scope::require_lab(&ctx.user)?;
    let reason = check_text("reason", &req.reason, 3, 500)?;
    let c = ctx.clone();
    let o = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            let o = reread(conn, &c, &id)?;
            scope::require_lab_for(user, o.kind()?)?;
            if o.status()? != LabOrderStatus::Finalized {
                return Err(ApiError::Conflict(
                    "only a finalized lab order is amended; enter results instead".into(),
                ));
            }
            let tests = store::tests_of(conn, &c.keyring, &o)?;
            let fresh = model::results(&req.results, &tests)?;
            let current = match store::amendments_of(conn, &o)?.last() {
                Some(a) => {
                    let json = c.keyring.decrypt(
                        conn,
                        tenant,
                        &a.results_enc,
                        &store::aad(tenant, AMENDMENTS, "results", &a.id),
                    )?;
                    serde_json::from_str(&json).map_err(|_| {
                        ApiError::Internal(anyhow::anyhow!("sealed lab results are not JSON"))
                    })?
                }
                None => store::results_of(conn, &c.keyring, &o)?,
            };
            let corrected = model::merge(&tests, &current, &fresh);
            let aid = uuid::Uuid::new_v4().to_string();
            let a = Amendment {
                reason_enc: store::seal(
                    conn, &c.keyring, tenant, AMENDMENTS, "reason", &aid, &reason,
                )?,
                results_enc: store::seal_json(
                    conn, &c.keyring, tenant, AMENDMENTS, "results", &aid, &corrected,
                )?,
                id: aid,
                tenant_id: tenant.clone(),
                order_id: o.id.clone(),
                amended_by: user.id.clone(),
                created_at: now(),
            };
            store::insert_amendment(conn, &a)?;
            let event = c
                .patient_event("lab_order.amend", &o.patient_id)
                .details(json!({
                    "lab_order": o.id, "amendment": a.id, "corrected": fresh.len(),
                    "results_hash": model::results_hash(&corrected)?,
                }));
            c.audit(conn, &event)?;
            Ok(o)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &o)).await
}

#[utoipa::path(post, path = "/lab-orders/{id}/cancel", tag = "labs", security(("bearer" = [])),
    summary = "Cancel one's own order before any result is entered (labs.order, the ordering doctor)",
    responses((status = 200, description = "Cancelled", body = LabOrderView),
        (status = 409, description = "Results were entered, or it is finalized or cancelled")))]
async fn cancel(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let view = cancel_order(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(view))
}

/// Cancel (shared with pages).
pub(crate) async fn cancel_order(db: &Db, ctx: Ctx, id: String) -> ApiResult<LabOrderView> {
    scope::require_orderer(&ctx.user)?;
    let c = ctx.clone();
    let o = db
        .write(move |conn| {
            let user = &c.user;
            let o = reread(conn, &c, &id)?;
            scope::require_own_order(user, &o.ordered_by)?;
            let status = o.status()?;
            if status != LabOrderStatus::Ordered || o.resulted_count > 0 {
                return Err(match status {
                    LabOrderStatus::InProgress => ApiError::Conflict(
                        "results were entered; the lab order can no longer be cancelled".into(),
                    ),
                    s => closed(s),
                });
            }
            if !store::cancel(conn, &o, &user.id)? {
                return Err(ApiError::Conflict("the lab order changed meanwhile".into()));
            }
            let event = c
                .patient_event("lab_order.cancel", &o.patient_id)
                .details(json!({ "lab_order": o.id }));
            c.audit(conn, &event)?;
            reread(conn, &c, &o.id)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &o)).await
}
