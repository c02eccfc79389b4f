//! `GET …/tenants`, `GET …/tenants/{id}`.

use actix_web::{web, HttpResponse};
use common::auth::AuthUser;
use common::db::Db;
use common::response::{self, Page, PageQuery};
use common::{ApiError, ApiResult};

use super::store;
use crate::OwnerPermission;

/// Mount the tenant routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use common::http::resource;
    cfg.service(resource("/tenants").route(web::get().to(list)))
        .service(resource("/tenants/{id}").route(web::get().to(get)));
}

#[utoipa::path(get, path = "/tenants", tag = "tenants", security(("bearer" = [])), summary = "The tenants (hospitals) (tenants.read)",
    params(PageQuery), responses((status = 200, description = "A page of tenants", body = Vec<super::store::Tenant>)))]
async fn list(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    user.require(OwnerPermission::TenantsRead)?;
    let page = Page::from_query(&q)?;
    let (rows, total) = db.run(move |c| store::list(c, &page)).await?;
    Ok(response::page(rows, &page, total))
}

#[utoipa::path(get, path = "/tenants/{id}", tag = "tenants", security(("bearer" = [])), summary = "One tenant (tenants.read)",
    responses((status = 200, description = "The tenant", body = super::store::Tenant)))]
async fn get(db: web::Data<Db>, user: AuthUser, id: web::Path<String>) -> ApiResult<HttpResponse> {
    user.require(OwnerPermission::TenantsRead)?;
    let id = id.into_inner();
    let t = db
        .run(move |c| store::find(c, &id))
        .await?
        .ok_or_else(|| ApiError::NotFound("no such tenant".into()))?;
    Ok(response::ok(t))
}
