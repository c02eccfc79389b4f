//! The dev server's pages: the releases with their signers (download from
//! the page) and the signing keys, active and revoked — register one's own
//! public key, revoke one's own (an admin: any) — through the API's
//! functions, queries and rules. A refused action shows the page again
//! with the reason.

use actix_web::http::StatusCode;
use actix_web::{web, ResponseError};
use askama::Template;
use common::auth::AuthUser;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::render::html_status;
use common::web::{redirect, Layout, NavLink, PageResult, Pages, WebUser};
use common::ApiError;
use serde::Deserialize;

use crate::releases::config::Releases;
use crate::releases::http::artifact_response;
use crate::releases::keys::{list_keys, register_key, revoke_key, KeyQuery, KeyView, NewKey};
use crate::releases::scope;
use crate::releases::store::{self, ReleaseQuery, ReleaseView};
use crate::DevPermission as P;

/// The dev server's pages for the kernel.
pub const PAGES: Pages = Pages { routes, nav };

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/releases", web::get().to(releases))
        .route("/releases/{id}/artifact", web::get().to(download))
        .route("/signing-keys", web::post().to(register))
        .route("/signing-keys/{id}/revoke", web::post().to(revoke))
        .configure(crate::sandbox::pages::routes)
        .configure(crate::config_versions::pages::routes);
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
    if user.can(P::ConfigRead) {
        nav.push(NavLink {
            href: "/config",
            label: "Configuration",
            hint: "versioned configuration documents per server kind",
        });
    }
    if user.can(P::SandboxRead) {
        nav.push(NavLink {
            href: "/sandbox",
            label: "Sandbox",
            hint: "synthetic hospitals, patients and records to develop and test with",
        });
    }
    nav
}

#[derive(Deserialize)]
struct ListParams {
    page: Option<i64>,
}

/// A key as the page shows it: with whether this user may revoke it.
struct KeyLine {
    key: KeyView,
    revocable: bool,
}

#[derive(Template)]
#[template(path = "releases.html")]
struct ReleasesPage {
    layout: Layout,
    releases: Vec<ReleaseView>,
    pager: Pager,
    keys: Vec<KeyLine>,
    can_register: bool,
    error: Option<String>,
}

async fn render(
    db: &Db,
    web: WebUser,
    page: Option<i64>,
    (code, error): (StatusCode, Option<String>),
) -> PageResult {
    scope::require_release_reader(&web.user)?;
    scope::require_key_reader(&web.user)?;
    let page = Page::of(page, None)?;
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
    let keys = keys
        .into_iter()
        .map(|key| KeyLine {
            revocable: key.status == "active" && scope::may_revoke(&web.user, &key.owner_id),
            key,
        })
        .collect();
    html_status(
        code,
        &ReleasesPage {
            can_register: scope::require_key_holder(&web.user).is_ok(),
            layout: web.layout("Releases"),
            releases,
            pager: Pager::new(&page, total, |n| format!("page={n}")),
            keys,
            error,
        },
    )
}

async fn releases(db: web::Data<Db>, web: WebUser, q: web::Query<ListParams>) -> PageResult {
    render(&db, web, q.page, (StatusCode::OK, None)).await
}

/// After an action: back to the page, or the page again with why not.
async fn after<T>(db: &Db, web: WebUser, result: Result<T, ApiError>) -> PageResult {
    match result {
        Ok(_) => Ok(redirect("/releases")),
        Err(e @ (ApiError::NotFound(_) | ApiError::Forbidden(_))) => Err(e.into()),
        Err(e) => {
            let code = e.status_code();
            render(db, web, None, (code, Some(e.to_string()))).await
        }
    }
}

#[derive(Deserialize)]
struct KeyForm {
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    public_key: String,
}

async fn register(
    db: web::Data<Db>,
    web: WebUser,
    origin: common::audit::Origin,
    form: web::Form<KeyForm>,
) -> PageResult {
    web.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let body = NewKey {
        name: form.name,
        public_key: form.public_key,
    };
    let r = register_key(&db, &web.user, &origin, body).await;
    after(&db, web, r).await
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn revoke(
    db: web::Data<Db>,
    web: WebUser,
    origin: common::audit::Origin,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    web.check_csrf(&form.csrf)?;
    let r = revoke_key(&db, &web.user, &origin, id.into_inner()).await;
    after(&db, web, r).await
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
