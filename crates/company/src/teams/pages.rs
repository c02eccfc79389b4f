//! `/teams`: teams as pages — an admin creates, renames, deletes and sets
//! leads; a team lead changes the members of the teams they lead — through
//! the same functions and rules as the API. A refusal the user can correct
//! shows the page again with the reason.

use actix_web::http::StatusCode;
use actix_web::{web, ResponseError};
use askama::Template;
use common::audit::Origin;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::render::html_status;
use common::web::{redirect, Layout, PageResult, WebUser};
use common::ApiError;
use serde::Deserialize;

use super::http::{
    add_team_member, create_team, delete_team, remove_team_member, update_team, NewMember, NewTeam,
    TeamChange,
};
use super::scope;
use super::store::{self, TeamDetail, TeamView};

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/teams", web::get().to(list))
        .route("/teams", web::post().to(create))
        .route("/teams/{id}", web::get().to(detail))
        .route("/teams/{id}", web::post().to(update))
        .route("/teams/{id}/delete", web::post().to(delete))
        .route("/teams/{id}/members", web::post().to(add))
        .route(
            "/teams/{id}/members/{user_id}/remove",
            web::post().to(remove),
        );
}

#[derive(Deserialize)]
struct ListQuery {
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "teams.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<TeamView>,
    pager: Pager,
    error: Option<String>,
    is_admin: bool,
    users: Vec<(String, String)>,
}

/// Refusals the user can correct are shown on the page; others are errors.
fn shown(e: ApiError) -> Result<(StatusCode, String), ApiError> {
    match e {
        ApiError::Validation { .. } | ApiError::Conflict(_) => Ok((e.status_code(), e.to_string())),
        other => Err(other),
    }
}

async fn render_list(
    db: &Db,
    user: WebUser,
    page: Option<i64>,
    (code, error): (StatusCode, Option<String>),
) -> PageResult {
    scope::require_reader(&user.user)?;
    let page = Page::of(page, None)?;
    let (rows, total, users) = db
        .run(move |c| {
            let (rows, total) = store::list(c, &page)?;
            Ok((rows, total, store::active_users(c)?))
        })
        .await?;
    let pager = Pager::new(&page, total, |n| format!("page={n}"));
    html_status(
        code,
        &ListPage {
            layout: user.layout("Teams"),
            is_admin: scope::require_admin(&user.user).is_ok(),
            rows,
            pager,
            error,
            users,
        },
    )
}

async fn list(db: web::Data<Db>, user: WebUser, q: web::Query<ListQuery>) -> PageResult {
    render_list(&db, user, q.page, (StatusCode::OK, None)).await
}

#[derive(Deserialize)]
struct TeamForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    lead_user_id: String,
}

async fn create(
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    form: web::Form<TeamForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let body = NewTeam {
        name: form.name,
        lead_user_id: Some(form.lead_user_id).filter(|l| !l.is_empty()),
    };
    match create_team(&db, &user.user, origin, body).await {
        Ok(t) => Ok(redirect(&format!("/teams/{}", t.team.id))),
        Err(e) => render_list(&db, user, None, shown(e).map(|(s, m)| (s, Some(m)))?).await,
    }
}

#[derive(Template)]
#[template(path = "team.html")]
struct DetailPage {
    layout: Layout,
    team: TeamDetail,
    error: Option<String>,
    is_admin: bool,
    may_change_members: bool,
    users: Vec<(String, String)>,
}

async fn render_detail(
    db: &Db,
    user: WebUser,
    id: String,
    (code, error): (StatusCode, Option<String>),
) -> PageResult {
    scope::require_reader(&user.user)?;
    let (row, team, users) = db
        .run(move |c| {
            Ok((
                store::get(c, &id)?,
                store::detail(c, &id)?,
                store::active_users(c)?,
            ))
        })
        .await?;
    html_status(
        code,
        &DetailPage {
            layout: user.layout(&format!("Team {}", team.team.name)),
            is_admin: scope::require_admin(&user.user).is_ok(),
            may_change_members: scope::shows_member_form(&user.user, &row),
            team,
            error,
            users,
        },
    )
}

async fn detail(db: web::Data<Db>, user: WebUser, id: web::Path<String>) -> PageResult {
    render_detail(&db, user, id.into_inner(), (StatusCode::OK, None)).await
}

async fn update(
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    id: web::Path<String>,
    form: web::Form<TeamForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let (id, form) = (id.into_inner(), form.into_inner());
    let body = TeamChange {
        name: Some(form.name),
        lead_user_id: Some(Some(form.lead_user_id).filter(|l| !l.is_empty())),
    };
    match update_team(&db, &user.user, origin, id.clone(), body).await {
        Ok(_) => Ok(redirect(&format!("/teams/{id}"))),
        Err(e) => render_detail(&db, user, id, shown(e).map(|(s, m)| (s, Some(m)))?).await,
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn delete(
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    id: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    delete_team(&db, &user.user, origin, id.into_inner()).await?;
    Ok(redirect("/teams"))
}

#[derive(Deserialize)]
struct MemberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_id: String,
}

async fn add(
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    id: web::Path<String>,
    form: web::Form<MemberForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let (id, form) = (id.into_inner(), form.into_inner());
    let body = NewMember {
        user_id: form.user_id,
    };
    match add_team_member(&db, &user.user, origin, id.clone(), body).await {
        Ok(_) => Ok(redirect(&format!("/teams/{id}"))),
        Err(e) => render_detail(&db, user, id, shown(e).map(|(s, m)| (s, Some(m)))?).await,
    }
}

async fn remove(
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfOnly>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let (id, member) = path.into_inner();
    remove_team_member(&db, &user.user, origin, id.clone(), member).await?;
    Ok(redirect(&format!("/teams/{id}")))
}
