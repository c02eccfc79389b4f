//! `/users`: the server's accounts (list, add, activate/deactivate), on
//! the same permission checks, stores and account functions as `…/users`.

use actix_web::web;
use askama::Template;
use serde::Deserialize;

use super::extract::WebUser;
use super::pager::{url_escape, Pager};
use super::render::{html, html_status, redirect, Layout, PageResult};
use crate::accounts::http::{create_account, set_account_active, CreateUser};
use crate::accounts::store::{self, UserFilter};
use crate::audit::Origin;
use crate::auth::AuthContext;
use crate::db::page::Page;
use crate::db::Db;
use crate::error::ApiError;
use crate::rbac::CorePermission;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/users", web::get().to(users))
        .route("/users", web::post().to(create))
        .route("/users/new", web::get().to(new_form))
        .route(
            "/users/{id}/{switch:activate|deactivate}",
            web::post().to(set_active),
        );
}

#[derive(Deserialize)]
struct UsersQuery {
    #[serde(default)]
    role: String,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    role: String,
    roles: Vec<String>,
    rows: Vec<store::User>,
    pager: Pager,
    /// Each role and what it may do.
    policy: Vec<(String, Vec<String>)>,
}

async fn users(db: web::Data<Db>, user: WebUser, q: web::Query<UsersQuery>) -> PageResult {
    user.user.require(CorePermission::UsersManage)?;
    let q = q.into_inner();
    let page = Page::of(q.page, None)?;
    let filter = UserFilter {
        role: Some(q.role.clone()).filter(|r| !r.is_empty()),
        active: None,
        page: q.page,
        page_size: None,
    };
    let tenant = user.user.tenant_id.clone();
    let (rows, total) = db
        .run(move |c| store::list(c, &tenant, &filter, &page))
        .await?;
    let role = q.role;
    let pager = Pager::new(&page, total, |p| {
        format!("role={}&page={p}", url_escape(&role))
    });
    let layout = user.layout("Users");
    html(&UsersPage {
        roles: user.user.roles(),
        policy: user.user.role_permissions(),
        layout,
        role,
        rows,
        pager,
    })
}

#[derive(Template)]
#[template(path = "user_new.html")]
struct NewUserPage {
    layout: Layout,
    error: Option<String>,
    roles: Vec<String>,
    form: NewUserForm,
}

#[derive(Deserialize, Default)]
struct NewUserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

async fn new_form(user: WebUser) -> PageResult {
    user.user.require(CorePermission::UsersManage)?;
    html(&NewUserPage {
        layout: user.layout("Add a user"),
        error: None,
        roles: user.user.roles(),
        form: NewUserForm::default(),
    })
}

/// Create an account through the API's function (policy, audit row).
async fn create(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    form: web::Form<NewUserForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let mut form = form.into_inner();
    let body = CreateUser {
        username: form.username.trim().to_string(),
        password: std::mem::take(&mut form.password),
        role: form.role.clone(),
        email: None,
        full_name: Some(form.full_name.trim().to_string()).filter(|n| !n.is_empty()),
    };
    match create_account(&ctx, &db, user.user.clone(), origin, body).await {
        Ok(_) => Ok(redirect("/users")),
        Err(e @ (ApiError::Validation { .. } | ApiError::Conflict(_))) => {
            let status = actix_web::ResponseError::status_code(&e);
            html_status(
                status,
                &NewUserPage {
                    layout: user.layout("Add a user"),
                    error: Some(e.to_string()),
                    roles: user.user.roles(),
                    form,
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn set_active(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfOnly>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let (id, switch) = path.into_inner();
    set_account_active(ctx, db, user.user, origin, id, switch == "activate").await?;
    Ok(redirect("/users"))
}
