//! `/tenants` and `/tenants/{id}`: the API's tenant list and detail as pages.

use actix_web::web;
use askama::Template;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::{html, Layout, PageResult, WebUser};
use common::ApiError;
use serde::Deserialize;

use super::health::{self, FilesHealth, Standing};
use super::store::{self, Filter, Tenant};
use crate::OwnerPermission;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/tenants", web::get().to(list))
        .route("/tenants/{id}", web::get().to(detail));
}

#[derive(Deserialize)]
struct Query {
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "tenants.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<Tenant>,
    pager: Pager,
}

async fn list(
    db: web::Data<Db>,
    standing: web::Data<Standing>,
    user: WebUser,
    q: web::Query<Query>,
) -> PageResult {
    user.user.require(OwnerPermission::TenantsRead)?;
    let page = Page::of(q.page, None)?;
    let s = standing.get_ref().clone();
    let (rows, total) = db
        .run(move |c| store::list(c, &Filter::default(), &page, &s))
        .await?;
    html(&ListPage {
        layout: user.layout("Tenants"),
        rows,
        pager: Pager::new(&page, total, |n| format!("page={n}")),
    })
}

#[derive(Template)]
#[template(path = "tenant.html")]
struct DetailPage {
    layout: Layout,
    t: Tenant,
    /// The patient-file store from the last heartbeat.
    files: Option<FilesHealth>,
    update: Option<health::UpdateView>,
}

async fn detail(
    db: web::Data<Db>,
    standing: web::Data<Standing>,
    user: WebUser,
    id: web::Path<String>,
) -> PageResult {
    user.user.require(OwnerPermission::TenantsRead)?;
    let id = id.into_inner();
    let s = standing.get_ref().clone();
    let (t, (files, update)) = db
        .run(move |c| {
            let t = store::find(c, &id, &s)?;
            let h = health::find(c, &id)?;
            let files = h.as_ref().and_then(|h| h.files(&s));
            let update = h.as_ref().and_then(health::HealthRow::update);
            Ok((t, (files, update)))
        })
        .await?;
    let t = t.ok_or_else(|| ApiError::NotFound("no such tenant".into()))?;
    html(&DetailPage {
        layout: user.layout(&t.name.clone()),
        t,
        files,
        update,
    })
}
