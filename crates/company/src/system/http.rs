//! `GET /system`: the plane's state as company sees it (system.read).

use actix_web::{web, HttpResponse};
use common::auth::AuthUser;
use common::db::Db;
use common::http::resource;
use common::{response, ApiResult};

use super::config::SystemSettings;
use super::scope;
use super::store::{self, Overview};

/// Mount the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/system").route(web::get().to(get)));
}

/// Build the view (the API and the page).
pub(crate) async fn overview(db: &Db, settings: &SystemSettings) -> ApiResult<Overview> {
    let stored = db.run(store::overview).await?;
    let certificates = store::certificates(&settings.issued_json, chrono::Utc::now()).await;
    Ok(Overview {
        sources: stored.sources,
        own_backlog: stored.own_backlog,
        anchor_mismatches: stored.mismatches,
        anchor_mismatch_total: stored.mismatch_total,
        open_alerts: stored.open_alerts,
        certificates,
    })
}

#[utoipa::path(get, path = "/system", tag = "system", security(("bearer" = [])),
    summary = "The plane's state: last deliveries of security events and anchors per server, outbox backlogs, anchor mismatches, certificates expiring within 30 days, open alerts (system.read)",
    responses((status = 200, description = "The system view", body = Overview),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "The role may not read the system view")))]
async fn get(
    db: web::Data<Db>,
    settings: web::Data<SystemSettings>,
    user: AuthUser,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    Ok(response::ok(overview(&db, &settings).await?))
}
