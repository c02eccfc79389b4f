//! `/users` and `/audit`: the pages every server's administrator has, on
//! the same permission checks and stores as `…/users` and `…/audit`.

use actix_web::web;
use askama::Template;
use serde::Deserialize;

use super::extract::WebUser;
use super::render::{html, html_status, redirect, Layout, PageResult};
use crate::accounts::http::{create_account, set_account_active, CreateUser};
use crate::accounts::store::{self, UserFilter};
use crate::audit::Origin;
use crate::audit::{self, AuditRow, Filter};
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
        )
        .route("/audit", web::get().to(audit_log));
}

/// Where a list is and the links to its neighbours.
pub struct Pager {
    /// 1-based page.
    pub page: i64,
    /// Pages in all (at least 1).
    pub pages: i64,
    /// Rows matching.
    pub total: i64,
    /// The query string of the previous page, if any.
    pub prev: Option<String>,
    /// The query string of the next page, if any.
    pub next: Option<String>,
}

impl Pager {
    /// The pager of `page` of `total` rows; `query` builds a page's query string.
    pub fn new(page: &Page, total: i64, query: impl Fn(i64) -> String) -> Self {
        let pages = ((total + page.page_size - 1) / page.page_size).max(1);
        Self {
            page: page.page,
            pages,
            total,
            prev: (page.page > 1).then(|| query(page.page - 1)),
            next: (page.page < pages).then(|| query(page.page + 1)),
        }
    }
}

/// Encode one query-string value.
pub fn url_escape(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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
        layout,
        role,
        rows,
        pager,
    })
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    outcome: String,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    action: String,
    actor: String,
    outcome: String,
    rows: Vec<AuditRow>,
    pager: Pager,
    /// Chain verification (servers without tenants only).
    verified: Option<String>,
}

async fn audit_log(db: web::Data<Db>, user: WebUser, q: web::Query<AuditQuery>) -> PageResult {
    user.user.require(CorePermission::AuditRead)?;
    let q = q.into_inner();
    let page = Page::of(q.page, None)?;
    let some = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let filter = Filter {
        action: some(&q.action),
        actor: some(&q.actor),
        outcome: some(&q.outcome),
        // A hospital admin sees their own tenant's rows only (as on the API).
        tenant_id: user.user.tenant().map(str::to_string),
        ..Default::default()
    };
    let (rows, total) = db.run(move |c| audit::list(c, &filter, &page)).await?;
    // The chain spans every tenant of a hosted database: an operator task there.
    let verified = match user.user.tenant() {
        Some(_) => None,
        None => {
            let report = db.run(audit::verify).await?;
            Some(if report.is_intact() {
                "intact: every row's hash chains to the one before".to_string()
            } else {
                "BROKEN: the chain does not verify; report this to security".to_string()
            })
        }
    };
    let pager = Pager::new(&page, total, |p| {
        format!(
            "action={}&actor={}&outcome={}&page={p}",
            url_escape(&q.action),
            url_escape(&q.actor),
            url_escape(&q.outcome)
        )
    });
    html(&AuditPage {
        layout: user.layout("Audit log"),
        action: q.action,
        actor: q.actor,
        outcome: q.outcome,
        rows,
        pager,
        verified,
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
