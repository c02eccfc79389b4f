//! Shipping the change log to owner.
//!
//! Two steps, each crash-safe on its own:
//!
//! 1. **Seal** (one writer job): take the oldest `batch_rows` changes, seal
//!    them as the next batch of the chain, store the sealed bytes in
//!    `sync_outbox`, delete those changes from `change_log`, and move the
//!    chain (`sync_state`: next number, tag) — all in one transaction, so a
//!    change is in the log or in exactly one sealed batch, never both,
//!    never neither.
//! 2. **Send** the outbox oldest first, the stored bytes as they are (a
//!    retry after a crash sends the same bytes; owner answers "duplicate").
//!    Owner's receipt removes the batch from the outbox.
//!
//! Sealing stops while [`MAX_UNSENT`] batches wait, so an unreachable
//! owner leaves changes in the log rather than growing sealed copies.
//! Owner refusing a batch (gap or conflict) is a critical security event
//! and stops shipping until an operator looks: nothing is dropped.

use std::sync::LazyLock;
use std::time::Duration;

use common::audit::Severity;
use common::db::{changelog, now, Db, DbConn};
use common::mtls::client::{PeerClient, PeerError};
use common::plane::PlaneContext;
use common::security::{self, NewEvent};
use common::ApiResult;
use contracts::backup::{self, BackupBatch, BackupKey, BackupReceipt, BatchHeader, TAG_LEN};
use contracts::{paths, SyncHealth};
use diesel::prelude::*;
use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::BackupSection;
use crate::schema::{change_log, sync_outbox, sync_state};
use common::schema::audit_log;

/// Sealed batches that may wait for owner before sealing pauses.
pub const MAX_UNSENT: i64 = 4;

/// Woken by owner's `sync_now` command.
static NOW: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Ship at once (owner's "sync now").
pub fn request_now() {
    NOW.notify_one();
}

/// What one shipping round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Shipped {
    /// Batches sealed.
    pub sealed: usize,
    /// Batches owner acknowledged.
    pub sent: usize,
    /// Changes in the acknowledged batches.
    pub rows: i64,
}

/// Everything a shipper needs.
#[derive(Clone)]
pub struct Shipper {
    /// The database.
    pub db: Db,
    /// Owner over mTLS.
    pub owner: PeerClient,
    /// The tenant key.
    pub key: BackupKey,
    /// The certificate's tenant.
    pub tenant: String,
    /// Changes per batch.
    pub batch_rows: i64,
}

/// After a round that failed (owner unreachable, a timeout, a busy
/// database), the next try comes after this, doubling up to
/// [`RETRY_MAX`] (never later than the interval): a passing failure
/// delays the copy by seconds, not by a whole interval.
pub const RETRY_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between tries while owner keeps failing.
pub const RETRY_MAX: Duration = Duration::from_secs(60);

/// The wait before the try after `failures` failed rounds in a row.
fn retry_after(failures: u32, every: Duration) -> Duration {
    let doubled = RETRY_FIRST.saturating_mul(1 << failures.saturating_sub(1).min(16));
    doubled.min(RETRY_MAX).min(every)
}

/// Start shipping every `[backup] interval_secs`, on "sync now", and soon
/// again after a failed round ([`retry_after`]); none without a key (a
/// warning says so) or without a tenant certificate.
pub fn start(
    ctx: &PlaneContext,
    owner: PeerClient,
    section: &BackupSection,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let Some(tenant) = ctx.identity.tenant().map(str::to_string) else {
        return Ok(None);
    };
    let Some(file) = &section.key_file else {
        tracing::warn!(
            "no [backup] key_file: the online copy is not shipped; changes wait in the log"
        );
        return Ok(None);
    };
    let shipper = Shipper {
        db: ctx.db.clone(),
        owner,
        key: super::read_key(file)?,
        tenant,
        batch_rows: section.batch_rows,
    };
    let every = Duration::from_secs(section.interval_secs);
    Ok(Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut failures = 0_u32;
        loop {
            let retry = async {
                if failures == 0 {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(retry_after(failures, every)).await;
            };
            tokio::select! {
                _ = tick.tick() => {}
                () = NOW.notified() => {}
                () = retry => {}
            }
            match shipper.ship().await {
                Ok(s) => {
                    failures = 0;
                    if s.sent > 0 {
                        tracing::info!(
                            batches = s.sent,
                            changes = s.rows,
                            "online copy shipped to owner"
                        );
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(
                        error = %e,
                        retry_in_secs = retry_after(failures, every).as_secs(),
                        "online copy not shipped yet; will retry"
                    );
                }
            }
        }
    })))
}

impl Shipper {
    /// Seal (up to [`MAX_UNSENT`] batches waiting) and send, until the log
    /// is empty or owner stops answering.
    pub async fn ship(&self) -> anyhow::Result<Shipped> {
        let mut done = Shipped::default();
        loop {
            let mut drained = false;
            while self.db.run(|c| Ok(unsent(c)?)).await? < MAX_UNSENT {
                let key = self.key.clone();
                let tenant = self.tenant.clone();
                let rows = self.batch_rows;
                if self
                    .db
                    .write(move |c| seal_next(c, &key, &tenant, rows))
                    .await?
                    .is_none()
                {
                    drained = true;
                    break;
                }
                done.sealed += 1;
            }
            let s = self.send_outbox().await?;
            done.sent += s.sent;
            done.rows += s.rows;
            if drained {
                return Ok(done);
            }
        }
    }

    /// Send every sealed batch, oldest first; stops at the first failure.
    pub async fn send_outbox(&self) -> anyhow::Result<Shipped> {
        let mut done = Shipped::default();
        loop {
            let next: Option<(i64, String, i64)> = self
                .db
                .run(|c| {
                    Ok(sync_outbox::table
                        .order(sync_outbox::batch_no.asc())
                        .select((sync_outbox::batch_no, sync_outbox::body, sync_outbox::rows))
                        .first(c)
                        .optional()?)
                })
                .await?;
            let Some((batch_no, body, rows)) = next else {
                return Ok(done);
            };
            let batch: BackupBatch = serde_json::from_str(&body)?;
            match self
                .owner
                .post::<_, BackupReceipt>(paths::BACKUPS, &batch)
                .await
            {
                Ok(receipt) => {
                    anyhow::ensure!(
                        receipt.batch_no == batch_no,
                        "owner acknowledged batch {} for batch {batch_no}",
                        receipt.batch_no
                    );
                    self.db
                        .write(move |c| acknowledged(c, batch_no, rows))
                        .await?;
                    done.sent += 1;
                    done.rows += rows;
                }
                Err(PeerError::Status { status, code, .. }) if status == 409 => {
                    // A gap or a conflict: owner holds something else under
                    // this number. Nothing is dropped; an operator decides.
                    let event = NewEvent::new(
                        "backup.refused",
                        Severity::Critical,
                        "system",
                        Some(&self.tenant),
                        json!({ "batch_no": batch_no, "status": status, "code": code }),
                    );
                    // Raised once per batch, not at every retry.
                    let why = format!("{status} {code}");
                    self.db
                        .write(move |c| {
                            let before: Option<String> = sync_outbox::table
                                .find(batch_no)
                                .select(sync_outbox::last_error)
                                .first(c)?;
                            attempt(c, batch_no, &why)?;
                            if before.as_deref() != Some(why.as_str()) {
                                security::record(c, &event)?;
                            }
                            Ok(())
                        })
                        .await?;
                    anyhow::bail!("owner refused batch {batch_no}: {status} {code}");
                }
                Err(e) => {
                    let why: String = e.to_string().chars().take(200).collect();
                    let _ = self.db.write(move |c| attempt(c, batch_no, &why)).await;
                    return Err(e.into());
                }
            }
        }
    }
}

fn unsent(c: &mut DbConn) -> diesel::QueryResult<i64> {
    sync_outbox::table.count().get_result(c)
}

fn attempt(c: &mut DbConn, batch_no: i64, why: &str) -> ApiResult<()> {
    diesel::update(sync_outbox::table.find(batch_no))
        .set((
            sync_outbox::attempts.eq(sync_outbox::attempts + 1),
            sync_outbox::last_error.eq(Some(why)),
        ))
        .execute(c)?;
    Ok(())
}

fn acknowledged(c: &mut DbConn, batch_no: i64, rows: i64) -> ApiResult<()> {
    let gone = diesel::delete(sync_outbox::table.find(batch_no)).execute(c)?;
    if gone == 1 {
        diesel::update(sync_state::table.find(1))
            .set((
                sync_state::acked_batch_no.eq(batch_no),
                sync_state::acked_at.eq(Some(now())),
                sync_state::shipped_rows.eq(sync_state::shipped_rows + rows),
            ))
            .execute(c)?;
    }
    Ok(())
}

fn parse_tag(hex_tag: &str) -> ApiResult<[u8; TAG_LEN]> {
    hex::decode(hex_tag)
        .ok()
        .and_then(|t| t.try_into().ok())
        .ok_or_else(|| {
            common::ApiError::Internal(anyhow::anyhow!("sync_state.prev_tag is not 16 hex bytes"))
        })
}

/// Seal the oldest `batch_rows` changes as the chain's next batch (run as
/// one writer job). `None`: the log is empty. The audit rows appended
/// since the last seal join the log first (the audit log is followed by
/// its seq, not by a trigger: [`changelog::copy_appended`]).
pub fn seal_next(
    c: &mut DbConn,
    key: &BackupKey,
    tenant: &str,
    batch_rows: i64,
) -> ApiResult<Option<i64>> {
    let shipped: i64 = sync_state::table
        .find(1)
        .select(sync_state::audit_shipped)
        .first(c)?;
    let copied = changelog::copy_appended(c, shipped, batch_rows)?;
    if copied > shipped {
        diesel::update(sync_state::table.find(1))
            .set(sync_state::audit_shipped.eq(copied))
            .execute(c)?;
    }
    type Row = (i64, String, String, String, chrono::NaiveDateTime);
    let rows: Vec<Row> = change_log::table
        .order(change_log::seq.asc())
        .limit(batch_rows)
        .select((
            change_log::seq,
            change_log::tbl,
            change_log::op,
            change_log::row_data,
            change_log::logged_at,
        ))
        .load(c)?;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(None);
    };
    let (first_seq, last_seq) = (first.0, last.0);
    let oldest_at = rows.iter().map(|r| r.4).min().unwrap_or_else(now);
    let (batch_no, prev_tag): (i64, String) = sync_state::table
        .find(1)
        .select((sync_state::next_batch_no, sync_state::prev_tag))
        .first(c)?;
    let prev = parse_tag(&prev_tag)?;
    let mut lines = Vec::with_capacity(rows.iter().map(|r| r.3.len() + 48).sum());
    for (seq, tbl, op, row, _) in &rows {
        backup::push_change(&mut lines, *seq, tbl, op, row)?;
    }
    let header = BatchHeader {
        tenant_id: tenant.to_string(),
        batch_no,
        first_seq,
        last_seq,
        rows: rows.len() as i64,
        backend: match c {
            DbConn::Sqlite(_) => "sqlite",
            DbConn::Pg(_) => "postgres",
        }
        .to_string(),
        schema_version: crate::owner_link::heartbeat::migration_version(c)?,
        created_at: now(),
    };
    let (batch, tag) = backup::seal(key, header, &prev, &lines)?;
    let created_at = batch.created_at;
    diesel::insert_into(sync_outbox::table)
        .values((
            sync_outbox::batch_no.eq(batch_no),
            sync_outbox::body.eq(serde_json::to_string(&batch).map_err(anyhow::Error::from)?),
            sync_outbox::first_seq.eq(first_seq),
            sync_outbox::last_seq.eq(last_seq),
            sync_outbox::rows.eq(batch.rows),
            sync_outbox::oldest_at.eq(oldest_at),
            sync_outbox::created_at.eq(created_at),
        ))
        .execute(c)?;
    let taken =
        diesel::delete(change_log::table.filter(change_log::seq.le(last_seq))).execute(c)?;
    if taken != rows.len() {
        return Err(common::ApiError::Internal(anyhow::anyhow!(
            "change log moved while sealing batch {batch_no}: {taken} rows for {}",
            rows.len()
        )));
    }
    diesel::update(sync_state::table.find(1))
        .set((
            sync_state::next_batch_no.eq(batch_no + 1),
            sync_state::prev_tag.eq(hex::encode(tag)),
        ))
        .execute(c)?;
    Ok(Some(batch_no))
}

/// What the heartbeat reports of the online copy.
pub fn health(c: &mut DbConn) -> ApiResult<SyncHealth> {
    let logged: i64 = change_log::table.count().get_result(c)?;
    let oldest_logged: Option<chrono::NaiveDateTime> = change_log::table
        .select(diesel::dsl::min(change_log::logged_at))
        .first(c)?;
    // A few rows at most (sealing pauses at MAX_UNSENT); SUM of a BIGINT
    // is NUMERIC on PostgreSQL.
    let sealed: i64 = sync_outbox::table
        .select(sync_outbox::rows)
        .load::<i64>(c)?
        .iter()
        .sum();
    let oldest_sealed: Option<chrono::NaiveDateTime> = sync_outbox::table
        .select(diesel::dsl::min(sync_outbox::oldest_at))
        .first(c)?;
    let (acked, acked_at, audit_shipped): (i64, Option<chrono::NaiveDateTime>, i64) =
        sync_state::table
            .find(1)
            .select((
                sync_state::acked_batch_no,
                sync_state::acked_at,
                sync_state::audit_shipped,
            ))
            .first(c)?;
    // Audit rows wait in the audit log itself until a seal copies them.
    // The chain's seq has no gaps, so they are the head's seq less the
    // mark (one row read, not a count over a log that may be long).
    let audit_waiting = (common::audit::head(c)?.seq - audit_shipped).max(0);
    let oldest_audit: Option<chrono::NaiveDateTime> = audit_log::table
        .filter(audit_log::seq.gt(audit_shipped))
        .order(audit_log::seq.asc())
        .select(audit_log::occurred_at)
        .first(c)
        .optional()?;
    Ok(SyncHealth {
        pending_changes: logged + sealed + audit_waiting,
        oldest_pending_at: [oldest_logged, oldest_sealed, oldest_audit]
            .into_iter()
            .flatten()
            .min(),
        last_batch_no: acked,
        last_shipped_at: acked_at,
    })
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    #[test]
    fn a_failed_round_is_tried_again_within_seconds_then_less_often() {
        let hour = Duration::from_secs(3600);
        let waits: Vec<u64> = (1..=9).map(|n| retry_after(n, hour).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(retry_after(u32::MAX, hour), RETRY_MAX);
        // Never later than the interval itself.
        assert_eq!(retry_after(5, Duration::from_secs(10)).as_secs(), 10);
    }
}
