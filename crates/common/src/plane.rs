//! Background work of the internal plane: deliver the security-event
//! outbox and the audit head to company (hospital, owner), and record
//! refused client certificates (internal listeners).

use std::time::Duration;

use contracts::{paths, AuditHead, BatchReceipt, SecurityEventBatch};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::audit::Severity;
use crate::config::PlaneSection;
use crate::db::Db;
use crate::error::ApiResult;
use crate::mtls::client::PeerClient;
use crate::mtls::tls::Refusal;
use crate::mtls::ServiceIdentity;
use crate::security::{self, NewEvent};

/// What a server's plane workers get.
#[derive(Clone)]
pub struct PlaneContext {
    /// The server's database.
    pub db: Db,
    /// Its plane configuration.
    pub plane: PlaneSection,
    /// Its own identity (from its certificate).
    pub identity: ServiceIdentity,
    /// The CA and the CRL in force, shared with the internal listener.
    pub trust: crate::mtls::Trust,
    /// Where refused peers and CRL trouble are raised.
    pub alarms: crate::mtls::alarm::AlarmSender,
    /// The server's real-time hub (company: stored events go live to admins).
    pub hub: actix_web::web::Data<crate::realtime::Hub>,
}

/// Events per delivery.
pub const BATCH: i64 = 100;

/// Hospital and owner: ship the outbox and the audit head to company.
pub fn start_reporting(ctx: PlaneContext) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let company = PeerClient::new(
        &ctx.plane,
        &ctx.trust,
        ServiceIdentity::Company,
        Some(ctx.alarms.clone()),
    )?;
    let events = tokio::spawn(ship_events_forever(ctx.clone(), company.clone()));
    let anchors = tokio::spawn(send_anchors_forever(ctx, company));
    Ok(vec![events, anchors])
}

/// Ship the security events of `ctx`'s tenant (its certificate's) to
/// company: for the further tenants of a hosted hospital
/// ([`tenant_contexts`]); the anchors of the one database go under the
/// server's own certificate ([`start_reporting`]).
pub fn start_events(ctx: PlaneContext, company: PeerClient) -> JoinHandle<()> {
    tokio::spawn(ship_events_forever(ctx, company))
}

/// The further tenants' certificates of a hosted hospital
/// (`plane.tenant_certs_dir`: `<name>.crt` + `<name>.key`, sorted by
/// name): each identity with its certificate and key files. Each must be a
/// hospital certificate naming a tenant; anything else is an error naming
/// the file.
pub fn tenant_certificates(
    plane: &PlaneSection,
) -> anyhow::Result<Vec<(ServiceIdentity, std::path::PathBuf, std::path::PathBuf)>> {
    use anyhow::{bail, Context};
    let Some(dir) = plane.tenant_certs_dir.as_ref() else {
        return Ok(Vec::new());
    };
    let mut certs: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("plane.tenant_certs_dir {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    certs.sort();
    let mut out = Vec::new();
    for cert in certs {
        let key = cert.with_extension("key");
        if !key.is_file() {
            bail!("{}: no {} beside it", cert.display(), key.display());
        }
        let chain = crate::mtls::tls::load_certs(&cert)
            .with_context(|| format!("tenant certificate {}", cert.display()))?;
        let leaf = chain.first().context("empty certificate file")?;
        let identity = crate::mtls::tls::identity_of(leaf)
            .map_err(|e| anyhow::anyhow!("{}: {e}", cert.display()))?;
        if !matches!(identity, ServiceIdentity::Hospital { .. }) || identity.tenant().is_none() {
            bail!(
                "{}: not a hospital certificate for a tenant ({identity})",
                cert.display()
            );
        }
        out.push((identity, cert, key));
    }
    Ok(out)
}

/// A hosted hospital's further tenants: one context per certificate of
/// [`tenant_certificates`], with that certificate as the client identity.
/// A tenant named twice (or the server's own) stops the start.
pub fn tenant_contexts(ctx: &PlaneContext) -> anyhow::Result<Vec<PlaneContext>> {
    let mut seen: Vec<String> = ctx
        .identity
        .tenant()
        .map(str::to_string)
        .into_iter()
        .collect();
    let mut out = Vec::new();
    for (identity, cert, key) in tenant_certificates(&ctx.plane)? {
        let tenant = identity.tenant().unwrap_or_default().to_ascii_lowercase();
        if seen.iter().any(|t| t.eq_ignore_ascii_case(&tenant)) {
            anyhow::bail!(
                "{}: tenant {tenant} has a certificate already",
                cert.display()
            );
        }
        seen.push(tenant);
        let mut plane = ctx.plane.clone();
        plane.cert = cert;
        plane.key = key;
        out.push(PlaneContext {
            plane,
            identity,
            ..ctx.clone()
        });
    }
    Ok(out)
}

async fn ship_events_forever(ctx: PlaneContext, company: PeerClient) {
    let mut tick = tokio::time::interval(Duration::from_secs(ctx.plane.outbox_interval_secs));
    loop {
        tick.tick().await;
        if let Err(e) = ship_events_once(&ctx, &company).await {
            tracing::warn!(error = %e, "security events not delivered yet; will retry");
        }
    }
}

/// Deliver every pending event now. Returns how many company took.
pub async fn ship_events_once(ctx: &PlaneContext, company: &PeerClient) -> anyhow::Result<usize> {
    let tenant = ctx.identity.tenant().map(str::to_string);
    let mut delivered = 0;
    loop {
        let t = tenant.clone();
        let (events, waiting) = ctx
            .db
            .run(move |c| {
                let events = security::pending(c, BATCH, t.as_deref())?;
                let waiting = security::pending_count(c, t.as_deref())?;
                Ok((events, waiting))
            })
            .await?;
        if events.is_empty() {
            return Ok(delivered);
        }
        let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
        let n = events.len();
        // What stays in the outbox once this batch is taken: company shows it.
        let backlog = Some((waiting - n as i64).max(0));
        let batch = SecurityEventBatch { events, backlog };
        match company
            .post::<_, BatchReceipt>(paths::SECURITY_EVENTS, &batch)
            .await
        {
            Ok(_) => {
                ctx.db
                    .write(move |c| security::mark_delivered(c, &ids))
                    .await?;
                delivered += n;
            }
            Err(e) => {
                let _ = ctx.db.write(move |c| security::mark_attempt(c, &ids)).await;
                return Err(e.into());
            }
        }
        if (n as i64) < BATCH {
            return Ok(delivered);
        }
    }
}

async fn send_anchors_forever(ctx: PlaneContext, company: PeerClient) {
    let mut tick = tokio::time::interval(Duration::from_secs(ctx.plane.anchor_interval_secs));
    let critical = ctx.db.critical_committed();
    let mut last_sent = 0_i64;
    loop {
        // Periodically, and at once after a critical event: the tail after
        // the last anchor is what a database writer could still rewrite.
        tokio::select! {
            _ = tick.tick() => {}
            _ = critical.notified() => {}
        }
        match send_anchor_once(&ctx, &company, last_sent).await {
            Ok(seq) => last_sent = seq,
            Err(e) => tracing::warn!(error = %e, "audit anchor not delivered yet; will retry"),
        }
    }
}

/// Read the audit head.
pub fn head(conn: &mut crate::db::DbConn) -> ApiResult<AuditHead> {
    crate::audit::head(conn)
}

/// Send the head if it moved since `last_sent`. Returns the seq now anchored.
pub async fn send_anchor_once(
    ctx: &PlaneContext,
    company: &PeerClient,
    last_sent: i64,
) -> anyhow::Result<i64> {
    let head = ctx.db.run(head).await?;
    if head.seq == 0 || head.seq == last_sent {
        return Ok(last_sent);
    }
    company
        .post::<_, serde_json::Value>(paths::AUDIT_ANCHORS, &head)
        .await?;
    Ok(head.seq)
}

/// Internal listeners: turn refused certificates into security events.
pub fn record_refusals(db: Db, mut rx: mpsc::UnboundedReceiver<Refusal>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(r) = rx.recv().await {
            let actor = r
                .claimed
                .clone()
                .unwrap_or_else(|| "unknown-certificate".into());
            let event = NewEvent::new(
                "cert.refused",
                Severity::Warning,
                &actor,
                None,
                json!({ "reason": r.reason, "stage": "handshake" }),
            );
            if let Err(e) = db.write(move |c| security::record(c, &event)).await {
                tracing::warn!(error = %e, "could not record a refused certificate");
            }
        }
    })
}
