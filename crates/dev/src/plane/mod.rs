//! What company reads from dev over mTLS (dev makes no outbound call):
//! dev's security events after a cursor, its audit head, the signed
//! releases (and their artifacts) and the developers' signing keys. Only
//! the company identity is admitted.

use actix_web::{web, HttpResponse};
use common::audit::Origin;
use common::db::Db;
use common::mtls::peer::PeerIdentity;
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
    .service(internal_resource(paths::AUDIT_HEAD, &[Allowed::Company]).route(web::get().to(head)))
    .service(
        internal_resource(paths::DEV_RELEASES, &[Allowed::Company]).route(web::get().to(releases)),
    )
    .service(
        internal_resource(paths::DEV_RELEASE_ARTIFACT, &[Allowed::Company])
            .route(web::get().to(artifact)),
    )
    .service(
        internal_resource(paths::DEV_SIGNING_KEYS, &[Allowed::Company])
            .route(web::get().to(signing_keys)),
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Offset {
    offset: Option<i64>,
    limit: Option<i64>,
}

/// Releases in the order dev stored them, from `offset` (releases are
/// never deleted, so the count company has seen is its cursor).
async fn releases(db: web::Data<Db>, q: web::Query<Offset>) -> ApiResult<HttpResponse> {
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(100);
    if offset < 0 || !(1..=500).contains(&limit) {
        return Err(ApiError::validation("offset must be ≥ 0 and limit 1..=500"));
    }
    let rows = db
        .run(move |c| crate::releases::store::offers(c, offset, limit))
        .await?;
    Ok(response::ok(rows))
}

/// Every signing key, revoked ones with their revocation time.
async fn signing_keys(db: web::Data<Db>) -> ApiResult<HttpResponse> {
    Ok(response::ok(db.run(crate::releases::keys::offers).await?))
}

/// A release's artifact, streamed; the download is audited with company's identity.
async fn artifact(
    db: web::Data<Db>,
    cfg: web::Data<crate::releases::config::Releases>,
    peer: PeerIdentity,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    let who = peer.0.uri();
    let row = db
        .write(move |c| {
            let row = crate::releases::store::find(c, &id)?;
            crate::releases::http::downloaded(c, &row, &who, "service", &origin)?;
            Ok(row)
        })
        .await?;
    crate::releases::http::stream_artifact(&cfg, row).await
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
