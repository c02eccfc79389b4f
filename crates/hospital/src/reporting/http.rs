//! `POST|GET …/reports`, `GET …/reports/{id}`: the hospital admin makes a
//! de-identified report now, lists what was made and sent, and reads the
//! exact bytes that left (or will leave) the hospital.

use actix_web::{web, HttpResponse};
use common::db::{now, Db};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use contracts::report::{is_uuid, IsoWeek, MAX_WEEKS};
use serde::Deserialize;

use super::store::{self, ReportView};
use super::worker::{self, Requester};
use super::{compute, scope, Reporting};
use crate::context::Ctx;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/reports")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(resource("/reports/{id}").route(web::get().to(get)));
}

/// The period of a report made on demand (default: the configured number
/// of weeks up to the current one).
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// First ISO week (`2026-W45`); with `to`.
    #[schema(value_type = Option<String>, example = "2026-W45")]
    pub from: Option<String>,
    /// Last ISO week (`2026-W49`), not after the current one; with `from`.
    #[schema(value_type = Option<String>, example = "2026-W49")]
    pub to: Option<String>,
}

/// Check a requested period against the configuration and the clock.
pub(crate) fn period(req: &ReportRequest, weeks: u32) -> ApiResult<(IsoWeek, IsoWeek)> {
    let current = IsoWeek::of(now().date());
    let (from, to) = match (&req.from, &req.to) {
        (None, None) => return Ok(compute::default_period(now(), weeks)),
        (Some(f), Some(t)) => (
            IsoWeek::parse(f).map_err(|e| ApiError::field("from", e))?,
            IsoWeek::parse(t).map_err(|e| ApiError::field("to", e))?,
        ),
        _ => return Err(ApiError::validation("give both from and to, or neither")),
    };
    if from > to {
        return Err(ApiError::field("from", "must not be after to"));
    }
    if to > current {
        return Err(ApiError::field("to", "must not be after the current week"));
    }
    if from.span(to) > MAX_WEEKS {
        return Err(ApiError::field(
            "from",
            format!("a report covers at most {MAX_WEEKS} weeks"),
        ));
    }
    Ok((from, to))
}

#[utoipa::path(post, path = "/reports", tag = "reports", security(("bearer" = [])),
    summary = "Compute a de-identified report of the tenant now and queue it for company (reports.send)",
    request_body = ReportRequest,
    responses((status = 201, description = "Computed and stored as pending; the plane worker sends it", body = ReportView),
        (status = 400, description = "A bad period"),
        (status = 401, description = "Not logged in"),
        (status = 403, description = "Not reports.send"),
        (status = 409, description = "REPORTING_DISABLED, or NOT_THIS_CERTIFICATE (a hosted server's certificate speaks for another tenant)")))]
async fn create(
    db: web::Data<Db>,
    ctx: Ctx,
    reporting: web::Data<Reporting>,
    body: web::Json<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    // An object only: serde would also read `[from, to]` as the struct.
    if !body.is_object() {
        return Err(ApiError::validation("the body must be a JSON object"));
    }
    let req: ReportRequest = serde_json::from_value(body.into_inner())
        .map_err(|e| ApiError::validation(format!("the body is not a report request: {e}")))?;
    let view = make(&db, &ctx, &reporting, &req).await?;
    Ok(response::created(view))
}

/// Make a report on the admin's request (shared with the page).
pub(crate) async fn make(
    db: &Db,
    ctx: &Ctx,
    reporting: &Reporting,
    req: &ReportRequest,
) -> ApiResult<ReportView> {
    scope::require_sender(&ctx.user)?;
    let period = period(req, reporting.section.weeks)?;
    scope::check_can_report(reporting, &ctx.tenant)?;
    let by = Requester {
        origin: "admin",
        actor: ctx.user.id.clone(),
        role: ctx.user.role.clone(),
        request: ctx.origin.clone(),
    };
    worker::create(
        db,
        &ctx.keyring,
        &ctx.tenant,
        &reporting.section,
        period,
        by,
    )
    .await
}

/// A list's page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ReportListQuery {
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/reports", tag = "reports", security(("bearer" = [])),
    summary = "The tenant's de-identified reports, newest first: period, hash, status, when sent (reports.read)",
    params(ReportListQuery),
    responses((status = 200, description = "A page of reports", body = Vec<ReportView>),
        (status = 400, description = "A bad page"),
        (status = 401, description = "Not logged in"),
        (status = 403, description = "Not reports.read")))]
async fn list(
    db: web::Data<Db>,
    ctx: Ctx,
    q: web::Query<ReportListQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&ctx.user)?;
    let page = Page::of(q.page, q.page_size)?;
    let tenant = ctx.tenant.clone();
    let (rows, total) = db.run(move |c| store::list(c, &tenant, &page)).await?;
    Ok(response::page(rows, &page, total))
}

#[utoipa::path(get, path = "/reports/{id}", tag = "reports", security(("bearer" = [])),
    summary = "Exactly the bytes sent (or to be sent) to company, as JSON; the status and hash in headers (reports.read)",
    params(("id" = String, Path, description = "Report id")),
    responses((status = 200, description = "The report's exact bytes (the contracts::report wire format, not the envelope); headers x-report-status, x-report-sha256", content_type = "application/json"),
        (status = 400, description = "Not a report id"),
        (status = 401, description = "Not logged in"),
        (status = 403, description = "Not reports.read"),
        (status = 404, description = "No such report in the tenant")))]
async fn get(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    scope::require_reader(&ctx.user)?;
    let id = id.into_inner();
    if !is_uuid(&id) {
        return Err(ApiError::field("id", "not a report id"));
    }
    let tenant = ctx.tenant.clone();
    let row = db.run(move |c| store::find(c, &tenant, &id)).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("x-report-status", row.status.clone()))
        .insert_header(("x-report-sha256", row.sha256.clone()))
        .body(row.body))
}
