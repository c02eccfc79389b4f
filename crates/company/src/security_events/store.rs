//! Queries on `security_events`. Stored once per (source, tenant, event id):
//! a retried delivery is counted as a duplicate, never stored twice.

use chrono::NaiveDateTime;
use common::db::Page;
use common::db::{now, DbConn};
use common::ApiResult;
use contracts::SecurityEvent;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::security_events;

/// A stored event.
#[derive(utoipa::ToSchema, Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = security_events)]
pub struct StoredEvent {
    /// Company's position.
    pub seq: i64,
    /// `hospital`, `owner`, `company`, `dev`.
    pub source_service: String,
    /// The tenant for hospital events, else empty.
    pub source_tenant: String,
    /// The sender's id.
    pub event_id: String,
    /// What happened.
    pub kind: String,
    /// How serious.
    pub severity: String,
    /// Who (user id or identity).
    pub actor: String,
    /// JSON details (answered as JSON).
    #[serde(serialize_with = "as_json")]
    #[schema(value_type = serde_json::Value)]
    pub details: String,
    /// When it happened at the source.
    pub occurred_at: NaiveDateTime,
    /// When company stored it.
    pub received_at: NaiveDateTime,
}

fn as_json<S: serde::Serializer>(details: &str, s: S) -> Result<S::Ok, S::Error> {
    let v: serde_json::Value = serde_json::from_str(details).unwrap_or(serde_json::Value::Null);
    v.serialize(s)
}

/// Store events from one source; returns (accepted, duplicates).
pub fn insert_many(
    conn: &mut DbConn,
    source: &str,
    tenant: &str,
    events: &[SecurityEvent],
) -> ApiResult<(usize, usize)> {
    let (fresh, duplicates) = insert_new(conn, source, tenant, events)?;
    Ok((fresh.len(), duplicates))
}

/// Store events from one source; returns the ones stored now (for the
/// live feed, once committed) and the number of duplicates.
pub fn insert_new(
    conn: &mut DbConn,
    source: &str,
    tenant: &str,
    events: &[SecurityEvent],
) -> ApiResult<(Vec<StoredEvent>, usize)> {
    let (fresh, duplicates, _) = insert_alerting(conn, source, tenant, events)?;
    Ok((fresh, duplicates))
}

/// Store events from one source, evaluating the alert rules on each as it
/// is stored (same transaction: an alert is never lost, never doubled);
/// returns the events stored now, the number of duplicates, and the
/// alerts raised (for the live feeds, once committed).
pub fn insert_alerting(
    conn: &mut DbConn,
    source: &str,
    tenant: &str,
    events: &[SecurityEvent],
) -> ApiResult<(Vec<StoredEvent>, usize, Vec<crate::alerts::store::Alert>)> {
    let rules = crate::alerts::store::enabled_rules(conn)?;
    let mut raised = Vec::new();
    let mut fresh = Vec::new();
    let mut duplicates = 0;
    for e in events {
        let exists: i64 = security_events::table
            .filter(security_events::source_service.eq(source))
            .filter(security_events::source_tenant.eq(tenant))
            .filter(security_events::event_id.eq(&e.id))
            .count()
            .get_result(conn)?;
        if exists > 0 {
            duplicates += 1;
            continue;
        }
        diesel::insert_into(security_events::table)
            .values((
                security_events::source_service.eq(source),
                security_events::source_tenant.eq(tenant),
                security_events::event_id.eq(&e.id),
                security_events::kind.eq(&e.kind),
                security_events::severity.eq(&e.severity),
                security_events::actor.eq(&e.actor),
                security_events::details.eq(e.details.to_string()),
                security_events::occurred_at.eq(e.occurred_at),
                security_events::received_at.eq(now()),
            ))
            .execute(conn)?;
        let stored: StoredEvent = security_events::table
            .filter(security_events::source_service.eq(source))
            .filter(security_events::source_tenant.eq(tenant))
            .filter(security_events::event_id.eq(&e.id))
            .select(StoredEvent::as_select())
            .first(conn)?;
        raised.extend(crate::alerts::store::evaluate(conn, &rules, &stored)?);
        fresh.push(stored);
    }
    Ok((fresh, duplicates, raised))
}

/// Filters of the admin's list.
#[derive(utoipa::IntoParams, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// `hospital`, `owner`, `company`, `dev`.
    pub source_service: Option<String>,
    /// A tenant.
    pub tenant_id: Option<String>,
    /// A kind (`auth.login_failed`, …).
    pub kind: Option<String>,
    /// `info`, `warning`, `critical`.
    pub severity: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

/// A page, newest first, and the total.
pub fn list(conn: &mut DbConn, f: &Filter, page: &Page) -> ApiResult<(Vec<StoredEvent>, i64)> {
    macro_rules! filtered {
        () => {{
            let mut q = security_events::table.into_boxed();
            if let Some(v) = &f.source_service {
                q = q.filter(security_events::source_service.eq(v.clone()));
            }
            if let Some(v) = &f.tenant_id {
                q = q.filter(security_events::source_tenant.eq(v.clone()));
            }
            if let Some(v) = &f.kind {
                q = q.filter(security_events::kind.eq(v.clone()));
            }
            if let Some(v) = &f.severity {
                q = q.filter(security_events::severity.eq(v.clone()));
            }
            q
        }};
    }
    let total = filtered!().count().get_result(conn)?;
    let rows = filtered!()
        .order(security_events::seq.desc())
        .limit(page.page_size)
        .offset(page.offset())
        .select(StoredEvent::as_select())
        .load(conn)?;
    Ok((rows, total))
}
