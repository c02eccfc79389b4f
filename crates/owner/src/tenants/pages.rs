//! `/tenants` and `/tenants/{id}`: the API's tenant list and detail as
//! pages; the detail shows the online copy, and its "Sync now" button posts
//! to `/tenants/{id}/sync` (the API's `POST …/tenants/{id}/sync`).

use actix_web::web;
use askama::Template;
use common::audit::Origin;
use common::db::{now, Db};
use common::response::Page;
use common::web::pager::Pager;
use common::web::{html, redirect, Layout, PageResult, WebUser};
use common::ApiError;
use serde::Deserialize;

use super::backups::{self, BatchView};
use super::commands::{self, Command};
use super::health::{self, FilesHealth, Standing, SyncView};
use super::store::{self, Filter, Tenant};
use crate::OwnerPermission;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/tenants", web::get().to(list))
        .route("/tenants/{id}", web::get().to(detail))
        .route("/tenants/{id}/sync", web::post().to(sync_now));
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
    /// The online copy.
    sync: SyncView,
    /// Its newest batches.
    batches: Vec<BatchView>,
    /// A sync asked for and not yet reported on by the hospital.
    waiting: Option<Command>,
    /// Whether the caller may ask for one (and the tenant is not archived).
    can_sync: bool,
}

/// Batches the detail page lists.
const RECENT_BATCHES: i64 = 10;

impl DetailPage {
    /// The online copy's lag for people (none: not reported).
    fn lag(&self) -> Option<String> {
        self.sync.lag_secs.map(health::duration_text)
    }
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
    let (t, (files, update), (sync, batches, waiting)) = db
        .run(move |c| {
            let t = store::find(c, &id, &s)?;
            let h = health::find(c, &id)?;
            let files = h.as_ref().and_then(|h| h.files(&s));
            let update = h.as_ref().and_then(health::HealthRow::update);
            let held = backups::store::totals(c, &id)?;
            let sync = SyncView::of(&held, h.as_ref(), &s, now());
            let recent = Page::of(Some(1), Some(RECENT_BATCHES))?;
            let (batches, _) = backups::store::page(c, &id, &recent)?;
            let batches = batches.into_iter().map(BatchView::from).collect();
            let waiting = commands::waiting_sync(c, &id)?;
            Ok((t, (files, update), (sync, batches, waiting)))
        })
        .await?;
    let t = t.ok_or_else(|| ApiError::NotFound("no such tenant".into()))?;
    let can_sync = user.user.can(OwnerPermission::TenantsManage) && t.status != "archived";
    html(&DetailPage {
        layout: user.layout(&t.name.clone()),
        t,
        files,
        update,
        sync,
        batches,
        waiting,
        can_sync,
    })
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// "Sync now": the API's function, then back to the tenant.
async fn sync_now(
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    id: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    commands::queue_sync(&db, &user.user, origin, id.clone()).await?;
    Ok(redirect(&format!("/tenants/{id}")))
}
