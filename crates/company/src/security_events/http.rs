//! `GET /api/v1/company/security-events` for the company admin.

use actix_web::{web, HttpResponse};
use common::auth::AuthUser;
use common::db::Db;
use common::http::resource;
use common::response::{self, Page};
use common::ApiResult;

use super::store::{self, Filter};
use crate::CompanyPermission;

/// Mount the public routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/security-events").route(web::get().to(list)));
}

#[utoipa::path(get, path = "/security-events", tag = "security events", security(("bearer" = [])),
    summary = "Security events of every server, newest first (security_events.read)",
    params(Filter), responses((status = 200, description = "A page of events", body = Vec<super::store::StoredEvent>)))]
async fn list(db: web::Data<Db>, user: AuthUser, q: web::Query<Filter>) -> ApiResult<HttpResponse> {
    user.require(CompanyPermission::SecurityEventsRead)?;
    let filter = q.into_inner();
    let page = Page::of(filter.page, filter.page_size)?;
    let (rows, total) = db.run(move |c| store::list(c, &filter, &page)).await?;
    Ok(response::page(rows, &page, total))
}
