//! The retention job: files older than `files.archive_after_days` move to
//! the archive area (the object too, once no live file uses it); files past
//! their retention date are purged — the row stays as a tombstone without
//! its name, the object goes when no other file uses it — unless their
//! patient is under a legal hold. Every action is an audit row. It runs
//! every `files.job_interval_minutes` for every tenant, and on request
//! (`POST …/file-retention/run`) for one.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};
use common::audit::{self, Event, Origin};
use common::config::Config;
use common::crypto::Keyring;
use common::db::{Db, DbConn};
use common::objects::Objects;
use common::ApiResult;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::rules::{self, FilesRules};
use super::store::{self, Blob, FileRow};
use crate::schema::{file_blobs, files};

/// How many files one step handles (the job goes on until none is left).
const BATCH: i64 = 200;

/// What a run did.
#[derive(Debug, Default, Clone, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    /// Files moved to the archive area.
    pub archived: i64,
    /// Objects moved to the archive area.
    pub objects_archived: i64,
    /// Files purged after their retention date.
    pub purged: i64,
    /// Objects deleted (no file used them any more).
    pub objects_deleted: i64,
    /// Files past retention kept because their patient is under a legal hold.
    pub held: i64,
    /// Steps that failed (logged; retried at the next run).
    pub failed: i64,
}

/// Who the audit rows name.
#[derive(Debug, Clone)]
pub struct Actor {
    /// User id, or `system`.
    pub id: String,
    /// Role, or `system`.
    pub role: String,
    /// Where the request came from (none for the scheduled job).
    pub origin: Origin,
}

impl Actor {
    /// The scheduled job.
    pub fn system() -> Self {
        Self {
            id: "system".into(),
            role: "system".into(),
            origin: Origin::default(),
        }
    }

    fn event(&self, tenant: &str, action: &str, f: &FileRow) -> Event {
        let resource = match &f.patient_id {
            Some(p) => format!("patient:{p}"),
            None => format!("file_workspace:{}", f.workspace_id),
        };
        Event::new(&self.id, &self.role, action, &resource)
            .tenant(Some(tenant))
            .details(json!({ "file": f.id, "category": f.category, "module": f.module }))
    }
}

fn due_for_archive(
    conn: &mut DbConn,
    tenant: &str,
    cutoff: NaiveDateTime,
) -> ApiResult<Vec<FileRow>> {
    Ok(files::table
        .filter(files::tenant_id.eq(tenant))
        .filter(files::purged_at.is_null())
        .filter(files::archived_at.is_null())
        .filter(files::uploaded_at.le(cutoff))
        .order(files::uploaded_at.asc())
        .limit(BATCH)
        .select(FileRow::as_select())
        .load(conn)?)
}

/// Live objects that no live, unarchived file uses any more.
fn blobs_to_archive(conn: &mut DbConn, tenant: &str) -> ApiResult<Vec<Blob>> {
    let in_use = files::table
        .filter(files::tenant_id.eq(tenant.to_string()))
        .filter(files::purged_at.is_null())
        .filter(files::archived_at.is_null())
        .filter(files::blob_id.is_not_null())
        .select(files::blob_id);
    Ok(file_blobs::table
        .filter(file_blobs::tenant_id.eq(tenant))
        .filter(file_blobs::area.eq("live"))
        .filter(file_blobs::refs.gt(0))
        .filter(diesel::dsl::not(file_blobs::id.nullable().eq_any(in_use)))
        .limit(BATCH)
        .select(Blob::as_select())
        .load(conn)?)
}

fn due_for_purge(
    conn: &mut DbConn,
    tenant: &str,
    at: NaiveDateTime,
    skip: &[String],
) -> ApiResult<Vec<FileRow>> {
    Ok(files::table
        .filter(files::tenant_id.eq(tenant))
        .filter(files::purged_at.is_null())
        .filter(files::retain_until.le(at))
        .filter(diesel::dsl::not(files::id.eq_any(skip.to_vec())))
        .order(files::retain_until.asc())
        .limit(BATCH)
        .select(FileRow::as_select())
        .load(conn)?)
}

/// Run the job for `tenant` as of `at`.
pub async fn run_tenant(
    db: &Db,
    objects: &Objects,
    rules: &FilesRules,
    tenant: &str,
    at: NaiveDateTime,
    actor: &Actor,
) -> ApiResult<Outcome> {
    let mut out = Outcome::default();
    let cutoff = at - TimeDelta::days(rules.archive_after_days);

    // 1. Files past the archive age: mark them archived.
    loop {
        let t = tenant.to_string();
        let due = db
            .run(move |conn| due_for_archive(conn, &t, cutoff))
            .await?;
        if due.is_empty() {
            break;
        }
        let (t, a) = (tenant.to_string(), actor.clone());
        out.archived += db
            .write(move |conn| {
                let mut n = 0;
                for f in &due {
                    n += diesel::update(
                        files::table
                            .filter(files::id.eq(&f.id))
                            .filter(files::archived_at.is_null()),
                    )
                    .set(files::archived_at.eq(at))
                    .execute(conn)? as i64;
                    audit::append(conn, &a.event(&t, "file.archive", f), &a.origin)?;
                }
                Ok(n)
            })
            .await?;
    }

    // 2. Objects no live file uses: move them (object first, then the row;
    // a download looks in both areas, so a crash between is harmless).
    let t = tenant.to_string();
    let blobs = db.run(move |conn| blobs_to_archive(conn, &t)).await?;
    for b in blobs {
        let to = store::object_path(&b.tenant_id, "archive", &b.id);
        if let Err(e) = objects.rename(&b.path(), &to).await {
            tracing::warn!(blob = %b.id, error = %format!("{e:#}"), "retention: could not move an object to the archive area");
            out.failed += 1;
            continue;
        }
        let id = b.id.clone();
        db.write(move |conn| {
            diesel::update(file_blobs::table.filter(file_blobs::id.eq(&id)))
                .set(file_blobs::area.eq("archive"))
                .execute(conn)?;
            Ok(())
        })
        .await?;
        out.objects_archived += 1;
    }

    // 3. Files past retention: purge, unless held.
    let mut skip: Vec<String> = Vec::new();
    loop {
        let (t, s) = (tenant.to_string(), skip.clone());
        let due = db.run(move |conn| due_for_purge(conn, &t, at, &s)).await?;
        if due.is_empty() {
            break;
        }
        for f in due {
            let (t, a, file) = (tenant.to_string(), actor.clone(), f.clone());
            let step = db
                .write(move |conn| {
                    if let Some(p) = &file.patient_id {
                        if store::on_hold(conn, &t, p)? {
                            return Ok(None);
                        }
                    }
                    let gone = store::purge(conn, &file, at)?;
                    audit::append(conn, &a.event(&t, "file.purge", &file), &a.origin)?;
                    Ok(Some(gone))
                })
                .await;
            match step {
                Ok(None) => {
                    out.held += 1;
                    skip.push(f.id);
                }
                Ok(Some(gone)) => {
                    out.purged += 1;
                    if let Some(b) = gone {
                        match objects.delete(&b.path()).await {
                            Ok(()) => out.objects_deleted += 1,
                            Err(e) => {
                                tracing::warn!(blob = %b.id, error = %format!("{e:#}"), "retention: could not delete an object");
                                out.failed += 1;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(file = %f.id, error = %e, "retention: could not purge a file");
                    out.failed += 1;
                    skip.push(f.id);
                }
            }
        }
    }
    Ok(out)
}

/// Tenants with files.
fn tenants(conn: &mut DbConn) -> ApiResult<Vec<String>> {
    Ok(files::table
        .select(files::tenant_id)
        .distinct()
        .order(files::tenant_id.asc())
        .load(conn)?)
}

/// Start the scheduled job (unless `files.job_interval_minutes` is 0).
pub fn start(
    config: &Config,
    db: &Db,
    _keyring: Option<&Keyring>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let (rules, objects) = rules::load(config)?;
    if rules.job_interval_minutes == 0 {
        return Ok(Vec::new());
    }
    let every = Duration::from_secs(rules.job_interval_minutes.saturating_mul(60));
    let db = db.clone();
    Ok(vec![tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let tenants = match db.run(tenants).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "retention: cannot list tenants");
                    continue;
                }
            };
            for t in tenants {
                let at = common::db::now();
                match run_tenant(&db, &objects, &rules, &t, at, &Actor::system()).await {
                    Ok(o) if o.archived + o.purged + o.failed + o.objects_archived > 0 => {
                        tracing::info!(tenant = %t, archived = o.archived, purged = o.purged,
                            held = o.held, failed = o.failed, "retention job ran");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(tenant = %t, error = %e, "retention job failed"),
                }
            }
        }
    })])
}
