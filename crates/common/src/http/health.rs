//! `/healthz` (process up), `/readyz` (database reachable and migrated),
//! `/metrics` (Prometheus text format). None needs a token: probes come
//! from load balancers and scrapers. So `/readyz` answers only "not ready"
//! (the driver's error text can name the database host, port and user; it
//! goes to the log), and `/metrics` answers only to the networks in
//! `metrics.allow` (loopback by default).
//!
//! A caller of `/readyz` who presents the bearer token of the server's
//! admin also gets `details`: the state of the server's own dependencies
//! that do not decide readiness ([`ReadyDetails`], the hospital's insurance
//! circuit breaker). Anyone else, and a bad or missing token, gets the bare
//! answer; the token never turns a ready server into an error.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::metrics::{Metrics, ServerMetrics};
use crate::auth::{AuthContext, AuthUser};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::response;
use crate::service::Service;

/// Register the three probes at the root of the public listener.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/healthz").route(web::get().to(healthz)))
        .service(super::resource("/readyz").route(web::get().to(readyz)))
        .service(super::resource("/metrics").route(web::get().to(metrics)));
}

#[utoipa::path(get, path = "/healthz", tag = "probes", summary = "The process is up",
    responses((status = 200, description = "Up", body = super::openapi::schemas::Health)))]
async fn healthz(service: web::Data<Service>) -> HttpResponse {
    response::ok(json!({ "status": "ok", "service": service.name() }))
}

#[utoipa::path(get, path = "/readyz", tag = "probes", summary = "The database is reachable and migrated, and the server's own dependencies (the hospital's object store) answer; the server's admin (bearer token) also gets details (the hospital's insurance circuit breaker)",
    responses((status = 200, description = "Ready (`details` only for the server's admin)", body = super::openapi::schemas::Ready),
        (status = 503, description = "Not ready")))]
async fn readyz(
    db: web::Data<Db>,
    probe: Option<web::Data<ReadyProbe>>,
    details: Option<web::Data<ReadyDetails>>,
    auth: web::Data<AuthContext>,
    caller: Option<AuthUser>,
) -> ApiResult<HttpResponse> {
    let db = db.get_ref().clone();
    if let Err(reason) = web::block(move || db.check_ready()).await? {
        tracing::warn!(reason = %format!("{reason:#}"), "not ready");
        return Err(ApiError::Unavailable("not ready".into()));
    }
    if let Some(probe) = probe {
        if let Err(reason) = (probe.check)().await {
            tracing::warn!(dependency = probe.name, reason = %format!("{reason:#}"), "not ready");
            return Err(ApiError::Unavailable("not ready".into()));
        }
    }
    match (details, caller) {
        (Some(details), Some(caller)) if caller.is_admin() => {
            let shown = (details.details)(auth.clock.now());
            Ok(response::ok(
                json!({ "status": "ready", "details": { details.name: shown } }),
            ))
        }
        _ => Ok(response::ok(json!({ "status": "ready" }))),
    }
}

/// What `/readyz` shows the server's admin under `details.<name>`, beside
/// readiness and never deciding it (the hospital's insurance circuit
/// breaker: open, the hospital still works). Registered as app data; one
/// per server. The function gets the time by the server's clock.
pub struct ReadyDetails {
    name: &'static str,
    details: DetailsFn,
}

type DetailsFn = Box<dyn Fn(chrono::NaiveDateTime) -> serde_json::Value + Send + Sync>;

impl ReadyDetails {
    /// Details named `name`, computed by `details` at each call.
    pub fn new<F>(name: &'static str, details: F) -> Self
    where
        F: Fn(chrono::NaiveDateTime) -> serde_json::Value + Send + Sync + 'static,
    {
        Self {
            name,
            details: Box::new(details),
        }
    }
}

/// A dependency of a server's own (the hospital's object store) that
/// `/readyz` checks after the database. Registered as app data.
pub struct ReadyProbe {
    name: &'static str,
    check: ProbeFn,
}

type ProbeFn = Box<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>>>>
        + Send
        + Sync,
>;

impl ReadyProbe {
    /// A probe named `name` (logged when it fails, never answered).
    pub fn new<F>(name: &'static str, check: F) -> Self
    where
        F: Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>>>>
            + Send
            + Sync
            + 'static,
    {
        Self {
            name,
            check: Box::new(check),
        }
    }
}

#[utoipa::path(get, path = "/metrics", tag = "probes", summary = "Prometheus metrics (only to the networks in metrics.allow)",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 403, description = "Not from a network in metrics.allow")))]
async fn metrics(
    req: HttpRequest,
    metrics: web::Data<Metrics>,
    own: Option<web::Data<ServerMetrics>>,
) -> ApiResult<HttpResponse> {
    let peer = req.peer_addr().map(|a| a.ip());
    if !metrics.may_read(peer) {
        return Err(ApiError::Forbidden(
            "metrics are served only to the networks in metrics.allow".into(),
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render_with(own.as_ref().map(|m| m.get_ref()))))
}
