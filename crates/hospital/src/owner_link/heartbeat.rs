//! The heartbeat: what the hospital reports and what it does with the answer.

use std::time::Duration;

use chrono::NaiveDateTime;
use common::audit::{self, Event, Origin};
use common::db::{Backend, Db, DbConn};
use common::mtls::client::PeerClient;
use common::objects::Objects;
use common::plane::PlaneContext;
use common::schema::{audit_log, users};
use common::ApiResult;
use contracts::{paths, FilesHealth, HealthReport, Heartbeat, HeartbeatAnswer, StaffEntry};
use diesel::prelude::*;
use serde_json::json;

use super::{commands, standing};

/// How long the file store's check may take before it counts as unreachable.
const FILES_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Send a heartbeat every `plane.heartbeat_interval_secs`; `objects` is the
/// patient-file store whose health goes with each.
pub async fn forever(ctx: PlaneContext, owner: PeerClient, objects: Objects) {
    let secs = ctx.plane.heartbeat_interval_secs.max(1);
    let mut tick = tokio::time::interval(Duration::from_secs(secs));
    loop {
        tick.tick().await;
        if let Err(e) = once(&ctx, &owner, &objects).await {
            tracing::warn!(error = %e, "heartbeat to owner not delivered; will retry");
        }
    }
}

/// One heartbeat for the certificate's tenant; keeps and returns the answer.
/// It reports the health of the file store `objects` too.
pub async fn once(
    ctx: &PlaneContext,
    owner: &PeerClient,
    objects: &Objects,
) -> anyhow::Result<HeartbeatAnswer> {
    let tenant = ctx
        .identity
        .tenant()
        .ok_or_else(|| anyhow::anyhow!("a hospital certificate names a tenant"))?
        .to_string();
    let db = ctx.db.clone();
    let t = tenant.clone();
    let (staff, mut health, results) = ctx
        .db
        .run(move |c| {
            let mut h = health(c, &db)?;
            h.update = Some(common::updates::health(c)?);
            Ok((staff(c, &t)?, h, commands::unacked(c, &t)?))
        })
        .await?;
    let acked: Vec<String> = results.iter().map(|r| r.id.clone()).collect();
    health.disk_free_bytes = match ctx.db.sqlite_file() {
        Some(file) => disk_free(file).await,
        None => None,
    };
    health.files = Some(files_health(ctx, &tenant, objects).await?);
    let hb = Heartbeat {
        tenant_id: tenant.clone(),
        interval_secs: ctx.plane.heartbeat_interval_secs.max(1),
        health,
        staff,
        results,
    };
    let answer: HeartbeatAnswer = owner.post(paths::HEARTBEAT, &hb).await?;
    if !answer.tenant_id.eq_ignore_ascii_case(&tenant) {
        anyhow::bail!(
            "owner answered for tenant {} instead of {tenant}",
            answer.tenant_id
        );
    }
    let kept = answer.clone();
    let t = tenant.clone();
    ctx.db
        .write(move |c| {
            commands::mark_acked(c, &acked)?;
            for cmd in &kept.commands {
                commands::apply(c, &t, cmd)?;
            }
            if let Some(from) = standing::save(c, &kept)? {
                // Suspended or archived: the sessions already open end too,
                // so no token issued before keeps working until it expires.
                let ended = if kept.status == "active" {
                    0
                } else {
                    common::auth::session::end_all_of_tenant(
                        c,
                        &kept.tenant_id,
                        &format!("tenant {}", kept.status),
                        common::db::now(),
                    )?
                };
                let event = Event::new(
                    "owner",
                    "system",
                    "tenant.status",
                    &format!("tenant:{}", kept.tenant_id),
                )
                .tenant(Some(&kept.tenant_id))
                .details(json!({ "from": from, "to": kept.status, "sessions_ended": ended }));
                audit::append(c, &event, &Origin::default())?;
            }
            Ok(())
        })
        .await?;
    Ok(answer)
}

/// The staff directory of `tenant`: usernames, roles, state, last login.
pub fn staff(conn: &mut DbConn, tenant: &str) -> ApiResult<Vec<StaffEntry>> {
    let rows: Vec<(String, String, bool, Option<NaiveDateTime>)> = users::table
        .filter(users::tenant_id.eq(tenant))
        .filter(users::role.ne("patient"))
        .order(users::username.asc())
        .limit(MAX_STAFF)
        .select((
            users::username,
            users::role,
            users::active,
            users::last_login_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(username, role, active, last_login_at)| StaffEntry {
            username,
            role,
            active,
            last_login_at,
        })
        .collect())
}

/// Owner takes at most this many accounts per heartbeat.
const MAX_STAFF: i64 = 20_000;

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    v: Option<String>,
}

#[derive(QueryableByName)]
struct Size {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The newest migration applied.
pub fn migration_version(conn: &mut DbConn) -> ApiResult<String> {
    Ok(
        diesel::sql_query("SELECT MAX(version) AS v FROM __diesel_schema_migrations")
            .get_result::<Version>(conn)?
            .v
            .unwrap_or_default(),
    )
}

/// The database's health (disk free is filled in by the caller).
pub fn health(conn: &mut DbConn, db: &Db) -> ApiResult<HealthReport> {
    let migration_version = migration_version(conn)?;
    // The newest audit row's time, found by the chain's key: `max(occurred_at)`
    // (no index) read the whole audit log at every heartbeat.
    let last_write_at: Option<NaiveDateTime> = audit_log::table
        .order(audit_log::seq.desc())
        .select(audit_log::occurred_at)
        .first(conn)
        .optional()?;
    let (backend, db_size_bytes) = match db.backend() {
        Backend::Postgres => (
            "postgres",
            diesel::sql_query("SELECT pg_database_size(current_database())::BIGINT AS n")
                .get_result::<Size>(conn)
                .ok()
                .map(|s| s.n),
        ),
        Backend::Sqlite => (
            "sqlite",
            db.sqlite_file()
                .and_then(|f| std::fs::metadata(f).ok())
                .and_then(|m| i64::try_from(m.len()).ok()),
        ),
    };
    let (in_use, size) = db.pool_use();
    Ok(HealthReport {
        backend: backend.into(),
        db_size_bytes,
        migration_version,
        last_write_at,
        audit_head: audit::head(conn)?,
        pool_in_use: i64::from(in_use),
        pool_size: i64::from(size),
        disk_free_bytes: None,
        files: None,
        update: None,
        sync: Some(crate::backup::ship::health(conn)?),
    })
}

/// The file store's health for `tenant`: whether it answers its check
/// within [`FILES_CHECK_TIMEOUT`] (a failure or a timeout is
/// `reachable: false`, never a failed heartbeat), the bytes and objects
/// the tenant stores, and the plan's quota. Sizes and counts only.
async fn files_health(
    ctx: &PlaneContext,
    tenant: &str,
    objects: &Objects,
) -> anyhow::Result<FilesHealth> {
    let reachable = match tokio::time::timeout(FILES_CHECK_TIMEOUT, objects.check()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "file store check failed; reported to owner");
            false
        }
        Err(_) => {
            tracing::warn!(
                timeout_secs = FILES_CHECK_TIMEOUT.as_secs(),
                "file store check timed out; reported to owner"
            );
            false
        }
    };
    let t = tenant.to_string();
    let ((stored_bytes, n), quota_bytes) = ctx
        .db
        .run(move |c| {
            let used = crate::files::store::stored_bytes(c, &t)?;
            let quota = standing::find(c, &t)?
                .and_then(|s| s.max_storage_mb)
                .map(|mb| mb.saturating_mul(1024 * 1024));
            Ok((used, quota))
        })
        .await?;
    Ok(FilesHealth {
        backend: objects.backend().to_string(),
        reachable,
        stored_bytes,
        objects: n,
        quota_bytes,
    })
}

/// Free bytes on the file system holding `file` (POSIX `df`; `None` if it
/// cannot tell).
async fn disk_free(file: &std::path::Path) -> Option<i64> {
    let dir = file.parent()?.to_path_buf();
    let out = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::process::Command::new("df")
            .arg("-Pk")
            .arg(&dir)
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let kib: i64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use common::audit::{self, Event, Origin};
    use common::db::Db;
    use common::schema::audit_log;
    use diesel::prelude::*;

    /// The heartbeat's "last write" is the newest audit row's time, found
    /// by the chain's key (not a scan of every row's time), and the head it
    /// reports is that row's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_last_write_is_the_newest_audit_rows_time() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/hospital.db", dir.path().display());
        let db = Db::open(&url, 2, Duration::from_secs(5), crate::MIGRATIONS).expect("db");
        for n in 0..3 {
            db.write(move |c| {
                let event = Event::new("tester", "admin", "test.write", &format!("item:{n}"));
                audit::append(c, &event, &Origin::default())
            })
            .await
            .expect("a write");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut conn = db.conn().expect("a connection");
        let (seq, at): (i64, chrono::NaiveDateTime) = audit_log::table
            .filter(audit_log::resource.eq("item:2"))
            .select((audit_log::seq, audit_log::occurred_at))
            .first(&mut *conn)
            .expect("the last row");
        let report = super::health(&mut conn, &db).expect("health");
        assert_eq!(report.last_write_at, Some(at));
        assert_eq!(report.audit_head.seq, seq);
        assert_eq!(report.backend, "sqlite");
    }
}
