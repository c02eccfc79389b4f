//! What company reads from dev over mTLS (dev makes no outbound call):
//! dev's security events after a cursor, and its audit head. Only the
//! company identity is admitted.

use actix_web::{web, HttpResponse};
use common::db::Db;
use common::mtls::{internal_resource, Allowed};
use common::{plane, response, security, ApiError, ApiResult};
use contracts::paths;
use serde::Deserialize;

/// Mount the internal routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    common::mtls::peer::whoami_route(cfg, &[Allowed::Company]);
    cfg.service(
        internal_resource(paths::DEV_SECURITY_EVENTS, &[Allowed::Company])
            .route(web::get().to(events)),
    )
    .service(internal_resource(paths::AUDIT_HEAD, &[Allowed::Company]).route(web::get().to(head)));
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct After {
    after: Option<i64>,
    limit: Option<i64>,
}

async fn events(db: web::Data<Db>, q: web::Query<After>) -> ApiResult<HttpResponse> {
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(100);
    if after < 0 || !(1..=500).contains(&limit) {
        return Err(ApiError::validation("after must be ≥ 0 and limit 1..=500"));
    }
    let rows = db.run(move |c| security::after(c, after, limit)).await?;
    Ok(response::ok(rows))
}

async fn head(db: web::Data<Db>) -> ApiResult<HttpResponse> {
    Ok(response::ok(db.run(plane::head).await?))
}
