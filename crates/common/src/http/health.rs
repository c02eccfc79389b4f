//! `/healthz` (process up), `/readyz` (database reachable and migrated),
//! `/metrics` (Prometheus text format). None needs a token: probes come
//! from load balancers and scrapers. So `/readyz` answers only "not ready"
//! (the driver's error text can name the database host, port and user; it
//! goes to the log), and `/metrics` answers only to the networks in
//! `metrics.allow` (loopback by default).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::metrics::Metrics;
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

#[utoipa::path(get, path = "/readyz", tag = "probes", summary = "The database is reachable and migrated",
    responses((status = 200, description = "Ready", body = super::openapi::schemas::Ready),
        (status = 503, description = "Not ready")))]
async fn readyz(db: web::Data<Db>) -> ApiResult<HttpResponse> {
    let db = db.get_ref().clone();
    match web::block(move || db.check_ready()).await? {
        Ok(()) => Ok(response::ok(json!({ "status": "ready" }))),
        Err(reason) => {
            tracing::warn!(reason = %format!("{reason:#}"), "not ready");
            Err(ApiError::Unavailable("not ready".into()))
        }
    }
}

#[utoipa::path(get, path = "/metrics", tag = "probes", summary = "Prometheus metrics (only to the networks in metrics.allow)",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 403, description = "Not from a network in metrics.allow")))]
async fn metrics(req: HttpRequest, metrics: web::Data<Metrics>) -> ApiResult<HttpResponse> {
    let peer = req.peer_addr().map(|a| a.ip());
    if !metrics.may_read(peer) {
        return Err(ApiError::Forbidden(
            "metrics are served only to the networks in metrics.allow".into(),
        ));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render()))
}
