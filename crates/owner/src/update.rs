//! Owner's own update (issue 15, item 4): owner asks company which
//! `owner-server` release is approved, every `[updates]
//! check_interval_secs`, through [`common::updates`]; `GET /update` and
//! the page `/update` show where it stands.

use actix_web::{web, HttpResponse};
use askama::Template;
use common::auth::AuthUser;
use common::db::Db;
use common::http::resource;
use common::web::{html, Layout, PageResult, WebUser};
use common::{response, ApiResult};

use crate::tenants::health::UpdateView;
use crate::OwnerPermission;

/// What an owner server runs as, for company's approvals.
pub const PRODUCT: &str = "owner-server";

/// `[updates]` on owner.
pub const SECTION: common::server::Section = common::server::Section {
    name: "updates",
    load: |config| common::updates::section_data(config, PRODUCT),
};

/// Mount the API route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/update").route(web::get().to(get)));
}

/// Mount the page.
pub fn page_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/update", web::get().to(page));
}

async fn state(db: &Db) -> ApiResult<UpdateView> {
    Ok(db.run(common::updates::health).await?.into())
}

#[utoipa::path(get, path = "/update", tag = "update", security(("bearer" = [])),
    summary = "This owner server's update: the owner-server release company approved, checked against the pinned approval key (tenants.read)",
    responses((status = 200, description = "Where this server stands", body = UpdateView)))]
async fn get(db: web::Data<Db>, user: AuthUser) -> ApiResult<HttpResponse> {
    user.require(OwnerPermission::TenantsRead)?;
    Ok(response::ok(state(&db).await?))
}

#[derive(Template)]
#[template(path = "update.html")]
struct UpdatePage {
    layout: Layout,
    u: UpdateView,
}

async fn page(db: web::Data<Db>, user: WebUser) -> PageResult {
    user.user.require(OwnerPermission::TenantsRead)?;
    let u = state(&db).await?;
    html(&UpdatePage {
        layout: user.layout("This server's update"),
        u,
    })
}
