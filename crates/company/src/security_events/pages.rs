//! `/security-events`: the API's list, with its filters, as a page.

use actix_web::web;
use askama::Template;
use common::db::Db;
use common::response::Page;
use common::web::pager::{url_escape, Pager};
use common::web::{html, Layout, PageResult, WebUser};
use serde::Deserialize;

use super::store::{self, Filter, StoredEvent};
use crate::CompanyPermission;

/// Mount the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/security-events", web::get().to(list));
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    source_service: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    tenant_id: String,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "security_events.html")]
struct ListPage {
    layout: Layout,
    q: Query,
    rows: Vec<StoredEvent>,
    pager: Pager,
}

async fn list(db: web::Data<Db>, user: WebUser, q: web::Query<Query>) -> PageResult {
    user.user.require(CompanyPermission::SecurityEventsRead)?;
    let q = q.into_inner();
    let page = Page::of(q.page, None)?;
    let some = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let filter = Filter {
        source_service: some(&q.source_service),
        tenant_id: some(&q.tenant_id),
        kind: some(&q.kind),
        severity: some(&q.severity),
        page: None,
        page_size: None,
    };
    let (rows, total) = db.run(move |c| store::list(c, &filter, &page)).await?;
    let pager = Pager::new(&page, total, |n| {
        format!(
            "source_service={}&kind={}&severity={}&tenant_id={}&page={n}",
            url_escape(&q.source_service),
            url_escape(&q.kind),
            url_escape(&q.severity),
            url_escape(&q.tenant_id)
        )
    });
    html(&ListPage {
        layout: user.layout("Security events"),
        q,
        rows,
        pager,
    })
}
