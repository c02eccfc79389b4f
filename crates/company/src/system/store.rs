//! What the system view reads: delivery times from the stored rows, the
//! backlogs senders reported (`plane_sources`), company's own outbox,
//! anchor mismatches, open alerts, and the CA's `issued.json`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use common::db::{now, DbConn};
use common::ApiResult;
use diesel::dsl::max;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::{audit_anchors, plane_sources, security_events};
use crate::security_events::store::StoredEvent;

/// Certificates expiring within this many days are listed.
pub const EXPIRY_DAYS: i64 = 30;
/// Anchor mismatches listed (newest first).
pub const MISMATCHES_SHOWN: i64 = 50;
/// What an anchor mismatch is called among the security events.
pub const MISMATCH_KINDS: [&str; 2] = ["audit.anchor_mismatch", "audit.anchor_regressed"];

/// Note a delivery of security events from a source and the backlog it
/// reported (`None`: it did not say; the last value stays).
pub fn record_delivery(
    conn: &mut DbConn,
    service: &str,
    tenant: &str,
    backlog: Option<i64>,
) -> ApiResult<()> {
    let at = now();
    let row = plane_sources::table
        .filter(plane_sources::source_service.eq(service))
        .filter(plane_sources::source_tenant.eq(tenant));
    let n = match backlog {
        Some(b) => diesel::update(row)
            .set((
                plane_sources::backlog.eq(Some(b)),
                plane_sources::reported_at.eq(at),
            ))
            .execute(conn)?,
        None => diesel::update(row)
            .set(plane_sources::reported_at.eq(at))
            .execute(conn)?,
    };
    if n == 0 {
        diesel::insert_into(plane_sources::table)
            .values((
                plane_sources::source_service.eq(service),
                plane_sources::source_tenant.eq(tenant),
                plane_sources::backlog.eq(backlog),
                plane_sources::reported_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// One server (or tenant) that delivers to company, as company sees it.
#[derive(utoipa::ToSchema, Debug, Clone, Default, Serialize)]
#[schema(as = PlaneSource)]
pub struct SourceState {
    /// `hospital`, `owner`, `dev`.
    pub source_service: String,
    /// The tenant (hospital) or empty.
    pub source_tenant: String,
    /// When company last stored one of its security events (UTC).
    pub last_event_at: Option<NaiveDateTime>,
    /// When it last delivered a batch of events (even only retries; not for dev, which company pulls).
    pub last_delivery_at: Option<NaiveDateTime>,
    /// When company last stored one of its audit anchors (UTC).
    pub last_anchor_at: Option<NaiveDateTime>,
    /// The highest chain position anchored.
    pub last_anchor_seq: Option<i64>,
    /// Its outbox backlog as it last reported it (none: never reported).
    pub backlog: Option<i64>,
}

/// A certificate from `issued.json` that expires soon (or has expired).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
#[schema(as = ExpiringCertificate)]
pub struct ExpiringCert {
    /// The file stem in the certificates directory (`company`).
    pub file: String,
    /// Its identity (`spiffe://bulkhead/…`), empty for a public listener's.
    pub identity: String,
    /// Its serial (hex).
    pub serial: String,
    /// End of validity (UTC).
    pub not_after: DateTime<Utc>,
    /// Whole days left (negative: expired).
    pub days_left: i64,
}

/// What `issued.json` says about expiry.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
#[schema(as = CertificateExpiry)]
pub struct Certificates {
    /// `known`, or `unknown` when the file is missing or unreadable.
    pub status: String,
    /// The file read (`[system] issued_json`).
    pub issued_json: String,
    /// Why unknown.
    pub reason: Option<String>,
    /// Certificates in force (the latest issued per file).
    pub checked: usize,
    /// Those that expire within 30 days, soonest first.
    pub expiring: Vec<ExpiringCert>,
}

/// The system view.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
#[schema(as = SystemView)]
pub struct Overview {
    /// Each server or tenant that delivers to company (or that company pulls: dev).
    pub sources: Vec<SourceState>,
    /// Company's own security events not yet moved to its list.
    pub own_backlog: i64,
    /// Anchors that mismatched or went backwards, newest first (at most 50).
    pub anchor_mismatches: Vec<StoredEvent>,
    /// How many there are in all.
    pub anchor_mismatch_total: i64,
    /// Alerts not yet acknowledged.
    pub open_alerts: i64,
    /// Certificates that expire within 30 days.
    pub certificates: Certificates,
}

/// The database's part of the view.
pub struct Stored {
    /// Per source.
    pub sources: Vec<SourceState>,
    /// Company's own outbox.
    pub own_backlog: i64,
    /// Newest mismatches.
    pub mismatches: Vec<StoredEvent>,
    /// All mismatches.
    pub mismatch_total: i64,
    /// Open alerts.
    pub open_alerts: i64,
}

type Key = (String, String);

/// Everything the view shows that lives in the database.
pub fn overview(conn: &mut DbConn) -> ApiResult<Stored> {
    let mut sources: BTreeMap<Key, SourceState> = BTreeMap::new();
    let events: Vec<(String, String, Option<NaiveDateTime>)> = security_events::table
        .filter(security_events::source_service.ne("company"))
        .group_by((
            security_events::source_service,
            security_events::source_tenant,
        ))
        .select((
            security_events::source_service,
            security_events::source_tenant,
            max(security_events::received_at),
        ))
        .load(conn)?;
    for (s, t, at) in events {
        let st = sources.entry((s, t)).or_default();
        st.last_event_at = at;
    }
    let anchors: Vec<(String, String, Option<NaiveDateTime>, Option<i64>)> = audit_anchors::table
        .group_by((audit_anchors::source_service, audit_anchors::source_tenant))
        .select((
            audit_anchors::source_service,
            audit_anchors::source_tenant,
            max(audit_anchors::received_at),
            max(audit_anchors::chain_seq),
        ))
        .load(conn)?;
    for (s, t, at, seq) in anchors {
        let st = sources.entry((s, t)).or_default();
        st.last_anchor_at = at;
        st.last_anchor_seq = seq;
    }
    let reported: Vec<(String, String, Option<i64>, NaiveDateTime)> = plane_sources::table
        .select((
            plane_sources::source_service,
            plane_sources::source_tenant,
            plane_sources::backlog,
            plane_sources::reported_at,
        ))
        .load(conn)?;
    for (s, t, backlog, at) in reported {
        let st = sources.entry((s, t)).or_default();
        st.backlog = backlog;
        st.last_delivery_at = Some(at);
    }
    let sources = sources
        .into_iter()
        .map(|((s, t), mut st)| {
            st.source_service = s;
            st.source_tenant = t;
            st
        })
        .collect();
    let own_backlog = common::security::pending_count(conn, None)?;
    let mismatches = security_events::table
        .filter(security_events::kind.eq_any(MISMATCH_KINDS.to_vec()))
        .order(security_events::seq.desc())
        .limit(MISMATCHES_SHOWN)
        .select(StoredEvent::as_select())
        .load(conn)?;
    let mismatch_total = security_events::table
        .filter(security_events::kind.eq_any(MISMATCH_KINDS.to_vec()))
        .count()
        .get_result(conn)?;
    let open_alerts = crate::alerts::store::count_open(conn)?;
    Ok(Stored {
        sources,
        own_backlog,
        mismatches,
        mismatch_total,
        open_alerts,
    })
}

/// One entry of `issued.json` (as `pki` writes it).
#[derive(Debug, Deserialize)]
struct IssuedRecord {
    serial: String,
    #[serde(default)]
    identity: String,
    file: String,
    not_after: DateTime<Utc>,
}

/// Read `issued.json` at `path`: the latest certificate issued per file,
/// those expiring within [`EXPIRY_DAYS`] listed. Never fails: a missing
/// or unreadable file is `unknown`.
pub async fn certificates(path: &Path, at: DateTime<Utc>) -> Certificates {
    let shown = path.display().to_string();
    let unknown = |reason: String| Certificates {
        status: "unknown".into(),
        issued_json: shown.clone(),
        reason: Some(reason),
        checked: 0,
        expiring: Vec::new(),
    };
    let bytes = match tokio::fs::read(path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return unknown("the file does not exist".into())
        }
        Err(e) => return unknown(format!("the file cannot be read ({})", e.kind())),
    };
    let records: Vec<IssuedRecord> = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(_) => return unknown("the file is not a list of issued certificates".into()),
    };
    // Rotation issues a new certificate for the same file: the last one is in force.
    let mut latest: BTreeMap<String, IssuedRecord> = BTreeMap::new();
    for r in records {
        latest.insert(r.file.clone(), r);
    }
    let checked = latest.len();
    let mut expiring: Vec<ExpiringCert> = latest
        .into_values()
        .filter(|r| r.not_after - at <= chrono::TimeDelta::days(EXPIRY_DAYS))
        .map(|r| ExpiringCert {
            days_left: (r.not_after - at).num_days(),
            file: r.file,
            identity: r.identity,
            serial: r.serial,
            not_after: r.not_after,
        })
        .collect();
    expiring.sort_by_key(|c| c.not_after);
    Certificates {
        status: "known".into(),
        issued_json: shown,
        reason: None,
        checked,
        expiring,
    }
}
