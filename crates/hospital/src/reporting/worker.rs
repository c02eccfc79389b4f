//! Making a report (shared by the schedule and the admin's request) and
//! the schedule itself.

use std::time::Duration;

use common::audit::{self, Event, Origin};
use common::config::Config;
use common::crypto::Keyring;
use common::db::{now, Db};
use common::ApiResult;
use contracts::report::IsoWeek;
use serde_json::json;
use tokio::task::JoinHandle;

use super::store::{self, status, ReportRow, ReportView};
use super::{compute, ReportingSection};

/// Who asked for a report.
pub struct Requester {
    /// `schedule` or `admin`.
    pub origin: &'static str,
    /// User id, or `system`.
    pub actor: String,
    /// The actor's role (`system` for the schedule).
    pub role: String,
    /// Request origin for the audit row.
    pub request: Origin,
}

impl Requester {
    /// The schedule.
    pub fn schedule() -> Self {
        Self {
            origin: "schedule",
            actor: "system".into(),
            role: "system".into(),
            request: Origin::default(),
        }
    }
}

/// Compute `tenant`'s report over `period`, then store it as pending with
/// its audit row (`report.create`: period, hash and sizes, never counts).
pub async fn create(
    db: &Db,
    keyring: &Keyring,
    tenant: &str,
    section: &ReportingSection,
    period: (IsoWeek, IsoWeek),
    by: Requester,
) -> ApiResult<ReportView> {
    let (k, t, s) = (keyring.clone(), tenant.to_string(), section.clone());
    let report = db
        .run(move |c| compute::report(c, &k, &t, &s, period))
        .await?;
    let body = serde_json::to_string(&report)
        .map_err(|e| common::ApiError::Internal(anyhow::anyhow!("encoding a report: {e}")))?;
    let row = ReportRow {
        id: report.report_id.to_string(),
        tenant_id: tenant.to_string(),
        period_from: report.from.to_string(),
        period_to: report.to.to_string(),
        sha256: store::sha256(&body),
        cells: report.cells.len() as i64,
        suppressed: compute::suppressed(&report) as i64,
        body,
        origin: by.origin.to_string(),
        status: status::PENDING.into(),
        created_by: by.actor.clone(),
        created_at: now(),
        sent_at: None,
        attempts: 0,
        last_error: None,
    };
    let event = Event::new(
        &by.actor,
        &by.role,
        "report.create",
        &format!("report:{}", row.id),
    )
    .tenant(Some(tenant))
    .details(json!({
        "origin": row.origin, "from": row.period_from, "to": row.period_to,
        "sha256": row.sha256, "cells": row.cells, "suppressed": row.suppressed,
    }));
    let stored = row.clone();
    db.write(move |c| {
        store::insert(c, &stored)?;
        audit::append(c, &event, &by.request)?;
        Ok(())
    })
    .await?;
    Ok(ReportView::from(row))
}

/// The schedule: every `[reporting] interval_secs` (the first one interval
/// after start), a report of each tenant this server's certificates speak
/// for (its own; on a hosted server also those of `plane.tenant_certs_dir`).
/// Nothing when reporting or the plane is off.
pub fn start(
    config: &Config,
    db: &Db,
    keyring: Option<&Keyring>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let section = super::section(config)?;
    let Some(keyring) = keyring else {
        return Ok(Vec::new());
    };
    if !section.enabled {
        return Ok(Vec::new());
    }
    Ok(super::sender_tenants(config)
        .into_iter()
        .map(|tenant| {
            let (db, keyring, section) = (db.clone(), keyring.clone(), section.clone());
            tokio::spawn(async move {
                let every = Duration::from_secs(section.interval_secs);
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    tick.tick().await;
                    let period = compute::default_period(now(), section.weeks);
                    match create(
                        &db,
                        &keyring,
                        &tenant,
                        &section,
                        period,
                        Requester::schedule(),
                    )
                    .await
                    {
                        Ok(r) => {
                            tracing::info!(report = %r.id, cells = r.cells, suppressed = r.suppressed, "de-identified report computed")
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "the scheduled report could not be computed; will try at the next interval")
                        }
                    }
                }
            })
        })
        .collect())
}
