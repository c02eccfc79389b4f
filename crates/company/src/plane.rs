//! Company's plane workers: move company's own security events from its
//! outbox into the list, and pull dev's events and audit head (dev makes
//! no outbound call, so company reads from it), and dev's releases.

use std::time::Duration;

use common::config::Config;
use common::db::{Db, DbConn};
use common::mtls::client::PeerClient;
use common::plane::{PlaneContext, BATCH};
use common::{security, ApiResult};
use contracts::{paths, AuditHead, SecurityEvent};
use diesel::prelude::*;
use tokio::task::JoinHandle;

use crate::schema::pull_cursors;
use crate::{anchors, security_events};

/// Start the workers.
pub fn start(ctx: PlaneContext, _config: &Config) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let dev = PeerClient::new(
        &ctx.plane,
        &ctx.trust,
        common::mtls::ServiceIdentity::Dev,
        Some(ctx.alarms.clone()),
    )?;
    let hub = ctx.hub.clone();
    let own = tokio::spawn(every(
        ctx.plane.outbox_interval_secs,
        ctx.db.clone(),
        move |db| {
            let hub = hub.clone();
            async move {
                move_own_events(&db, &hub)
                    .await
                    .map(|_| ())
                    .map_err(anyhow::Error::from)
            }
        },
    ));
    let hub = ctx.hub.clone();
    let d1 = dev.clone();
    let pull_events = tokio::spawn(every(
        ctx.plane.outbox_interval_secs,
        ctx.db.clone(),
        move |db| {
            let (dev, hub) = (d1.clone(), hub.clone());
            async move { pull_dev_events(&db, &dev, &hub).await.map(|_| ()) }
        },
    ));
    let d2 = dev.clone();
    let pull_head = tokio::spawn(every(
        ctx.plane.anchor_interval_secs,
        ctx.db.clone(),
        move |db| {
            let dev = d2.clone();
            async move { pull_dev_head(&db, &dev).await }
        },
    ));
    let pull_releases = tokio::spawn(every(
        ctx.plane.outbox_interval_secs,
        ctx.db.clone(),
        move |db| {
            let dev = dev.clone();
            async move { crate::releases::pull::pull(&db, &dev).await.map(|_| ()) }
        },
    ));
    Ok(vec![own, pull_events, pull_head, pull_releases])
}

async fn every<F, Fut>(secs: u64, db: Db, job: F)
where
    F: Fn(Db) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut tick = tokio::time::interval(Duration::from_secs(secs));
    loop {
        tick.tick().await;
        if let Err(e) = job(db.clone()).await {
            tracing::warn!(error = %e, "plane job failed; will retry");
        }
    }
}

/// Company's own outbox → its list, in one transaction (exactly once);
/// once committed, the new events go to the admins' live feed.
pub async fn move_own_events(db: &Db, hub: &common::realtime::Hub) -> ApiResult<usize> {
    let (n, fresh, raised) = db
        .write(|c| {
            let events = security::pending(c, 1000, None)?;
            let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
            let (fresh, _, raised) =
                security_events::store::insert_alerting(c, "company", "", &events)?;
            security::mark_delivered(c, &ids)?;
            Ok((ids.len(), fresh, raised))
        })
        .await?;
    security_events::publish(hub, &fresh);
    crate::alerts::publish(hub, &raised);
    Ok(n)
}

pub(crate) fn cursor(conn: &mut DbConn, source: &str) -> ApiResult<i64> {
    Ok(pull_cursors::table
        .filter(pull_cursors::source.eq(source))
        .select(pull_cursors::position)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

pub(crate) fn set_cursor(conn: &mut DbConn, source: &str, position: i64) -> ApiResult<()> {
    let n = diesel::update(pull_cursors::table.filter(pull_cursors::source.eq(source)))
        .set(pull_cursors::position.eq(position))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(pull_cursors::table)
            .values((
                pull_cursors::source.eq(source),
                pull_cursors::position.eq(position),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Pull dev's events after the stored cursor until caught up.
pub async fn pull_dev_events(
    db: &Db,
    dev: &PeerClient,
    hub: &common::realtime::Hub,
) -> anyhow::Result<usize> {
    let mut pulled = 0;
    loop {
        let after = db.run(|c| cursor(c, "dev.security_events")).await?;
        let events: Vec<SecurityEvent> = dev
            .get(
                paths::DEV_SECURITY_EVENTS,
                &[("after", after.to_string()), ("limit", BATCH.to_string())],
            )
            .await?;
        let Some(last) = events.iter().map(|e| e.seq).max() else {
            return Ok(pulled);
        };
        let n = events.len();
        let (fresh, raised) = db
            .write(move |c| {
                let (fresh, _, raised) =
                    security_events::store::insert_alerting(c, "dev", "", &events)?;
                set_cursor(c, "dev.security_events", last)?;
                Ok((fresh, raised))
            })
            .await?;
        security_events::publish(hub, &fresh);
        crate::alerts::publish(hub, &raised);
        pulled += n;
        if (n as i64) < BATCH {
            return Ok(pulled);
        }
    }
}

/// Pull dev's audit head and keep it as an anchor.
pub async fn pull_dev_head(db: &Db, dev: &PeerClient) -> anyhow::Result<()> {
    let head: AuditHead = dev.get(paths::AUDIT_HEAD, &[]).await?;
    if head.seq == 0 {
        return Ok(());
    }
    anchors::internal::validate(&head)?;
    let anchored = db
        .write(move |c| anchors::store::insert(c, "dev", "", head.seq, &head.hash))
        .await?;
    match anchored {
        anchors::store::Anchored::New | anchors::store::Anchored::Known => {}
        anchors::store::Anchored::Conflict { held } => anyhow::bail!(
            "dev reported seq {} with a hash other than the anchored {held}",
            head.seq
        ),
        anchors::store::Anchored::Regressed { highest } => anyhow::bail!(
            "dev reported seq {} behind the anchored seq {highest}",
            head.seq
        ),
    }
    Ok(())
}
