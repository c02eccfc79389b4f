//! `GET …/tenants/{id}/backups`: the batches owner holds of a tenant's
//! online copy, newest first (headers only). `POST …/tenants/{id}/sync`
//! lives with the other commands (`commands.rs`).

use actix_web::{web, HttpResponse};
use common::auth::AuthUser;
use common::db::{Db, Page};
use common::response::{self, PageQuery};
use common::{ApiError, ApiResult};

use super::{store, BatchView};
use crate::tenants::store as tenants;
use crate::OwnerPermission as P;

/// Mount the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use common::http::resource;
    cfg.service(resource("/tenants/{id}/backups").route(web::get().to(list)));
}

#[utoipa::path(get, path = "/tenants/{id}/backups", tag = "tenants", security(("bearer" = [])),
    summary = "The online copy owner holds of the tenant: its sealed batches, newest first (tenants.read)",
    description = "Headers only (numbers, sequence range, changes, bytes, times): owner holds no key to open a batch.",
    params(PageQuery), responses((status = 200, description = "A page of batches", body = Vec<BatchView>),
        (status = 404, description = "No such tenant")))]
pub(crate) async fn list(
    db: web::Data<Db>,
    user: AuthUser,
    id: web::Path<String>,
    q: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    user.require(P::TenantsRead)?;
    let page = Page::from_query(&q)?;
    let tenant = id.into_inner();
    let (rows, total) = db
        .run(move |c| {
            tenants::find_row(c, &tenant)?
                .ok_or_else(|| ApiError::NotFound("no such tenant".into()))?;
            store::page(c, &tenant, &page)
        })
        .await?;
    let rows: Vec<BatchView> = rows.into_iter().map(Into::into).collect();
    Ok(response::page(rows, &page, total))
}
