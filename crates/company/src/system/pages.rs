//! `/system`: the API's system view as a page (system.read).

use actix_web::web;
use askama::Template;
use common::db::Db;
use common::web::{html, Layout, PageResult, WebUser};

use super::config::SystemSettings;
use super::http::overview;
use super::scope;
use super::store::Overview;

/// Mount the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/system", web::get().to(show));
}

#[derive(Template)]
#[template(path = "system.html")]
struct SystemPage {
    layout: Layout,
    view: Overview,
}

async fn show(db: web::Data<Db>, settings: web::Data<SystemSettings>, user: WebUser) -> PageResult {
    scope::require_reader(&user.user)?;
    let view = overview(&db, &settings).await?;
    html(&SystemPage {
        layout: user.layout("System"),
        view,
    })
}
