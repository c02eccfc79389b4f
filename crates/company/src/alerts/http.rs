//! `GET|POST /alert-rules`, `PATCH|DELETE /alert-rules/{id}`, `GET /alerts`,
//! `POST /alerts/{id}/acknowledge`. Every change is an audit row (rules
//! with before/after).

use actix_web::{web, HttpResponse};
use common::audit::{self, Event, Origin};
use common::auth::AuthUser;
use common::db::{Db, DbConn};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::scope;
use super::store::{self, Alert, AlertQuery, Rule, RuleFields};

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/alert-rules")
            .route(web::get().to(list_rules))
            .route(web::post().to(create_rule)),
    )
    .service(
        resource("/alert-rules/{id}")
            .route(web::patch().to(update_rule))
            .route(web::delete().to(delete_rule)),
    )
    .service(resource("/alerts").route(web::get().to(list_alerts)))
    .service(resource("/alerts/{id}/acknowledge").route(web::post().to(acknowledge)));
}

fn append(
    conn: &mut DbConn,
    user: &AuthUser,
    origin: &Origin,
    action: &str,
    resource: &str,
    details: Value,
) -> ApiResult<()> {
    let event = Event::new(&user.id, &user.role, action, resource).details(details);
    audit::append(conn, &event, origin)?;
    Ok(())
}

#[derive(utoipa::IntoParams, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    #[param(minimum = 1, maximum = 1_000_000)]
    page: Option<i64>,
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

#[utoipa::path(get, path = "/alert-rules", tag = "alerts", security(("bearer" = [])),
    summary = "Alert rules on security events, by name (system.read)",
    params(PageQuery),
    responses((status = 200, description = "A page of rules", body = Vec<Rule>),
        (status = 400, description = "A bad page"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "The role may not read alerts")))]
async fn list_rules(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let page = Page::of(q.page, q.page_size)?;
    let (rows, total) = db.run(move |c| store::list_rules(c, &page)).await?;
    Ok(response::page(rows, &page, total))
}

/// A new rule.
#[derive(utoipa::ToSchema, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[schema(as = AlertRuleCreate)]
pub struct CreateRule {
    /// 1 to 100 characters, unique.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// An event kind (`auth.login_failed`), a family (`auth.*`) or `*`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$"
    )]
    pub kind_pattern: String,
    /// Lowest severity counted.
    #[schema(pattern = r"^(info|warning|critical)$")]
    pub min_severity: String,
    /// N events …
    #[schema(minimum = 1, maximum = 10000)]
    pub threshold: i64,
    /// … within M minutes.
    #[schema(minimum = 1, maximum = 10080)]
    pub window_minutes: i64,
    /// Counted per `actor`, per `source` server, or `none`.
    #[schema(pattern = r"^(actor|source|none)$")]
    pub per: String,
    /// Default true.
    pub enabled: Option<bool>,
}

impl CreateRule {
    /// The checked fields.
    pub fn fields(self) -> ApiResult<RuleFields> {
        let f = RuleFields {
            name: self.name.trim().to_string(),
            kind_pattern: self.kind_pattern.trim().to_string(),
            min_severity: self.min_severity,
            threshold: self.threshold,
            window_minutes: self.window_minutes,
            per: self.per,
            enabled: self.enabled.unwrap_or(true),
        };
        store::validate(&f)?;
        Ok(f)
    }
}

#[utoipa::path(post, path = "/alert-rules", tag = "alerts", security(("bearer" = [])),
    summary = "Add an alert rule (alerts.manage)",
    request_body = CreateRule,
    responses((status = 201, description = "Created", body = Rule),
        (status = 400, description = "A field is missing or out of range"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "The role may not manage alerts"),
        (status = 409, description = "A rule with this name exists")))]
async fn create_rule(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<CreateRule>,
) -> ApiResult<HttpResponse> {
    scope::require_manager(&user)?;
    let fields = body.into_inner().fields()?;
    let rule = create(&db, &user, &origin, fields).await?;
    Ok(response::created(rule))
}

/// Add a rule as `user` (the API and the page).
pub(crate) async fn create(
    db: &Db,
    user: &AuthUser,
    origin: &Origin,
    fields: RuleFields,
) -> ApiResult<Rule> {
    scope::require_manager(user)?;
    let (u, o) = (user.clone(), origin.clone());
    db.write(move |c| {
        let rule = store::insert_rule(c, &fields)?;
        append(
            c,
            &u,
            &o,
            "alert_rule.create",
            &format!("alert_rule:{}", rule.id),
            json!({ "after": rule }),
        )?;
        Ok(rule)
    })
    .await
}

/// Changes to a rule; at least one field.
#[derive(utoipa::ToSchema, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[schema(as = AlertRuleUpdate)]
pub struct UpdateRule {
    /// 1 to 100 characters, unique.
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// An event kind, a family (`auth.*`) or `*`.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$"
    )]
    pub kind_pattern: Option<String>,
    /// Lowest severity counted.
    #[schema(pattern = r"^(info|warning|critical)$")]
    pub min_severity: Option<String>,
    /// N.
    #[schema(minimum = 1, maximum = 10000)]
    pub threshold: Option<i64>,
    /// M minutes.
    #[schema(minimum = 1, maximum = 10080)]
    pub window_minutes: Option<i64>,
    /// `actor`, `source`, `none`.
    #[schema(pattern = r"^(actor|source|none)$")]
    pub per: Option<String>,
    /// On or off.
    pub enabled: Option<bool>,
}

impl UpdateRule {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.kind_pattern.is_none()
            && self.min_severity.is_none()
            && self.threshold.is_none()
            && self.window_minutes.is_none()
            && self.per.is_none()
            && self.enabled.is_none()
    }

    fn apply(self, mut f: RuleFields) -> RuleFields {
        if let Some(v) = self.name {
            f.name = v.trim().to_string();
        }
        if let Some(v) = self.kind_pattern {
            f.kind_pattern = v.trim().to_string();
        }
        if let Some(v) = self.min_severity {
            f.min_severity = v;
        }
        if let Some(v) = self.threshold {
            f.threshold = v;
        }
        if let Some(v) = self.window_minutes {
            f.window_minutes = v;
        }
        if let Some(v) = self.per {
            f.per = v;
        }
        if let Some(v) = self.enabled {
            f.enabled = v;
        }
        f
    }
}

#[utoipa::path(patch, path = "/alert-rules/{id}", tag = "alerts", security(("bearer" = [])),
    summary = "Change an alert rule, or turn it on or off (alerts.manage)",
    params(("id" = String, Path, description = "Rule id")),
    request_body = UpdateRule,
    responses((status = 200, description = "The changed rule", body = Rule),
        (status = 400, description = "Nothing to change, or a field out of range"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "The role may not manage alerts"),
        (status = 404, description = "No such rule"),
        (status = 409, description = "Another rule has this name")))]
async fn update_rule(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
    body: web::Json<UpdateRule>,
) -> ApiResult<HttpResponse> {
    scope::require_manager(&user)?;
    let rule = update(&db, &user, &origin, id.into_inner(), body.into_inner()).await?;
    Ok(response::ok(rule))
}

/// Change rule `id` as `user` (the API and the page).
pub(crate) async fn update(
    db: &Db,
    user: &AuthUser,
    origin: &Origin,
    id: String,
    changes: UpdateRule,
) -> ApiResult<Rule> {
    scope::require_manager(user)?;
    if changes.is_empty() {
        return Err(ApiError::validation("nothing to change"));
    }
    // Check the changed fields before looking the rule up (a bad field is
    // a 400 whatever the id).
    let probe = changes_probe(&changes);
    store::validate(&probe)?;
    let (u, o) = (user.clone(), origin.clone());
    db.write(move |c| {
        let before = store::rule(c, &id)?;
        let fields = changes.apply(before.fields());
        store::validate(&fields)?;
        let after = store::update_rule(c, &id, &fields)?;
        append(
            c,
            &u,
            &o,
            "alert_rule.update",
            &format!("alert_rule:{id}"),
            json!({ "before": before, "after": after }),
        )?;
        Ok(after)
    })
    .await
}

/// The changed fields over valid placeholders, to check them alone.
fn changes_probe(c: &UpdateRule) -> RuleFields {
    RuleFields {
        name: c
            .name
            .as_deref()
            .map_or("probe".into(), |v| v.trim().to_string()),
        kind_pattern: c
            .kind_pattern
            .as_deref()
            .map_or("*".into(), |v| v.trim().to_string()),
        min_severity: c.min_severity.clone().unwrap_or_else(|| "info".into()),
        threshold: c.threshold.unwrap_or(1),
        window_minutes: c.window_minutes.unwrap_or(1),
        per: c.per.clone().unwrap_or_else(|| "none".into()),
        enabled: true,
    }
}

/// What a deletion answers.
#[derive(utoipa::ToSchema, Serialize)]
#[schema(as = AlertRuleDeleted)]
pub struct Deleted {
    /// The rule deleted.
    pub id: String,
    /// Always true.
    pub deleted: bool,
}

#[utoipa::path(delete, path = "/alert-rules/{id}", tag = "alerts", security(("bearer" = [])),
    summary = "Delete an alert rule; the alerts it raised stay (alerts.manage)",
    params(("id" = String, Path, description = "Rule id")),
    responses((status = 200, description = "Deleted", body = Deleted),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "The role may not manage alerts"),
        (status = 404, description = "No such rule")))]
async fn delete_rule(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    scope::require_manager(&user)?;
    let deleted = delete(&db, &user, &origin, id.into_inner()).await?;
    Ok(response::ok(deleted))
}

/// Delete rule `id` as `user` (the API and the page).
pub(crate) async fn delete(
    db: &Db,
    user: &AuthUser,
    origin: &Origin,
    id: String,
) -> ApiResult<Deleted> {
    scope::require_manager(user)?;
    let (u, o) = (user.clone(), origin.clone());
    db.write(move |c| {
        let before = store::rule(c, &id)?;
        store::delete_rule(c, &id)?;
        append(
            c,
            &u,
            &o,
            "alert_rule.delete",
            &format!("alert_rule:{id}"),
            json!({ "before": before }),
        )?;
        Ok(Deleted { id, deleted: true })
    })
    .await
}

#[utoipa::path(get, path = "/alerts", tag = "alerts", security(("bearer" = [])),
    summary = "Alerts raised by the rules, newest first; open or acknowledged (system.read)",
    params(AlertQuery),
    responses((status = 200, description = "A page of alerts", body = Vec<Alert>),
        (status = 400, description = "A bad filter or page"),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "The role may not read alerts")))]
async fn list_alerts(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<AlertQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let q = q.into_inner();
    // The page's form sends an empty status for "all"; the API names one.
    if q.status.as_deref().is_some_and(|s| s.trim().is_empty()) {
        return Err(ApiError::field("status", "must be open or acknowledged"));
    }
    let status = check_status(q.status.as_deref())?;
    let page = Page::of(q.page, q.page_size)?;
    let (rows, total) = db
        .run(move |c| store::list_alerts(c, status.as_deref(), &page))
        .await?;
    Ok(response::page(rows, &page, total))
}

/// `open`, `acknowledged` or none (the API and the page).
pub(crate) fn check_status(status: Option<&str>) -> ApiResult<Option<String>> {
    match status.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s @ ("open" | "acknowledged")) => Ok(Some(s.to_string())),
        Some(_) => Err(ApiError::field("status", "must be open or acknowledged")),
    }
}

#[utoipa::path(post, path = "/alerts/{id}/acknowledge", tag = "alerts", security(("bearer" = [])),
    summary = "Acknowledge an open alert (alerts.manage)",
    params(("id" = String, Path, description = "Alert id")),
    responses((status = 200, description = "Acknowledged", body = Alert),
        (status = 401, description = "Not signed in"),
        (status = 403, description = "The role may not manage alerts"),
        (status = 404, description = "No such alert"),
        (status = 409, description = "Acknowledged already")))]
async fn acknowledge(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let alert = acknowledge_alert(&db, &user, &origin, id.into_inner()).await?;
    Ok(response::ok(alert))
}

/// Acknowledge alert `id` as `user` (the API and the page).
pub(crate) async fn acknowledge_alert(
    db: &Db,
    user: &AuthUser,
    origin: &Origin,
    id: String,
) -> ApiResult<Alert> {
    scope::require_manager(user)?;
    let (u, o) = (user.clone(), origin.clone());
    db.write(move |c| {
        let alert = store::alert(c, &id)?;
        scope::check_acknowledgeable(&alert)?;
        if !store::acknowledge(c, &id, &u.id)? {
            return Err(ApiError::Conflict(
                "the alert has been acknowledged already".into(),
            ));
        }
        append(
            c,
            &u,
            &o,
            "alert.acknowledge",
            &format!("alert:{id}"),
            json!({ "rule": alert.rule_name, "group": alert.group_key, "count": alert.event_count }),
        )?;
        store::alert(c, &id)
    })
    .await
}
