//! The dev server's pages: the releases with their signers (download from
//! the page) and the signing keys, active and revoked — through the API's
//! queries and permissions.

use actix_web::web;
use askama::Template;
use common::auth::AuthUser;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::{html, Layout, NavLink, PageResult, Pages, WebUser};
use serde::Deserialize;

use crate::releases::config::Releases;
use crate::releases::http::artifact_response;
use crate::releases::keys::{list_keys, require_reader, KeyQuery, KeyView};
use crate::releases::store::{self, ReleaseQuery, ReleaseView};
use crate::DevPermission as P;

/// The dev server's pages for the kernel.
pub const PAGES: Pages = Pages { routes, nav };

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/releases", web::get().to(releases))
        .route("/releases/{id}/artifact", web::get().to(download));
}

fn nav(user: &AuthUser) -> Vec<NavLink> {
    let mut nav = Vec::new();
    if user.can(P::ReleasesRead) {
        nav.push(NavLink {
            href: "/releases",
            label: "Releases",
            hint: "signed builds, their signers, and the signing keys",
        });
    }
    nav
}

#[derive(Deserialize)]
struct ListParams {
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "releases.html")]
struct ReleasesPage {
    layout: Layout,
    releases: Vec<ReleaseView>,
    pager: Pager,
    keys: Vec<KeyView>,
}

async fn releases(db: web::Data<Db>, web: WebUser, q: web::Query<ListParams>) -> PageResult {
    web.user.require(P::ReleasesRead)?;
    require_reader(&web.user)?;
    let page = Page::of(q.page, None)?;
    let list = ReleaseQuery {
        page: Some(page.page),
        ..Default::default()
    };
    let keys_page = Page::of(None, Some(100))?;
    let keys_query = KeyQuery {
        owner_id: None,
        revoked: None,
        page: None,
        page_size: Some(100),
    };
    let (releases, total, keys) = db
        .run(move |c| {
            let (releases, total) = store::list(c, &list, &page)?;
            let (keys, _) = list_keys(c, &keys_query, &keys_page)?;
            Ok((releases, total, keys))
        })
        .await?;
    html(&ReleasesPage {
        layout: web.layout("Releases"),
        releases,
        pager: Pager::new(&page, total, |n| format!("page={n}")),
        keys,
    })
}

async fn download(
    db: web::Data<Db>,
    cfg: web::Data<Releases>,
    web: WebUser,
    origin: common::audit::Origin,
    id: web::Path<String>,
) -> PageResult {
    Ok(artifact_response(&db, &cfg, &web.user, origin, id.into_inner()).await?)
}
