//! Security events a server raises (failed logins, lockouts, refused
//! permissions, refused certificates). Each is written to the server's own
//! `security_outbox` — in the same transaction as its audit row where there
//! is one — and delivered to the company server later, so nothing is lost
//! while company is down and ids make a retried delivery harmless.

use contracts::SecurityEvent;
use diesel::prelude::*;
use serde_json::Value;

use crate::audit::Severity;
use crate::db::{now, DbConn};
use crate::error::ApiResult;
use crate::schema::security_outbox;

/// A security event to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// `auth.login_failed`, `auth.lockout`, `authz.denied`, `cert.refused`, …
    pub kind: String,
    /// How serious.
    pub severity: Severity,
    /// User id or peer identity; never PHI.
    pub actor: String,
    /// The tenant concerned.
    pub tenant_id: Option<String>,
    /// Extra facts; never PHI, never secrets.
    pub details: Value,
}

impl NewEvent {
    /// An event of `kind` by `actor`.
    pub fn new(
        kind: &str,
        severity: Severity,
        actor: &str,
        tenant_id: Option<&str>,
        details: Value,
    ) -> Self {
        Self {
            kind: kind.to_string(),
            severity,
            actor: actor.to_string(),
            tenant_id: tenant_id.filter(|t| !t.is_empty()).map(str::to_string),
            details,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = security_outbox)]
struct Row {
    seq: i64,
    id: String,
    kind: String,
    severity: String,
    actor: String,
    tenant_id: Option<String>,
    details: String,
    occurred_at: chrono::NaiveDateTime,
}

impl From<Row> for SecurityEvent {
    fn from(r: Row) -> Self {
        SecurityEvent {
            id: r.id,
            seq: r.seq,
            kind: r.kind,
            severity: r.severity,
            actor: r.actor,
            tenant_id: r.tenant_id,
            details: serde_json::from_str(&r.details).unwrap_or(Value::Null),
            occurred_at: r.occurred_at,
        }
    }
}

/// Put an event in the outbox. Returns its id.
pub fn record(conn: &mut DbConn, event: &NewEvent) -> ApiResult<String> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(security_outbox::table)
        .values((
            security_outbox::id.eq(&id),
            security_outbox::kind.eq(&event.kind),
            security_outbox::severity.eq(event.severity.as_str()),
            security_outbox::actor.eq(&event.actor),
            security_outbox::tenant_id.eq(&event.tenant_id),
            security_outbox::details.eq(event.details.to_string()),
            security_outbox::occurred_at.eq(now()),
            security_outbox::attempts.eq(0),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Undelivered events, oldest first. `tenant`: only events of that tenant
/// or of none (a hospital may only speak for the tenant in its certificate).
pub fn pending(
    conn: &mut DbConn,
    limit: i64,
    tenant: Option<&str>,
) -> ApiResult<Vec<SecurityEvent>> {
    let mut q = security_outbox::table
        .filter(security_outbox::delivered_at.is_null())
        .into_boxed();
    if let Some(t) = tenant {
        q = q.filter(
            security_outbox::tenant_id
                .is_null()
                .or(security_outbox::tenant_id.eq(t.to_string())),
        );
    }
    let rows: Vec<Row> = q
        .order(security_outbox::seq.asc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// How many events wait in the outbox (for `tenant` and the untenanted
/// ones, as [`pending`] selects them): the backlog a sender reports.
pub fn pending_count(conn: &mut DbConn, tenant: Option<&str>) -> ApiResult<i64> {
    let mut q = security_outbox::table
        .filter(security_outbox::delivered_at.is_null())
        .into_boxed();
    if let Some(t) = tenant {
        q = q.filter(
            security_outbox::tenant_id
                .is_null()
                .or(security_outbox::tenant_id.eq(t.to_string())),
        );
    }
    Ok(q.count().get_result(conn)?)
}

/// Mark events delivered.
pub fn mark_delivered(conn: &mut DbConn, ids: &[String]) -> ApiResult<()> {
    diesel::update(security_outbox::table.filter(security_outbox::id.eq_any(ids)))
        .set(security_outbox::delivered_at.eq(Some(now())))
        .execute(conn)?;
    Ok(())
}

/// Count a failed delivery attempt.
pub fn mark_attempt(conn: &mut DbConn, ids: &[String]) -> ApiResult<()> {
    diesel::update(security_outbox::table.filter(security_outbox::id.eq_any(ids)))
        .set(security_outbox::attempts.eq(security_outbox::attempts + 1))
        .execute(conn)?;
    Ok(())
}

/// Events after outbox position `seq` (for a pulling reader), oldest first.
pub fn after(conn: &mut DbConn, seq: i64, limit: i64) -> ApiResult<Vec<SecurityEvent>> {
    let rows: Vec<Row> = security_outbox::table
        .filter(security_outbox::seq.gt(seq))
        .order(security_outbox::seq.asc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Into::into).collect())
}
