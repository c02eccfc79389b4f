//! `/audit-anchors`: the audit-chain heads a server reported (the API's
//! list, one server at a time).

use actix_web::web;
use askama::Template;
use common::db::Db;
use common::rbac::CorePermission;
use common::response::Page;
use common::web::pager::{url_escape, Pager};
use common::web::{html, Layout, PageResult, WebUser};
use common::ApiError;
use contracts::AuditAnchor;
use serde::Deserialize;

use super::store;

/// Mount the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit-anchors", web::get().to(list));
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    service: String,
    #[serde(default)]
    tenant: String,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "anchors.html")]
struct ListPage {
    layout: Layout,
    service: String,
    tenant: String,
    rows: Vec<AuditAnchor>,
    pager: Pager,
}

async fn list(db: web::Data<Db>, user: WebUser, q: web::Query<Query>) -> PageResult {
    user.user.require(CorePermission::AuditRead)?;
    let q = q.into_inner();
    let service = if q.service.is_empty() {
        "hospital".to_string()
    } else {
        q.service
    };
    if !matches!(service.as_str(), "hospital" | "owner" | "dev") {
        return Err(ApiError::field("service", "must be hospital, owner or dev").into());
    }
    let page = Page::of(q.page, None)?;
    let (s, t) = (service.clone(), q.tenant.trim().to_string());
    let (rows, total) = db.run(move |c| store::list(c, &s, &t, &page)).await?;
    let tenant = q.tenant;
    let pager = Pager::new(&page, total, |n| {
        format!(
            "service={}&tenant={}&page={n}",
            url_escape(&service),
            url_escape(&tenant)
        )
    });
    html(&ListPage {
        layout: user.layout("Audit anchors"),
        service,
        tenant,
        rows,
        pager,
    })
}
