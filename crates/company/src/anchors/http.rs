//! `GET /api/v1/company/audit-anchors?service=…&tenant=…` for the company admin.

use actix_web::{web, HttpResponse};
use common::auth::AuthUser;
use common::db::Db;
use common::http::resource;
use common::rbac::CorePermission;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::Deserialize;

use super::store;

/// Mount the public route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/audit-anchors").route(web::get().to(list)));
}

#[derive(utoipa::IntoParams, Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    #[param(pattern = r"^(hospital|owner|dev)$")]
    service: String,
    tenant: Option<String>,
    #[param(minimum = 1, maximum = 1_000_000)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

#[utoipa::path(get, path = "/audit-anchors", tag = "audit anchors", security(("bearer" = [])),
    summary = "Audit chain anchors other servers reported (audit.read)",
    params(Query), responses((status = 200, description = "A page of anchors", body = Vec<crate::openapi::AnchorView>)))]
async fn list(db: web::Data<Db>, user: AuthUser, q: web::Query<Query>) -> ApiResult<HttpResponse> {
    user.require(CorePermission::AuditRead)?;
    let q = q.into_inner();
    if !matches!(q.service.as_str(), "hospital" | "owner" | "dev") {
        return Err(ApiError::field("service", "must be hospital, owner or dev"));
    }
    let page = Page::of(q.page, q.page_size)?;
    let tenant = q.tenant.unwrap_or_default();
    let (rows, total) = db
        .run(move |c| store::list(c, &q.service, &tenant, &page))
        .await?;
    Ok(response::page(rows, &page, total))
}
