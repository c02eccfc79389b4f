//! `/sessions`: the caller's own sessions (API and web logins alike) and
//! ending one, through the same functions as `GET …/auth/sessions` and
//! `DELETE …/auth/sessions/{id}` (same rules, same audit rows).

use actix_web::web;
use askama::Template;
use serde::Deserialize;

use super::extract::WebUser;
use super::pager::Pager;
use super::render::{html, redirect, Layout, PageResult};
use crate::accounts::sessions::{end_own_session, own_sessions};
use crate::audit::Origin;
use crate::auth::session::SessionView;
use crate::auth::AuthContext;
use crate::db::page::Page;
use crate::db::Db;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sessions", web::get().to(sessions))
        .route("/sessions/{id}/end", web::post().to(end));
}

#[derive(Deserialize)]
struct SessionsQuery {
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    layout: Layout,
    rows: Vec<SessionView>,
    pager: Pager,
}

async fn sessions(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: WebUser,
    q: web::Query<SessionsQuery>,
) -> PageResult {
    let page = Page::of(q.page, None)?;
    let (rows, total) = own_sessions(&ctx, &db, &user.user, &page).await?;
    let pager = Pager::new(&page, total, |p| format!("page={p}"));
    html(&SessionsPage {
        layout: user.layout("Your sessions"),
        rows,
        pager,
    })
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn end(
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    id: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    end_own_session(&db, &user.user, origin, id.into_inner()).await?;
    Ok(redirect("/sessions"))
}
