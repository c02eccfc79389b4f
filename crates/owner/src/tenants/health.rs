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
}

impl Default for Standing {
    fn default() -> Self {
        Self {
            unreachable_after_intervals: 3,
            degraded_disk_free_mb: 1024,
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
    let data = web::Data::new(s);
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data.clone());
    }))
}

/// The last report of a tenant.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tenant_health)]
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
}

/// `healthy`, `degraded` or `unreachable`.
///
/// - unreachable: no heartbeat yet, or none for
///   `unreachable_after_intervals` of the hospital's intervals;
/// - degraded: the last heartbeat is more than one interval late, or the
///   pool is exhausted, or free disk is under `degraded_disk_free_mb`;
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
    if silent > interval.saturating_mul(2)
        || (h.pool_size > 0 && h.pool_in_use >= h.pool_size)
        || low_disk
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
}

impl DatabaseHealth {
    /// From the last report.
    pub fn of(tenant: &str, h: Option<HealthRow>, s: &Standing, now: NaiveDateTime) -> Self {
        let status = status(h.as_ref(), s, now).to_string();
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
            },
            Some(h) => Self {
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
            },
        }
    }
}
