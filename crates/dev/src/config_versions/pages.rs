//! `/config`: a kind's versions with reasons, hashes and publication, the
//! document download, and (for `config.write`) the forms that add a
//! version, roll back and publish — through the API's functions and rules.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use askama::Template;
use common::audit::Origin;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::render::html_status;
use common::web::{redirect, Layout, PageResult, WebUser};
use common::ApiError;
use serde::Deserialize;

use super::http::{add_version, publish_with, roll_back, ConfigVersionRequest};
use super::store::{self, ConfigVersionView};
use super::{check_kind, product, scope, KINDS};

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/config", web::get().to(show))
        .route("/config/{kind}/versions", web::post().to(create))
        .route(
            "/config/{kind}/versions/{version}/rollback",
            web::post().to(rollback),
        )
        .route(
            "/config/{kind}/versions/{version}/publish",
            web::post().to(publish),
        )
        .route(
            "/config/{kind}/versions/{version}/document",
            web::get().to(download),
        );
}

#[derive(Deserialize)]
struct Params {
    kind: Option<String>,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "config.html")]
struct ConfigPage {
    layout: Layout,
    kinds: &'static [&'static str],
    kind: String,
    product: String,
    versions: Vec<ConfigVersionView>,
    pager: Pager,
    can_write: bool,
    draft: String,
    error: Option<String>,
}

async fn render(
    db: &Db,
    web: WebUser,
    kind: String,
    page: Option<i64>,
    (code, error, draft): (StatusCode, Option<String>, String),
) -> PageResult {
    scope::require_reader(&web.user)?;
    check_kind(&kind)?;
    let page = Page::of(page, None)?;
    let k = kind.clone();
    let (rows, total) = db.run(move |c| store::list(c, &k, &page)).await?;
    let k = kind.clone();
    html_status(
        code,
        &ConfigPage {
            can_write: scope::require_writer(&web.user).is_ok(),
            layout: web.layout("Configuration"),
            kinds: KINDS,
            product: product(&kind),
            versions: rows.iter().map(store::VersionRow::view).collect(),
            pager: Pager::new(&page, total, move |n| format!("kind={k}&page={n}")),
            kind,
            draft,
            error,
        },
    )
}

async fn show(db: web::Data<Db>, web: WebUser, q: web::Query<Params>) -> PageResult {
    let q = q.into_inner();
    let kind = q.kind.unwrap_or_else(|| KINDS[0].to_string());
    render(
        &db,
        web,
        kind,
        q.page,
        (StatusCode::OK, None, String::new()),
    )
    .await
}

/// After an action: back to the kind's page, or the page again with why not.
async fn after<T>(
    db: &Db,
    web: WebUser,
    kind: String,
    draft: String,
    r: Result<T, ApiError>,
) -> PageResult {
    match r {
        Ok(_) => Ok(redirect(&format!("/config?kind={kind}"))),
        Err(e @ (ApiError::NotFound(_) | ApiError::Forbidden(_))) => Err(e.into()),
        Err(e) => {
            let code = e.status_code();
            render(db, web, kind, None, (code, Some(e.to_string()), draft)).await
        }
    }
}

#[derive(Deserialize)]
struct VersionForm {
    csrf: String,
    #[serde(default)]
    document: String,
    #[serde(default)]
    reason: String,
}

async fn create(
    db: web::Data<Db>,
    web: WebUser,
    origin: Origin,
    kind: web::Path<String>,
    form: web::Form<VersionForm>,
) -> PageResult {
    web.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let kind = kind.into_inner();
    let r = match serde_json::from_str(&form.document) {
        Ok(document) => {
            let body = ConfigVersionRequest {
                document,
                reason: form.reason,
            };
            add_version(&db, web.user.clone(), origin, kind.clone(), body).await
        }
        Err(_) => Err(ApiError::field("document", "is not JSON")),
    };
    after(&db, web, kind, form.document, r).await
}

#[derive(Deserialize)]
struct RollbackForm {
    csrf: String,
    #[serde(default)]
    reason: String,
}

fn version_of(v: &str) -> Result<i64, ApiError> {
    v.parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::NotFound("no such version".into()))
}

async fn rollback(
    db: web::Data<Db>,
    web: WebUser,
    origin: Origin,
    p: web::Path<(String, String)>,
    form: web::Form<RollbackForm>,
) -> PageResult {
    web.check_csrf(&form.csrf)?;
    let (kind, v) = p.into_inner();
    let n = version_of(&v)?;
    let r = roll_back(&db, web.user.clone(), origin, kind.clone(), n, &form.reason).await;
    after(&db, web, kind, String::new(), r).await
}

#[derive(Deserialize)]
struct PublishForm {
    csrf: String,
    #[serde(default)]
    release_id: String,
}

async fn publish(
    db: web::Data<Db>,
    web: WebUser,
    origin: Origin,
    p: web::Path<(String, String)>,
    form: web::Form<PublishForm>,
) -> PageResult {
    web.check_csrf(&form.csrf)?;
    let (kind, v) = p.into_inner();
    let n = version_of(&v)?;
    let release = form.into_inner().release_id.trim().to_string();
    let r = publish_with(&db, web.user.clone(), origin, kind.clone(), n, release).await;
    after(&db, web, kind, String::new(), r).await
}

async fn download(db: web::Data<Db>, web: WebUser, p: web::Path<(String, String)>) -> PageResult {
    scope::require_reader(&web.user)?;
    let (kind, v) = p.into_inner();
    check_kind(&kind)?;
    let n = version_of(&v)?;
    let row = db
        .run(move |c| {
            store::get(c, &kind, n)?.ok_or_else(|| ApiError::NotFound("no such version".into()))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("content-type", "application/json"))
        .insert_header((
            "content-disposition",
            format!(
                "attachment; filename=\"{}-config-{}.json\"",
                row.kind, row.version
            ),
        ))
        .body(row.document))
}
