//! Each tenant's health, from its hospital's last heartbeat, and the
//! owner's `[tenant_health]` section that says when silence means
//! "unreachable".

use std::sync::Arc;

use actix_web::web;
use anyhow::bail;
use chrono::NaiveDateTime;
use common::config::Config;
use common::db::DbConn;
use common::server::{AppDataFn, Section};
use common::ApiResult;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::tenant_health;

/// `[tenant_health]`: how owner judges a hospital's heartbeats.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Standing {
    /// Heartbeat intervals (the hospital's own, as it reports it) without a
    /// heartbeat before the tenant is `unreachable` (2 to 100).
    pub unreachable_after_intervals: i64,
    /// Free disk below this (MiB) makes a tenant `degraded`.
    pub degraded_disk_free_mb: i64,
    /// Patient files using this share (percent) of the plan's storage
    /// quota or more make a tenant `degraded` (1 to 100).
    pub files_quota_warning_percent: i64,
    /// Changes the hospital has not shipped to the online copy for longer
    /// than this (seconds) make a tenant `degraded` (60 to 31536000).
    pub sync_lag_degraded_secs: i64,
}

impl Default for Standing {
    fn default() -> Self {
        Self {
            unreachable_after_intervals: 3,
            degraded_disk_free_mb: 1024,
            files_quota_warning_percent: 80,
            sync_lag_degraded_secs: 3600,
        }
    }
}

/// `[tenant_health]`, as the owner's spec lists it.
pub const SECTION: Section = Section {
    name: "tenant_health",
    load,
};

fn load(config: &Config) -> anyhow::Result<AppDataFn> {
    let s: Standing = config.section("tenant_health")?.unwrap_or_default();
    if !(2..=100).contains(&s.unreachable_after_intervals) {
        bail!("tenant_health.unreachable_after_intervals must be between 2 and 100");
    }
    if !(0..=1_000_000_000).contains(&s.degraded_disk_free_mb) {
        bail!("tenant_health.degraded_disk_free_mb must be between 0 and 1000000000");
    }
    if !(1..=100).contains(&s.files_quota_warning_percent) {
        bail!("tenant_health.files_quota_warning_percent must be between 1 and 100");
    }
    if !(60..=31_536_000).contains(&s.sync_lag_degraded_secs) {
        bail!("tenant_health.sync_lag_degraded_secs must be between 60 and 31536000");
    }
    let data = web::Data::new(s);
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data.clone());
    }))
}

/// The last report of a tenant. Each report replaces the previous one
/// whole: a value the hospital no longer reports becomes NULL.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tenant_health, treat_none_as_null = true)]
pub struct HealthRow {
    /// Tenant.
    pub tenant_id: String,
    /// `sqlite`, `postgres`.
    pub backend: String,
    /// Database size.
    pub db_size_bytes: Option<i64>,
    /// Newest migration.
    pub migration_version: String,
    /// Last write.
    pub last_write_at: Option<NaiveDateTime>,
    /// Audit head seq.
    pub audit_seq: i64,
    /// Audit head hash.
    pub audit_hash: String,
    /// Pool connections in use.
    pub pool_in_use: i64,
    /// Pool size.
    pub pool_size: i64,
    /// Free disk.
    pub disk_free_bytes: Option<i64>,
    /// The hospital's heartbeat interval.
    pub interval_secs: i64,
    /// When owner received it.
    pub received_at: NaiveDateTime,
    /// File store: `local`, `s3` (NULL: not reported).
    pub files_backend: Option<String>,
    /// File store answered its check.
    pub files_reachable: Option<bool>,
    /// Bytes of patient files the tenant stores.
    pub files_stored_bytes: Option<i64>,
    /// Objects the tenant stores.
    pub files_objects: Option<i64>,
    /// The plan's storage quota in bytes.
    pub files_quota_bytes: Option<i64>,
    /// Release: where the hospital stands (NULL: not reported).
    pub update_status: Option<String>,
    /// Release: the version it runs.
    pub update_current_version: Option<String>,
    /// Release: the approved version it saw.
    pub update_version: Option<String>,
    /// Release: when it last asked company.
    pub update_checked_at: Option<NaiveDateTime>,
    /// Release: why refused or unchecked (a code).
    pub update_detail: Option<String>,
    /// Online copy: changes not yet shipped (NULL: not reported).
    pub sync_pending_changes: Option<i64>,
    /// Online copy: when the oldest of them was written.
    pub sync_oldest_pending_at: Option<NaiveDateTime>,
    /// Online copy: the last batch the hospital saw acknowledged.
    pub sync_last_batch_no: Option<i64>,
    /// Online copy: when it was acknowledged.
    pub sync_last_shipped_at: Option<NaiveDateTime>,
}

impl HealthRow {
    /// The release part of the report, if the hospital sent one.
    pub fn update(&self) -> Option<UpdateView> {
        Some(UpdateView {
            status: self.update_status.clone()?,
            current_version: self.update_current_version.clone().unwrap_or_default(),
            version: self.update_version.clone(),
            checked_at: self.update_checked_at,
            detail: self.update_detail.clone(),
        })
    }

    /// Seconds the oldest unshipped change has waited, as of `now` (0
    /// when nothing is pending; none when the hospital does not report its
    /// online copy).
    pub fn sync_lag_secs(&self, now: NaiveDateTime) -> Option<i64> {
        let pending = self.sync_pending_changes?;
        Some(match self.sync_oldest_pending_at {
            Some(at) if pending > 0 => (now - at).num_seconds().max(0),
            _ => 0,
        })
    }

    /// Why the online copy makes the tenant `degraded`, if it does.
    pub fn sync_warning(&self, s: &Standing, now: NaiveDateTime) -> Option<String> {
        let lag = self.sync_lag_secs(now)?;
        (lag > s.sync_lag_degraded_secs).then(|| {
            format!(
                "{} changes not shipped to the online copy for {}",
                self.sync_pending_changes.unwrap_or(0),
                duration_text(lag)
            )
        })
    }

    /// The file store's part of the report, if the hospital sent one.
    pub fn files(&self, s: &Standing) -> Option<FilesHealth> {
        let (Some(backend), Some(reachable), Some(stored_bytes), Some(objects)) = (
            self.files_backend.clone(),
            self.files_reachable,
            self.files_stored_bytes,
            self.files_objects,
        ) else {
            return None;
        };
        let quota_bytes = self.files_quota_bytes;
        let used_percent = quota_bytes.map(|q| percent(stored_bytes, q));
        let warning = if !reachable {
            Some(format!("the {backend} file store is unreachable"))
        } else {
            used_percent
                .filter(|p| *p >= s.files_quota_warning_percent)
                .map(|p| format!("patient files use {p}% of the plan's storage"))
        };
        Some(FilesHealth {
            backend,
            reachable,
            stored_bytes,
            objects,
            quota_bytes,
            used_percent,
            warning,
        })
    }
}

/// `secs` for people: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn duration_text(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        3600..=86_399 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// `used` as a whole percentage of `quota` (rounded down; anything stored
/// against a quota of 0 is 100 %).
fn percent(used: i64, quota: i64) -> i64 {
    if quota <= 0 {
        return if used > 0 { 100 } else { 0 };
    }
    let p = i128::from(used.max(0)) * 100 / i128::from(quota);
    i64::try_from(p).unwrap_or(i64::MAX)
}

/// The patient-file store of a tenant, from its last heartbeat.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq, Eq)]
#[schema(as = OwnerFilesHealth)]
pub struct FilesHealth {
    /// `local`, `s3`.
    pub backend: String,
    /// Whether the store answered the hospital's check.
    pub reachable: bool,
    /// Bytes of patient files the tenant stores.
    pub stored_bytes: i64,
    /// Objects the tenant stores.
    pub objects: i64,
    /// The plan's storage quota in bytes (none: no limit).
    pub quota_bytes: Option<i64>,
    /// `stored_bytes` as a whole percentage of `quota_bytes`.
    pub used_percent: Option<i64>,
    /// Why the files make the tenant `degraded`: the store is unreachable,
    /// or usage is at `files_quota_warning_percent` of the quota or more.
    pub warning: Option<String>,
}

/// Where a hospital stands with the release company approved for it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq, Eq)]
#[schema(as = OwnerUpdateHealth)]
pub struct UpdateView {
    /// `unchecked` (no approval key pinned), `current`, `available`,
    /// `staged`, `verified`, `refused` or `unreachable`.
    pub status: String,
    /// The version the hospital runs.
    pub current_version: String,
    /// The approved version it saw.
    pub version: Option<String>,
    /// When it last asked company (UTC).
    pub checked_at: Option<NaiveDateTime>,
    /// Why refused or unchecked: `APPROVAL_INVALID`, `SIGNATURE_INVALID`,
    /// `ARTIFACT_MISMATCH`, `NO_PINNED_KEY`, `COMPANY_UNREACHABLE`.
    pub detail: Option<String>,
}

impl From<contracts::UpdateHealth> for UpdateView {
    fn from(u: contracts::UpdateHealth) -> Self {
        Self {
            status: u.status,
            current_version: u.current_version,
            version: u.version,
            checked_at: u.checked_at,
            detail: u.detail,
        }
    }
}

/// `healthy`, `degraded` or `unreachable`.
///
/// - unreachable: no heartbeat yet, or none for
///   `unreachable_after_intervals` of the hospital's intervals;
/// - degraded: the last heartbeat is more than one interval late, or the
///   pool is exhausted, or free disk is under `degraded_disk_free_mb`, or
///   the file store is unreachable or its usage is at
///   `files_quota_warning_percent` of the plan's quota or more, or the
///   hospital reports changes unshipped to the online copy for longer than
///   `sync_lag_degraded_secs`;
/// - healthy otherwise.
pub fn status(h: Option<&HealthRow>, s: &Standing, now: NaiveDateTime) -> &'static str {
    let Some(h) = h else {
        return "unreachable";
    };
    let interval = h.interval_secs.max(1);
    let silent = (now - h.received_at).num_seconds();
    if silent > interval.saturating_mul(s.unreachable_after_intervals) {
        return "unreachable";
    }
    let low_disk = h
        .disk_free_bytes
        .is_some_and(|b| b < s.degraded_disk_free_mb.saturating_mul(1024 * 1024));
    let files_warning = h.files(s).is_some_and(|f| f.warning.is_some());
    if silent > interval.saturating_mul(2)
        || (h.pool_size > 0 && h.pool_in_use >= h.pool_size)
        || low_disk
        || files_warning
        || h.sync_warning(s, now).is_some()
    {
        return "degraded";
    }
    "healthy"
}

/// The last report of `tenant`.
pub fn find(conn: &mut DbConn, tenant: &str) -> ApiResult<Option<HealthRow>> {
    Ok(tenant_health::table
        .filter(tenant_health::tenant_id.eq(tenant))
        .select(HealthRow::as_select())
        .first(conn)
        .optional()?)
}

/// Keep `row` as the tenant's last report.
pub fn upsert(conn: &mut DbConn, row: &HealthRow) -> ApiResult<()> {
    let n =
        diesel::update(tenant_health::table.filter(tenant_health::tenant_id.eq(&row.tenant_id)))
            .set(row)
            .execute(conn)?;
    if n == 0 {
        diesel::insert_into(tenant_health::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// `GET …/tenants/{id}/database-health`.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct DatabaseHealth {
    /// The tenant.
    pub tenant_id: String,
    /// `healthy`, `degraded`, `unreachable`.
    pub status: String,
    /// Last heartbeat (UTC), if any.
    pub last_heartbeat_at: Option<NaiveDateTime>,
    /// The hospital's heartbeat interval.
    pub heartbeat_interval_secs: Option<i64>,
    /// `sqlite`, `postgres`.
    pub backend: Option<String>,
    /// Database size in bytes.
    pub db_size_bytes: Option<i64>,
    /// Newest migration applied.
    pub migration_version: Option<String>,
    /// Last write (newest audit row).
    pub last_write_at: Option<NaiveDateTime>,
    /// Audit chain head seq.
    pub audit_seq: Option<i64>,
    /// Audit chain head hash.
    pub audit_hash: Option<String>,
    /// Connections in use.
    pub pool_in_use: Option<i64>,
    /// Pool size.
    pub pool_size: Option<i64>,
    /// Free disk in bytes.
    pub disk_free_bytes: Option<i64>,
    /// The patient-file store (none: not reported).
    pub files: Option<FilesHealth>,
    /// The approved release (none: not reported).
    pub update: Option<UpdateView>,
    /// The online copy: what owner holds, and what the hospital reports.
    pub sync: SyncView,
}

/// A tenant's online copy: the batches owner holds (headers only) and the
/// hospital's own report of what it has not shipped yet.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq, Eq)]
#[schema(as = OwnerSyncHealth)]
pub struct SyncView {
    /// Batches owner holds.
    pub batches: i64,
    /// Their bytes.
    pub bytes: i64,
    /// The newest batch owner holds (none: nothing shipped yet).
    pub last_batch_no: Option<i64>,
    /// Its highest change sequence number.
    pub last_seq: Option<i64>,
    /// When owner received it (UTC).
    pub last_received_at: Option<NaiveDateTime>,
    /// Changes the hospital has not shipped yet (none: not reported).
    pub pending_changes: Option<i64>,
    /// When the oldest of them was written (UTC).
    pub oldest_pending_at: Option<NaiveDateTime>,
    /// The last batch the hospital saw acknowledged.
    pub hospital_last_batch_no: Option<i64>,
    /// When it was acknowledged (UTC).
    pub hospital_last_shipped_at: Option<NaiveDateTime>,
    /// Seconds the oldest unshipped change has waited (0: nothing
    /// pending; none: not reported).
    pub lag_secs: Option<i64>,
    /// Why the online copy makes the tenant `degraded`: changes unshipped
    /// for longer than `sync_lag_degraded_secs`.
    pub warning: Option<String>,
}

impl SyncView {
    /// From what owner holds and the last report.
    pub fn of(
        held: &crate::tenants::backups::store::Totals,
        h: Option<&HealthRow>,
        s: &Standing,
        now: NaiveDateTime,
    ) -> Self {
        let last = held.last.as_ref();
        Self {
            batches: held.batches,
            bytes: held.bytes,
            last_batch_no: last.map(|b| b.batch_no),
            last_seq: last.map(|b| b.last_seq),
            last_received_at: last.map(|b| b.received_at),
            pending_changes: h.and_then(|h| h.sync_pending_changes),
            oldest_pending_at: h.and_then(|h| h.sync_oldest_pending_at),
            hospital_last_batch_no: h.and_then(|h| h.sync_last_batch_no),
            hospital_last_shipped_at: h.and_then(|h| h.sync_last_shipped_at),
            lag_secs: h.and_then(|h| h.sync_lag_secs(now)),
            warning: h.and_then(|h| h.sync_warning(s, now)),
        }
    }
}

impl DatabaseHealth {
    /// From the last report and the batches owner holds.
    pub fn of(
        tenant: &str,
        h: Option<HealthRow>,
        held: &crate::tenants::backups::store::Totals,
        s: &Standing,
        now: NaiveDateTime,
    ) -> Self {
        let status = status(h.as_ref(), s, now).to_string();
        let sync = SyncView::of(held, h.as_ref(), s, now);
        match h {
            None => Self {
                tenant_id: tenant.into(),
                status,
                last_heartbeat_at: None,
                heartbeat_interval_secs: None,
                backend: None,
                db_size_bytes: None,
                migration_version: None,
                last_write_at: None,
                audit_seq: None,
                audit_hash: None,
                pool_in_use: None,
                pool_size: None,
                disk_free_bytes: None,
                files: None,
                update: None,
                sync,
            },
            Some(h) => Self {
                files: h.files(s),
                update: h.update(),
                tenant_id: tenant.into(),
                status,
                last_heartbeat_at: Some(h.received_at),
                heartbeat_interval_secs: Some(h.interval_secs),
                backend: Some(h.backend),
                db_size_bytes: h.db_size_bytes,
                migration_version: Some(h.migration_version),
                last_write_at: h.last_write_at,
                audit_seq: Some(h.audit_seq),
                audit_hash: Some(h.audit_hash),
                pool_in_use: Some(h.pool_in_use),
                pool_size: Some(h.pool_size),
                disk_free_bytes: h.disk_free_bytes,
                sync,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(files: Option<(bool, i64, Option<i64>)>) -> HealthRow {
        let now = common::db::now();
        HealthRow {
            tenant_id: "t".into(),
            backend: "sqlite".into(),
            db_size_bytes: Some(1),
            migration_version: "x".into(),
            last_write_at: None,
            audit_seq: 1,
            audit_hash: "a".repeat(64),
            pool_in_use: 0,
            pool_size: 4,
            disk_free_bytes: None,
            interval_secs: 30,
            received_at: now,
            files_backend: files.map(|_| "local".into()),
            files_reachable: files.map(|f| f.0),
            files_stored_bytes: files.map(|f| f.1),
            files_objects: files.map(|_| 2),
            files_quota_bytes: files.and_then(|f| f.2),
            update_status: None,
            update_current_version: None,
            update_version: None,
            update_checked_at: None,
            update_detail: None,
            sync_pending_changes: None,
            sync_oldest_pending_at: None,
            sync_last_batch_no: None,
            sync_last_shipped_at: None,
        }
    }

    fn judge(
        files: Option<(bool, i64, Option<i64>)>,
        s: &Standing,
    ) -> (&'static str, Option<String>) {
        let h = row(files);
        let warning = h.files(s).and_then(|f| f.warning);
        (status(Some(&h), s, h.received_at), warning)
    }

    #[test]
    fn unshipped_changes_older_than_the_bound_degrade_a_tenant() {
        let s = Standing::default();
        let mut h = row(None);
        let now = h.received_at;
        assert_eq!(h.sync_lag_secs(now), None, "not reported");
        h.sync_pending_changes = Some(0);
        assert_eq!(h.sync_lag_secs(now), Some(0));
        h.sync_pending_changes = Some(5);
        h.sync_oldest_pending_at = Some(now - chrono::TimeDelta::seconds(3600));
        assert_eq!(h.sync_lag_secs(now), Some(3600));
        assert_eq!(status(Some(&h), &s, now), "healthy", "at the bound");
        h.sync_oldest_pending_at = Some(now - chrono::TimeDelta::seconds(3601));
        assert_eq!(status(Some(&h), &s, now), "degraded");
        assert_eq!(
            h.sync_warning(&s, now).as_deref(),
            Some("5 changes not shipped to the online copy for 1 h 0 min")
        );
        // Nothing pending: an old timestamp does not count.
        h.sync_pending_changes = Some(0);
        assert_eq!(status(Some(&h), &s, now), "healthy");
        assert_eq!(duration_text(59), "59 s");
        assert_eq!(duration_text(90_000), "1 d 1 h");
    }

    #[test]
    fn the_file_store_degrades_a_tenant_when_unreachable_or_near_its_quota() {
        let s = Standing::default();
        assert_eq!(judge(None, &s), ("healthy", None));
        assert_eq!(judge(Some((true, 10, None)), &s), ("healthy", None));
        assert_eq!(judge(Some((true, 79, Some(100))), &s), ("healthy", None));
        let (st, w) = judge(Some((true, 80, Some(100))), &s);
        assert_eq!(st, "degraded");
        assert_eq!(
            w.as_deref(),
            Some("patient files use 80% of the plan's storage")
        );
        let (st, w) = judge(Some((false, 0, None)), &s);
        assert_eq!(st, "degraded");
        assert_eq!(w.as_deref(), Some("the local file store is unreachable"));
        // A quota of 0: anything stored is all of it; nothing stored is fine.
        assert_eq!(judge(Some((true, 0, Some(0))), &s).0, "healthy");
        assert_eq!(judge(Some((true, 1, Some(0))), &s).0, "degraded");
        // The threshold is the owner's to set.
        let strict = Standing {
            files_quota_warning_percent: 50,
            ..Standing::default()
        };
        assert_eq!(judge(Some((true, 50, Some(100))), &strict).0, "degraded");
        // Huge numbers do not overflow.
        let h = row(Some((true, i64::MAX, Some(1))));
        assert_eq!(h.files(&s).and_then(|f| f.used_percent), Some(i64::MAX));
    }
}
