//! `/healthz` (process up), `/readyz` (database reachable and migrated),
//! `/metrics` (Prometheus text format).

use actix_web::{web, HttpResponse};
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

async fn healthz(service: web::Data<Service>) -> HttpResponse {
    response::ok(json!({ "status": "ok", "service": service.name() }))
}

async fn readyz(db: web::Data<Db>) -> ApiResult<HttpResponse> {
    let db = db.get_ref().clone();
    match web::block(move || db.check_ready()).await? {
        Ok(()) => Ok(response::ok(json!({ "status": "ready" }))),
        Err(reason) => {
            tracing::warn!(reason = %reason, "not ready");
            Err(ApiError::Unavailable(format!("not ready: {reason}")))
        }
    }
}

async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}
