//! Queries on `alert_rules` and `alerts`, and the evaluation of the rules
//! on each security event as it is stored (in the storing transaction).

use chrono::{NaiveDateTime, TimeDelta};
use common::db::{now, DbConn, Page};
use common::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::{alert_rules, alerts, security_events};
use crate::security_events::store::StoredEvent;

/// Severities, lowest first.
pub const SEVERITIES: [&str; 3] = ["info", "warning", "critical"];
/// What a rule counts by.
pub const PER: [&str; 3] = ["actor", "source", "none"];

/// A rule.
#[derive(utoipa::ToSchema, Debug, Clone, Queryable, Selectable, Serialize, PartialEq)]
#[diesel(table_name = alert_rules)]
#[schema(as = AlertRule)]
pub struct Rule {
    /// Its id.
    pub id: String,
    /// What it is called (unique).
    pub name: String,
    /// An event kind (`auth.login_failed`), a family (`auth.*`) or `*`.
    pub kind_pattern: String,
    /// Lowest severity counted: `info`, `warning`, `critical`.
    pub min_severity: String,
    /// How many matching events raise the alert.
    pub threshold: i64,
    /// Within how many minutes.
    pub window_minutes: i64,
    /// Counted per `actor` (on one server), per `source` server, or `none` (overall).
    pub per: String,
    /// Off rules raise nothing.
    pub enabled: bool,
    /// When created (UTC).
    pub created_at: NaiveDateTime,
    /// When last changed (UTC).
    pub updated_at: NaiveDateTime,
}

/// An alert raised by a rule.
#[derive(utoipa::ToSchema, Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = alerts)]
#[schema(as = Alert)]
pub struct Alert {
    /// Its id.
    pub id: String,
    /// The rule that raised it.
    pub rule_id: String,
    /// The rule's name when it was raised.
    pub rule_name: String,
    /// What was counted: `<server>/<tenant> <actor>`, `<server>/<tenant>`, or empty.
    pub group_key: String,
    /// Company's seq of the first event counted (`/security-events`).
    pub first_event_seq: i64,
    /// Company's seq of the last event counted.
    pub last_event_seq: i64,
    /// Events counted in its window so far.
    pub event_count: i64,
    /// Severity of the event that raised it.
    pub severity: String,
    /// Its window (by the events' times): later events in it add to this alert.
    pub window_start: NaiveDateTime,
    /// End of the window.
    pub window_end: NaiveDateTime,
    /// When raised (UTC).
    pub raised_at: NaiveDateTime,
    /// Who acknowledged it (user id).
    pub acknowledged_by: Option<String>,
    /// When.
    pub acknowledged_at: Option<NaiveDateTime>,
}

/// A rule's fields, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFields {
    /// Name.
    pub name: String,
    /// Kind pattern.
    pub kind_pattern: String,
    /// Lowest severity.
    pub min_severity: String,
    /// N.
    pub threshold: i64,
    /// M.
    pub window_minutes: i64,
    /// actor, source, none.
    pub per: String,
    /// On.
    pub enabled: bool,
}

impl Rule {
    /// Its fields, to change some.
    pub fn fields(&self) -> RuleFields {
        RuleFields {
            name: self.name.clone(),
            kind_pattern: self.kind_pattern.clone(),
            min_severity: self.min_severity.clone(),
            threshold: self.threshold,
            window_minutes: self.window_minutes,
            per: self.per.clone(),
            enabled: self.enabled,
        }
    }
}

/// Check every field of a rule (the API and the page).
pub fn validate(f: &RuleFields) -> ApiResult<()> {
    let n = f.name.chars().count();
    if f.name.trim().is_empty() || n > 100 || f.name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must be 1 to 100 printable characters",
        ));
    }
    if !valid_pattern(&f.kind_pattern) {
        return Err(ApiError::field(
            "kind_pattern",
            "an event kind (auth.login_failed), a family (auth.*) or * — lower-case letters, digits, '_' and '.', at most 64",
        ));
    }
    if !SEVERITIES.contains(&f.min_severity.as_str()) {
        return Err(ApiError::field(
            "min_severity",
            "must be info, warning or critical",
        ));
    }
    if !(1..=10_000).contains(&f.threshold) {
        return Err(ApiError::field("threshold", "must be 1 to 10000"));
    }
    if !(1..=10_080).contains(&f.window_minutes) {
        return Err(ApiError::field(
            "window_minutes",
            "must be 1 to 10080 (a week)",
        ));
    }
    if !PER.contains(&f.per.as_str()) {
        return Err(ApiError::field("per", "must be actor, source or none"));
    }
    Ok(())
}

fn valid_pattern(p: &str) -> bool {
    if p == "*" {
        return true;
    }
    if p.is_empty() || p.len() > 64 {
        return false;
    }
    let body = p.strip_suffix(".*").unwrap_or(p);
    !body.is_empty()
        && body.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

fn rank(severity: &str) -> usize {
    SEVERITIES.iter().position(|s| *s == severity).unwrap_or(0)
}

fn kind_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

/// Every rule, by name.
pub fn list_rules(conn: &mut DbConn, page: &Page) -> ApiResult<(Vec<Rule>, i64)> {
    let total = alert_rules::table.count().get_result(conn)?;
    let rows = alert_rules::table
        .order((alert_rules::name.asc(), alert_rules::id.asc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Rule::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// One rule.
pub fn rule(conn: &mut DbConn, id: &str) -> ApiResult<Rule> {
    alert_rules::table
        .find(id)
        .select(Rule::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::NotFound("no such alert rule".into()))
}

fn name_taken(conn: &mut DbConn, name: &str, other_than: &str) -> ApiResult<bool> {
    let n: i64 = alert_rules::table
        .filter(alert_rules::name.eq(name))
        .filter(alert_rules::id.ne(other_than))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Add a rule (409 when the name is taken).
pub fn insert_rule(conn: &mut DbConn, f: &RuleFields) -> ApiResult<Rule> {
    if name_taken(conn, &f.name, "")? {
        return Err(ApiError::Conflict(
            "an alert rule with this name exists".into(),
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let at = now();
    diesel::insert_into(alert_rules::table)
        .values((
            alert_rules::id.eq(&id),
            alert_rules::name.eq(&f.name),
            alert_rules::kind_pattern.eq(&f.kind_pattern),
            alert_rules::min_severity.eq(&f.min_severity),
            alert_rules::threshold.eq(f.threshold),
            alert_rules::window_minutes.eq(f.window_minutes),
            alert_rules::per.eq(&f.per),
            alert_rules::enabled.eq(f.enabled),
            alert_rules::created_at.eq(at),
            alert_rules::updated_at.eq(at),
        ))
        .execute(conn)?;
    rule(conn, &id)
}

/// Replace a rule's fields (409 when the new name is taken).
pub fn update_rule(conn: &mut DbConn, id: &str, f: &RuleFields) -> ApiResult<Rule> {
    if name_taken(conn, &f.name, id)? {
        return Err(ApiError::Conflict(
            "an alert rule with this name exists".into(),
        ));
    }
    diesel::update(alert_rules::table.find(id))
        .set((
            alert_rules::name.eq(&f.name),
            alert_rules::kind_pattern.eq(&f.kind_pattern),
            alert_rules::min_severity.eq(&f.min_severity),
            alert_rules::threshold.eq(f.threshold),
            alert_rules::window_minutes.eq(f.window_minutes),
            alert_rules::per.eq(&f.per),
            alert_rules::enabled.eq(f.enabled),
            alert_rules::updated_at.eq(now()),
        ))
        .execute(conn)?;
    rule(conn, id)
}

/// Delete a rule (its alerts stay, naming it).
pub fn delete_rule(conn: &mut DbConn, id: &str) -> ApiResult<bool> {
    Ok(diesel::delete(alert_rules::table.find(id)).execute(conn)? > 0)
}

/// Which alerts to list.
#[derive(utoipa::IntoParams, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// `open` or `acknowledged` (default: both).
    #[param(pattern = r"^(open|acknowledged)$")]
    pub status: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

/// A page of alerts, newest first, and the total.
pub fn list_alerts(
    conn: &mut DbConn,
    status: Option<&str>,
    page: &Page,
) -> ApiResult<(Vec<Alert>, i64)> {
    macro_rules! filtered {
        () => {{
            let mut q = alerts::table.into_boxed();
            match status {
                Some("open") => q = q.filter(alerts::acknowledged_at.is_null()),
                Some(_) => q = q.filter(alerts::acknowledged_at.is_not_null()),
                None => {}
            }
            q
        }};
    }
    let total = filtered!().count().get_result(conn)?;
    let rows = filtered!()
        .order((alerts::raised_at.desc(), alerts::id.desc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Alert::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Open alerts.
pub fn count_open(conn: &mut DbConn) -> ApiResult<i64> {
    Ok(alerts::table
        .filter(alerts::acknowledged_at.is_null())
        .count()
        .get_result(conn)?)
}

/// One alert.
pub fn alert(conn: &mut DbConn, id: &str) -> ApiResult<Alert> {
    alerts::table
        .find(id)
        .select(Alert::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::NotFound("no such alert".into()))
}

/// Acknowledge an open alert (false when it was acknowledged already).
pub fn acknowledge(conn: &mut DbConn, id: &str, user_id: &str) -> ApiResult<bool> {
    let n = diesel::update(
        alerts::table
            .find(id)
            .filter(alerts::acknowledged_at.is_null()),
    )
    .set((
        alerts::acknowledged_by.eq(user_id),
        alerts::acknowledged_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(n > 0)
}

/// The enabled rules (loaded once per stored batch).
pub fn enabled_rules(conn: &mut DbConn) -> ApiResult<Vec<Rule>> {
    Ok(alert_rules::table
        .filter(alert_rules::enabled.eq(true))
        .order(alert_rules::id.asc())
        .select(Rule::as_select())
        .load(conn)?)
}

/// Evaluate the enabled `rules` on `event`, just stored in this
/// transaction (every event before it is stored too: the caller stores
/// and evaluates one at a time, in order). The writer runs one job at a
/// time under the audit head's lock, so two deliveries never evaluate at
/// once; a unique index on (rule, group, window start) backs that up.
/// Returns the alerts raised now (not those an event only added to).
pub fn evaluate(conn: &mut DbConn, rules: &[Rule], event: &StoredEvent) -> ApiResult<Vec<Alert>> {
    let mut raised = Vec::new();
    for rule in rules {
        if !kind_matches(&rule.kind_pattern, &event.kind)
            || rank(&event.severity) < rank(&rule.min_severity)
        {
            continue;
        }
        if let Some(a) = evaluate_rule(conn, rule, event)? {
            raised.push(a);
        }
    }
    Ok(raised)
}

fn group_key(rule: &Rule, e: &StoredEvent) -> String {
    match rule.per.as_str() {
        "actor" => format!("{}/{} {}", e.source_service, e.source_tenant, e.actor),
        "source" => format!("{}/{}", e.source_service, e.source_tenant),
        _ => String::new(),
    }
}

fn evaluate_rule(conn: &mut DbConn, rule: &Rule, e: &StoredEvent) -> ApiResult<Option<Alert>> {
    let key = group_key(rule, e);
    let t = e.occurred_at;
    let window = TimeDelta::minutes(rule.window_minutes);
    // An alert whose window holds this event — or that began less than a
    // window after it (a delivery out of order) — adds it; no new alert.
    let open: Option<Alert> = alerts::table
        .filter(alerts::rule_id.eq(&rule.id))
        .filter(alerts::group_key.eq(&key))
        .filter(alerts::window_start.gt(t - window))
        .filter(alerts::window_end.ge(t))
        .order(alerts::window_start.desc())
        .select(Alert::as_select())
        .first(conn)
        .optional()?;
    if let Some(a) = open {
        diesel::update(alerts::table.find(&a.id))
            .set((
                alerts::event_count.eq(a.event_count + 1),
                alerts::last_event_seq.eq(a.last_event_seq.max(e.seq)),
                alerts::first_event_seq.eq(a.first_event_seq.min(e.seq)),
            ))
            .execute(conn)?;
        return Ok(None);
    }
    // Look for a window of M minutes that holds this event and N matching
    // events, none counted by an earlier alert. Deliveries may arrive out
    // of order, so events stored before this one may be later than it:
    // every window start from M minutes before it up to it is tried,
    // earliest first, over the events stored so far.
    let previous_end: Option<NaiveDateTime> = alerts::table
        .filter(alerts::rule_id.eq(&rule.id))
        .filter(alerts::group_key.eq(&key))
        .filter(alerts::window_end.lt(t))
        .select(diesel::dsl::max(alerts::window_end))
        .first(conn)?;
    let floor = previous_end.map_or(t - window, |p| p.max(t - window));
    let severities: Vec<&str> = SEVERITIES[rank(&rule.min_severity)..].to_vec();
    let mut q = security_events::table
        .filter(security_events::occurred_at.gt(floor))
        .filter(security_events::occurred_at.le(t + window))
        .filter(security_events::severity.eq_any(severities))
        .into_boxed();
    if !rule.kind_pattern.ends_with('*') {
        q = q.filter(security_events::kind.eq(rule.kind_pattern.clone()));
    }
    match rule.per.as_str() {
        "actor" => {
            q = q
                .filter(security_events::source_service.eq(e.source_service.clone()))
                .filter(security_events::source_tenant.eq(e.source_tenant.clone()))
                .filter(security_events::actor.eq(e.actor.clone()));
        }
        "source" => {
            q = q
                .filter(security_events::source_service.eq(e.source_service.clone()))
                .filter(security_events::source_tenant.eq(e.source_tenant.clone()));
        }
        _ => {}
    }
    // A family (`auth.*`) is matched here rather than with LIKE ('_' is a
    // LIKE wildcard); the window bounds what is loaded.
    let mut stored: Vec<(i64, NaiveDateTime)> = q
        .select((
            security_events::seq,
            security_events::occurred_at,
            security_events::kind,
        ))
        .load::<(i64, NaiveDateTime, String)>(conn)?
        .into_iter()
        .filter(|(_, _, kind)| kind_matches(&rule.kind_pattern, kind))
        .map(|(seq, at, _)| (seq, at))
        .collect();
    stored.sort_by_key(|(seq, at)| (*at, *seq));
    let found = stored
        .iter()
        .map(|(_, s)| *s)
        .filter(|s| *s <= t)
        .find_map(|start| {
            let members: Vec<&(i64, NaiveDateTime)> = stored
                .iter()
                .filter(|(_, at)| *at >= start && *at <= start + window)
                .collect();
            (members.len() as i64 >= rule.threshold).then_some((start, members))
        });
    let Some((start, members)) = found else {
        return Ok(None);
    };
    let first_seq = members.iter().map(|m| m.0).min().unwrap_or(e.seq);
    let last_seq = members.iter().map(|m| m.0).max().unwrap_or(e.seq);
    let counted = members.len();
    let alert = Alert {
        id: uuid::Uuid::new_v4().to_string(),
        rule_id: rule.id.clone(),
        rule_name: rule.name.clone(),
        group_key: key,
        first_event_seq: first_seq,
        last_event_seq: last_seq,
        event_count: counted as i64,
        severity: e.severity.clone(),
        window_start: start,
        window_end: start + window,
        raised_at: now(),
        acknowledged_by: None,
        acknowledged_at: None,
    };
    diesel::insert_into(alerts::table)
        .values((
            alerts::id.eq(&alert.id),
            alerts::rule_id.eq(&alert.rule_id),
            alerts::rule_name.eq(&alert.rule_name),
            alerts::group_key.eq(&alert.group_key),
            alerts::first_event_seq.eq(alert.first_event_seq),
            alerts::last_event_seq.eq(alert.last_event_seq),
            alerts::event_count.eq(alert.event_count),
            alerts::severity.eq(&alert.severity),
            alerts::window_start.eq(alert.window_start),
            alerts::window_end.eq(alert.window_end),
            alerts::raised_at.eq(alert.raised_at),
        ))
        .execute(conn)?;
    Ok(Some(alert))
}
