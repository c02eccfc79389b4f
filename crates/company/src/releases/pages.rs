//! `/releases`: the releases pulled from dev as a page — a production user
//! promotes, a team lead approves, either rejects — through the same
//! functions and rules as the API. A refused action shows the page again
//! with the reason.

use actix_web::http::StatusCode;
use actix_web::{web, ResponseError};
use askama::Template;
use common::audit::Origin;
use common::db::Db;
use common::response::Page;
use common::web::pager::{url_escape, Pager};
use common::web::render::html_status;
use common::web::{redirect, Layout, PageResult, WebUser};
use common::ApiError;
use serde::Deserialize;

use super::config::Desk;
use super::http::{approve_release, promote_release, reject_release};
use super::scope;
use super::store::{self, ReleaseQuery, ReleaseView};
use crate::CompanyPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/releases", web::get().to(list))
        .route("/releases/{id}/{action}", web::post().to(act));
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    status: String,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "releases.html")]
struct ListPage {
    layout: Layout,
    status: String,
    rows: Vec<ReleaseView>,
    pager: Pager,
    error: Option<String>,
    can_promote: bool,
    can_approve: bool,
    approval_key: Option<String>,
}

async fn render(
    db: &Db,
    desk: &Desk,
    user: WebUser,
    status: String,
    page: Option<i64>,
    (code, error): (StatusCode, Option<String>),
) -> PageResult {
    scope::require_reader(&user.user)?;
    if !status.is_empty() && !store::status::ALL.contains(&status.as_str()) {
        return Err(
            ApiError::field("status", "one of candidate, promoted, approved, rejected").into(),
        );
    }
    let page = Page::of(page, None)?;
    let q = ReleaseQuery {
        status: Some(status.clone()).filter(|s| !s.is_empty()),
        ..Default::default()
    };
    let (rows, total) = db.run(move |c| store::list(c, &q, &page)).await?;
    let filter = status.clone();
    let pager = Pager::new(&page, total, |n| {
        format!("status={}&page={n}", url_escape(&filter))
    });
    html_status(
        code,
        &ListPage {
            layout: user.layout("Releases"),
            status,
            rows,
            pager,
            error,
            can_promote: user.user.can(P::ReleasesPromote),
            can_approve: user.user.can(P::ReleasesApprove),
            approval_key: desk.approval_public_key.clone(),
        },
    )
}

async fn list(
    db: web::Data<Db>,
    desk: web::Data<Desk>,
    user: WebUser,
    q: web::Query<Query>,
) -> PageResult {
    let q = q.into_inner();
    render(&db, &desk, user, q.status, q.page, (StatusCode::OK, None)).await
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// After an action: back to the list, or the list again with why not.
async fn after(
    db: &Db,
    desk: &Desk,
    user: WebUser,
    result: Result<ReleaseView, ApiError>,
) -> PageResult {
    match result {
        Ok(_) => Ok(redirect("/releases")),
        Err(e @ (ApiError::NotFound(_) | ApiError::Unauthenticated(_))) => Err(e.into()),
        Err(ApiError::Forbidden(m)) => Err(ApiError::Forbidden(m).into()),
        Err(e) => {
            let code = e.status_code();
            render(
                db,
                desk,
                user,
                String::new(),
                None,
                (code, Some(e.to_string())),
            )
            .await
        }
    }
}

/// Promote, approve or reject (the form's path says which).
async fn act(
    db: web::Data<Db>,
    desk: web::Data<Desk>,
    user: WebUser,
    origin: Origin,
    path: web::Path<(String, String)>,
    form: web::Form<ActionForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let (id, action) = path.into_inner();
    let r = match action.as_str() {
        "promote" => promote_release(&db, &desk, &user.user, &origin, id).await,
        "approve" => approve_release(&db, &desk, &user.user, &origin, id).await,
        "reject" => reject_release(&db, &user.user, &origin, id, &form.reason).await,
        _ => Err(ApiError::NotFound("no such action".into())),
    };
    after(&db, &desk, user, r).await
}
