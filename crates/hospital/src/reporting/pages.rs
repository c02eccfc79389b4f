//! `/reports`: the hospital admin's "sent reports" — what left (or will
//! leave) for company and when, a button to send one now, and each
//! report's exact bytes — through the API's functions.

use actix_web::web;
use askama::Template;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::{html, redirect, Layout, PageResult};
use common::ApiError;
use contracts::report::is_uuid;
use serde::Deserialize;

use super::http::{make, ReportRequest};
use super::store::{self, ReportView};
use super::{scope, Reporting};
use crate::pages::PageCtx;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports", web::get().to(list))
        .route("/reports", web::post().to(send))
        .route("/reports/{id}", web::get().to(show));
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<ReportView>,
    pager: Pager,
    can_send: bool,
    suppress_below: u32,
    weeks: u32,
}

#[derive(Deserialize)]
struct ListQuery {
    page: Option<i64>,
}

async fn list(
    db: web::Data<Db>,
    reporting: web::Data<Reporting>,
    p: PageCtx,
    q: web::Query<ListQuery>,
) -> PageResult {
    scope::require_reader(&p.ctx.user)?;
    let page = Page::of(q.page, None)?;
    let tenant = p.ctx.tenant.clone();
    let (rows, total) = db.run(move |c| store::list(c, &tenant, &page)).await?;
    html(&ListPage {
        layout: p.web.layout("Reports sent to company"),
        rows,
        pager: Pager::new(&page, total, |n| format!("page={n}")),
        can_send: scope::require_sender(&p.ctx.user).is_ok(),
        suppress_below: reporting.section.suppress_below,
        weeks: reporting.section.weeks,
    })
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn send(
    db: web::Data<Db>,
    reporting: web::Data<Reporting>,
    p: PageCtx,
    form: web::Form<CsrfOnly>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let view = make(&db, &p.ctx, &reporting, &ReportRequest::default()).await?;
    Ok(redirect(&format!("/reports/{}", view.id)))
}

#[derive(Template)]
#[template(path = "report.html")]
struct ShowPage {
    layout: Layout,
    report: ReportView,
    body: String,
}

async fn show(db: web::Data<Db>, p: PageCtx, id: web::Path<String>) -> PageResult {
    scope::require_reader(&p.ctx.user)?;
    let id = id.into_inner();
    if !is_uuid(&id) {
        return Err(ApiError::NotFound("no such report".into()).into());
    }
    let tenant = p.ctx.tenant.clone();
    let row = db.run(move |c| store::find(c, &tenant, &id)).await?;
    // Pretty-printed for reading; the hash is of the exact bytes, which
    // the API's GET /reports/{id} serves as they are.
    let body = serde_json::from_str::<serde_json::Value>(&row.body)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| row.body.clone());
    html(&ShowPage {
        layout: p.web.layout("A report sent to company"),
        report: ReportView::from(row),
        body,
    })
}
