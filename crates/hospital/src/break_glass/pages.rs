//! Break-the-glass pages: the reason form (shown on a chart outside the
//! care team) and the administrator's review queue, through the API's
//! functions (same checks, audit rows and security event).

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::{html, redirect, Layout, PageResult};
use common::ApiError;
use serde::Deserialize;

use super::http::{acknowledge_grant, open, review_queue};
use super::store::GrantView;
use crate::pages::PageCtx;
use crate::patients::pages::break_glass_form;
use crate::settings::ClinicalSection;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/patients/{id}/break-glass", web::post().to(request))
        .route("/break-glass", web::get().to(queue))
        .route("/break-glass/{id}/acknowledge", web::post().to(acknowledge));
}

#[derive(Deserialize)]
struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn request(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<ReasonForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    let reason = form.into_inner().reason;
    let minutes = clinical.break_glass_minutes;
    match open(&db, minutes, p.ctx, id.clone(), reason.clone()).await {
        Ok(_) => Ok(redirect(&format!("/patients/{id}"))),
        Err(e @ ApiError::Validation { .. }) => break_glass_form(
            p.web.layout("Not on this patient's care team"),
            StatusCode::BAD_REQUEST,
            id,
            Some(e.to_string()),
            reason,
        ),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "break_glass_queue.html")]
struct QueuePage {
    layout: Layout,
    rows: Vec<GrantView>,
    pager: Pager,
    pending_only: bool,
}

#[derive(Deserialize)]
struct QueueQuery {
    #[serde(default)]
    all: bool,
    page: Option<i64>,
}

async fn queue(db: web::Data<Db>, p: PageCtx, q: web::Query<QueueQuery>) -> PageResult {
    let page = Page::of(q.page, None)?;
    let pending_only = !q.all;
    let filter = pending_only.then_some(false);
    let (rows, total) = review_queue(&db, p.ctx, filter, page).await?;
    html(&QueuePage {
        layout: p.web.layout("Break-the-glass review"),
        rows,
        pager: Pager::new(&page, total, |n| format!("all={}&page={n}", !pending_only)),
        pending_only,
    })
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn acknowledge(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    acknowledge_grant(&db, p.ctx, id.into_inner()).await?;
    Ok(redirect("/break-glass"))
}
