//! `/alerts`: alerts (open or acknowledged) with an acknowledge button, and
//! the alert rules with a form to add one, turn one on or off, or delete
//! it — through the same functions and rules as the API. A refused action
//! shows the page again with the reason.

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

use super::http::{
    acknowledge_alert, check_status, create, delete, update, CreateRule, UpdateRule,
};
use super::scope;
use super::store::{self, Alert, Rule};

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/alerts", web::get().to(list))
        .route("/alerts/{id}/acknowledge", web::post().to(ack))
        .route("/alert-rules", web::post().to(add_rule))
        .route("/alert-rules/{id}/{action}", web::post().to(act_rule));
}

#[derive(Deserialize)]
struct Query {
    #[serde(default)]
    status: String,
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    layout: Layout,
    status: String,
    rows: Vec<Alert>,
    rules: Vec<Rule>,
    pager: Pager,
    error: Option<String>,
    can_manage: bool,
}

async fn render(
    db: &Db,
    user: WebUser,
    status: String,
    page: Option<i64>,
    (code, error): (StatusCode, Option<String>),
) -> PageResult {
    scope::require_reader(&user.user)?;
    let filter = check_status(Some(&status))?;
    let page = Page::of(page, None)?;
    let all = Page::of(Some(1), Some(100))?;
    let (rows, total, rules) = db
        .run(move |c| {
            let (rows, total) = store::list_alerts(c, filter.as_deref(), &page)?;
            let (rules, _) = store::list_rules(c, &all)?;
            Ok((rows, total, rules))
        })
        .await?;
    let s = status.clone();
    let pager = Pager::new(&page, total, |n| {
        format!("status={}&page={n}", url_escape(&s))
    });
    html_status(
        code,
        &AlertsPage {
            layout: user.layout("Alerts"),
            status,
            rows,
            rules,
            pager,
            error,
            can_manage: scope::require_manager(&user.user).is_ok(),
        },
    )
}

async fn list(db: web::Data<Db>, user: WebUser, q: web::Query<Query>) -> PageResult {
    let q = q.into_inner();
    render(&db, user, q.status, q.page, (StatusCode::OK, None)).await
}

/// After an action: back to the list, or the list again with why not.
async fn after<T>(db: &Db, user: WebUser, result: Result<T, ApiError>) -> PageResult {
    match result {
        Ok(_) => Ok(redirect("/alerts")),
        Err(
            e @ (ApiError::NotFound(_) | ApiError::Unauthenticated(_) | ApiError::Forbidden(_)),
        ) => Err(e.into()),
        Err(e) => {
            let code = e.status_code();
            render(db, user, String::new(), None, (code, Some(e.to_string()))).await
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn ack(
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let r = acknowledge_alert(&db, &user.user, &origin, id.into_inner()).await;
    after(&db, user, r).await
}

#[derive(Deserialize)]
struct RuleForm {
    csrf: String,
    name: String,
    kind_pattern: String,
    min_severity: String,
    threshold: String,
    window_minutes: String,
    per: String,
}

fn number(field: &str, v: &str) -> Result<i64, ApiError> {
    v.trim()
        .parse()
        .map_err(|_| ApiError::field(field, "must be a whole number"))
}

async fn add_rule(
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    form: web::Form<RuleForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    scope::require_manager(&user.user)?;
    let form = form.into_inner();
    let r: Result<Rule, ApiError> = async {
        let fields = CreateRule {
            name: form.name,
            kind_pattern: form.kind_pattern,
            min_severity: form.min_severity,
            threshold: number("threshold", &form.threshold)?,
            window_minutes: number("window_minutes", &form.window_minutes)?,
            per: form.per,
            enabled: Some(true),
        }
        .fields()?;
        create(&db, &user.user, &origin, fields).await
    }
    .await;
    after(&db, user, r).await
}

async fn act_rule(
    db: web::Data<Db>,
    user: WebUser,
    origin: Origin,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let (id, action) = path.into_inner();
    let toggle = |enabled| UpdateRule {
        enabled: Some(enabled),
        ..Default::default()
    };
    let r = match action.as_str() {
        "enable" => update(&db, &user.user, &origin, id, toggle(true))
            .await
            .map(|_| ()),
        "disable" => update(&db, &user.user, &origin, id, toggle(false))
            .await
            .map(|_| ()),
        "delete" => delete(&db, &user.user, &origin, id).await.map(|_| ()),
        _ => Err(ApiError::NotFound("no such action".into())),
    };
    after(&db, user, r).await
}
