//! Alarms of the internal plane that must not pass silently: a CRL that is
//! missing, unreadable or expired, and a peer that is not the service we
//! meant to call. The TLS code (synchronous, inside rustls) only sends them
//! down a channel; [`record_alarms`] writes each one as a local audit row
//! and a security event in one transaction, so the event reaches company
//! with the next delivery that reaches the real company.

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::audit::{self, Origin, Severity};
use crate::db::Db;
use crate::security::{self, NewEvent};

/// One alarm.
#[derive(Debug, Clone)]
pub struct Alarm {
    /// Dotted kind: `crl.unavailable`, `crl.expired`, `plane.peer_refused`, …
    pub kind: &'static str,
    /// How serious.
    pub severity: Severity,
    /// Who it is about: a peer identity, or the CRL's path.
    pub actor: String,
    /// Facts (never secrets).
    pub details: Value,
}

/// Where the TLS code sends its alarms.
pub type AlarmSender = mpsc::UnboundedSender<Alarm>;

/// Log `alarm` and hand it to `sink`, if there is one.
pub fn raise(sink: Option<&AlarmSender>, alarm: Alarm) {
    match alarm.severity {
        Severity::Critical => {
            tracing::error!(kind = alarm.kind, actor = %alarm.actor, details = %alarm.details, "plane alarm")
        }
        _ => {
            tracing::warn!(kind = alarm.kind, actor = %alarm.actor, details = %alarm.details, "plane alarm")
        }
    }
    if let Some(tx) = sink {
        let _ = tx.send(alarm);
    }
}

/// Write every alarm of `rx` as an audit row and a security event of
/// `tenant` (a hospital's own tenant, so its outbox may carry it).
pub fn record_alarms(
    db: Db,
    tenant: Option<String>,
    mut rx: mpsc::UnboundedReceiver<Alarm>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(alarm) = rx.recv().await {
            let row = audit::Event::new("system", "system", alarm.kind, &alarm.actor)
                .outcome("failure")
                .severity(alarm.severity)
                .tenant(tenant.as_deref())
                .details(alarm.details.clone());
            let event = NewEvent::new(
                alarm.kind,
                alarm.severity,
                &alarm.actor,
                tenant.as_deref(),
                alarm.details,
            );
            let written = db
                .write(move |c| {
                    audit::append(c, &row, &Origin::default())?;
                    security::record(c, &event)
                })
                .await;
            if let Err(e) = written {
                tracing::warn!(error = %e, "could not record a plane alarm");
            }
        }
    })
}
