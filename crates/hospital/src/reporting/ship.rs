//! Shipping the pending reports to company (plane worker), oldest first,
//! under this server's certificate: only the tenant it names. The exact
//! stored bytes are posted; company answers 200 for a new report or a
//! retry of the same bytes. A 4xx is final (`refused`, with company's
//! code, and a warning security event); anything else is retried at the
//! next tick.

use std::time::Duration;

use common::audit::Severity;
use common::db::Db;
use common::mtls::client::{PeerClient, PeerError};
use common::plane::PlaneContext;
use common::security::{self, NewEvent};
use contracts::paths;
use contracts::report::{DeidentifiedReport, ReportReceipt};
use serde_json::json;
use tokio::task::JoinHandle;

use super::store;

/// Reports per tick.
const BATCH: i64 = 20;

/// Start the shipping loop (every `plane.outbox_interval_secs`).
pub fn start(ctx: &PlaneContext, company: PeerClient) -> Option<JoinHandle<()>> {
    let tenant = ctx.identity.tenant()?.to_string();
    let db = ctx.db.clone();
    let every = Duration::from_secs(ctx.plane.outbox_interval_secs);
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = ship_once(&db, &company, &tenant).await {
                tracing::warn!(error = %e, "reports not delivered yet; will retry");
            }
        }
    }))
}

/// Deliver `tenant`'s pending reports now. Returns how many company took.
pub async fn ship_once(db: &Db, company: &PeerClient, tenant: &str) -> anyhow::Result<usize> {
    let t = tenant.to_string();
    let rows = db.run(move |c| store::pending(c, &t, BATCH)).await?;
    let mut sent = 0;
    for row in rows {
        // Decoded and encoded again: the wire type's encoding is
        // deterministic, so these are the stored bytes (checked).
        let body: DeidentifiedReport = serde_json::from_str(&row.body)?;
        anyhow::ensure!(
            serde_json::to_string(&body)? == row.body,
            "report {} does not encode back to its stored bytes",
            row.id
        );
        let id = row.id.clone();
        match company
            .post::<_, ReportReceipt>(paths::REPORTS, &body)
            .await
        {
            Ok(_) => {
                db.write(move |c| store::mark_sent(c, &id)).await?;
                sent += 1;
            }
            Err(PeerError::Status { status, code, .. })
                if (400..500).contains(&status) && status != 429 =>
            {
                let why = format!("{status} {code}");
                let event = NewEvent::new(
                    "report.refused",
                    Severity::Warning,
                    "system",
                    Some(tenant),
                    json!({ "report_id": id, "status": status, "code": code }),
                );
                db.write(move |c| {
                    store::mark_refused(c, &id, &why)?;
                    security::record(c, &event)
                })
                .await?;
            }
            Err(e) => {
                let why: String = e.to_string().chars().take(200).collect();
                let _ = db.write(move |c| store::mark_attempt(c, &id, &why)).await;
                return Err(e.into());
            }
        }
    }
    Ok(sent)
}
