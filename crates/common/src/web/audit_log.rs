//! `/audit`: the server's audit log with the API's filters and tenant
//! scoping, and the chain's verification where the API gives it.

use actix_web::web;
use askama::Template;
use serde::Deserialize;

use super::extract::WebUser;
use super::pager::{url_escape, Pager};
use super::render::{html, Layout, PageResult};
use crate::audit::{self, AuditRow, Filter};
use crate::db::page::Page;
use crate::db::Db;
use crate::rbac::CorePermission;

/// Mount the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(audit_log));
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
