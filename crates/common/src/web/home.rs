//! `/home`: what the caller's role works on here, and nothing else.

use actix_web::web;
use askama::Template;

use super::extract::WebUser;
use super::render::{html, Layout, PageResult};
use super::NavLink;

/// Mount the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/home", web::get().to(home));
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    tasks: Vec<NavLink>,
}

async fn home(user: WebUser) -> PageResult {
    let layout = user.layout("Home");
    let tasks = layout.nav.clone();
    html(&HomePage { layout, tasks })
}
