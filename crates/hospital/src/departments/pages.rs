//! `/departments`: the tenant's departments (the API's list and permission).

use actix_web::web;
use askama::Template;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::{html, Layout, PageResult};
use serde::Deserialize;

use super::store::{self, Department};
use crate::pages::PageCtx;
use crate::HospitalPermission as P;

/// Mount the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/departments", web::get().to(list));
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    all: bool,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "departments.html")]
struct ListPage {
    layout: Layout,
    all: bool,
    rows: Vec<Department>,
    pager: Pager,
}

/// A read of no PHI: nothing to record (as on the API).
async fn list(db: web::Data<Db>, p: PageCtx, q: web::Query<Query>) -> PageResult {
    p.ctx.require(P::DepartmentsRead)?;
    let page = Page::of(q.page, None)?;
    let all = q.all;
    let tenant = p.ctx.tenant.clone();
    let (rows, total) = db
        .run_quick(move |c| store::list(c, &tenant, all, &page))
        .await?;
    html(&ListPage {
        layout: p.web.layout("Departments"),
        all,
        rows,
        pager: Pager::new(&page, total, |n| format!("all={all}&page={n}")),
    })
}
