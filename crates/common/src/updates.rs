//! Updates (issue 15, item 4): a hospital or owner server asks company
//! which release of its product is approved (→ company over mTLS; nothing
//! calls in), checks company's countersignature against the approval key
//! it pins (`[updates] approval_public_key`) and the developer's signature
//! against the key company vouches for, and records where it stands —
//! `current`, `available`, `staged`, `verified`, `refused`, `unreachable`
//! or `unchecked` (no key pinned) — in `update_state` (a kernel table), which
//! a hospital's heartbeat reports to owner and owner shows for itself.
//! `bulkhead update --stage` downloads the artifact through company into
//! `[updates] dir`, checks its size and sha256 against the signed manifest,
//! and re-checks the staged file (`verified`). Replacing the binary is the
//! operator's step (docs/operations.md).
//!
//! A release that fails a check is refused: `refused` with the reason's
//! code, and a critical `update.refused` security event (to company), raised
//! once per release and reason.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use anyhow::{bail, Context};

use crate::audit::Severity;
use crate::config::Config;
use crate::db::{now, Db, DbConn};
use crate::mtls::client::{PeerClient, PeerError};
use crate::security::{self, NewEvent};
use crate::server::AppDataFn;
use crate::ApiResult;
use contracts::paths;
use contracts::release::ApprovedRelease;
use contracts::UpdateHealth;
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::schema::update_state;

/// The version this binary is (every crate of the workspace shares it).
pub const CURRENT_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatesSection {
    approval_public_key: Option<String>,
    product: Option<String>,
    check_interval_secs: Option<u64>,
    dir: Option<PathBuf>,
}

/// `[updates]`.
#[derive(Debug, Clone)]
pub struct Updates {
    /// Company's approval key (base64 raw Ed25519), pinned.
    pub approval_public_key: Option<String>,
    /// The product whose approvals this server follows.
    pub product: String,
    /// How often the server asks company.
    pub check_interval: Duration,
    /// Where staged artifacts go (`tmp/` for downloads in progress).
    pub dir: PathBuf,
    /// Which `update_state` row this product's state is kept in:
    /// [`BINARY_STATE`] for the server's build, [`CONFIG_STATE`] for its
    /// configuration documents.
    pub state_id: i32,
}

/// The state row of the server's own build.
pub const BINARY_STATE: i32 = 1;
/// The state row of the server's configuration documents (dev's versioned
/// configuration, published as releases of product `<kind>-config`).
pub const CONFIG_STATE: i32 = 2;

impl Updates {
    /// The same settings for the configuration documents of product
    /// `product` (e.g. `hospital-config`): approved, signed and fetched like
    /// a build, staged under `<dir>/config`, their state in its own row.
    pub fn documents(&self, product: &str) -> Self {
        Self {
            product: product.to_string(),
            dir: self.dir.join("config"),
            state_id: CONFIG_STATE,
            ..self.clone()
        }
    }
}

/// Read and check `[updates]`; `default_product` is the server's own
/// (`hospital-server`, `owner-server`).
pub fn load(config: &Config, default_product: &str) -> anyhow::Result<Updates> {
    let s: UpdatesSection = config.section("updates")?.unwrap_or_default();
    if let Some(k) = &s.approval_public_key {
        if contracts::release::decode_public_key(k).is_none() {
            bail!("updates.approval_public_key must be the base64 of a 32-byte Ed25519 public key");
        }
    }
    let product = s.product.unwrap_or_else(|| default_product.into());
    if product.is_empty() || product.len() > 64 {
        bail!("updates.product must be 1 to 64 characters");
    }
    let secs = s.check_interval_secs.unwrap_or(3600);
    if !(1..=7 * 86_400).contains(&secs) {
        bail!("updates.check_interval_secs must be between 1 and 604800");
    }
    let dir = s.dir.unwrap_or_else(|| match config.sqlite_data_dir() {
        Some(d) => d.join("updates"),
        None => PathBuf::from(format!("data/{default_product}-updates")),
    });
    // A download a crash interrupted leaves its partial file: gone after a day.
    crate::fsutil::sweep_stale_parts(&dir.join("tmp"), crate::fsutil::STALE_PART_AGE);
    Ok(Updates {
        approval_public_key: s.approval_public_key.map(|k| k.trim().to_string()),
        product,
        check_interval: Duration::from_secs(secs),
        dir,
        state_id: BINARY_STATE,
    })
}

/// `[updates]` as a server's section registers it (its handlers and pages
/// read it as `web::Data<Updates>`); each server's spec lists a
/// [`crate::server::Section`] named `updates` whose `load` calls this with
/// its product.
pub fn section_data(config: &Config, default_product: &str) -> anyhow::Result<AppDataFn> {
    let updates = web::Data::new(load(config, default_product)?);
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(updates.clone());
    }))
}

/// The stored state.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = update_state)]
#[diesel(treat_none_as_null = true)]
pub struct StateRow {
    /// [`BINARY_STATE`] (the build) or [`CONFIG_STATE`] (configuration documents).
    pub id: i32,
    /// `unchecked`, `current`, `available`, `staged`, `verified`,
    /// `refused` or `unreachable`.
    pub status: String,
    /// The version this binary is.
    pub current_version: String,
    /// The approved version seen.
    pub version: Option<String>,
    /// Its release id (dev's).
    pub release_id: Option<String>,
    /// Its artifact's sha256.
    pub sha256: Option<String>,
    /// Where it was staged.
    pub staged_path: Option<String>,
    /// Why refused or unchecked (a code).
    pub detail: Option<String>,
    /// When company was last asked (UTC).
    pub checked_at: chrono::NaiveDateTime,
}

impl StateRow {
    fn health(&self) -> UpdateHealth {
        UpdateHealth {
            status: self.status.clone(),
            current_version: self.current_version.clone(),
            version: self.version.clone(),
            checked_at: Some(self.checked_at),
            detail: self.detail.clone(),
        }
    }
}

/// The stored state of the build, if the server ever checked.
pub fn read(conn: &mut DbConn) -> ApiResult<Option<StateRow>> {
    read_state(conn, BINARY_STATE)
}

/// The stored state of row `id`.
pub fn read_state(conn: &mut DbConn, id: i32) -> ApiResult<Option<StateRow>> {
    Ok(update_state::table
        .find(id)
        .select(StateRow::as_select())
        .first(conn)
        .optional()?)
}

fn save(conn: &mut DbConn, row: &StateRow) -> ApiResult<()> {
    let n = diesel::update(update_state::table.find(row.id))
        .set(row)
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(update_state::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// What the heartbeat reports.
pub fn health(conn: &mut DbConn) -> ApiResult<UpdateHealth> {
    Ok(match read(conn)? {
        Some(r) => r.health(),
        None => UpdateHealth {
            status: "unchecked".into(),
            current_version: CURRENT_VERSION.into(),
            version: None,
            checked_at: None,
            detail: None,
        },
    })
}

fn state(cfg: &Updates, status: &str, detail: Option<&str>) -> StateRow {
    StateRow {
        id: cfg.state_id,
        status: status.into(),
        current_version: CURRENT_VERSION.into(),
        version: None,
        release_id: None,
        sha256: None,
        staged_path: None,
        detail: detail.map(str::to_string),
        checked_at: now(),
    }
}

/// Record `row`; when it is a refusal not recorded before for this
/// release, raise `update.refused` (critical) in the same transaction.
async fn record(db: &Db, row: StateRow, tenant: Option<String>) -> anyhow::Result<UpdateHealth> {
    let health = row.health();
    db.write(move |c| {
        let before = read_state(c, row.id)?;
        let repeated = before.as_ref().is_some_and(|b| {
            b.status == row.status && b.release_id == row.release_id && b.detail == row.detail
        });
        if row.status == "refused" && !repeated {
            let details = json!({
                "reason": row.detail, "release": row.release_id,
                "version": row.version, "sha256": row.sha256,
            });
            security::record(
                c,
                &NewEvent::new(
                    "update.refused",
                    Severity::Critical,
                    "system",
                    tenant.as_deref(),
                    details,
                ),
            )?;
        }
        save(c, &row)
    })
    .await?;
    Ok(health)
}

/// What company approved, checked; `Err` with the state to record when it
/// is not there, not reachable or not trusted.
async fn approved(company: &PeerClient, cfg: &Updates) -> Result<ApprovedRelease, StateRow> {
    let Some(pinned) = &cfg.approval_public_key else {
        return Err(state(cfg, "unchecked", Some("NO_PINNED_KEY")));
    };
    let r: ApprovedRelease = match company
        .get(paths::APPROVED_RELEASE, &[("product", cfg.product.clone())])
        .await
    {
        Ok(r) => r,
        Err(PeerError::Status { status: 404, .. }) => return Err(state(cfg, "current", None)),
        Err(e) => {
            tracing::warn!(error = %e, "could not ask company for the approved release");
            return Err(state(cfg, "unreachable", Some("COMPANY_UNREACHABLE")));
        }
    };
    if let Err(why) = r.check(pinned) {
        let mut row = state(cfg, "refused", Some(why.code()));
        row.version = Some(r.approval.manifest.version.clone());
        row.release_id = Some(r.approval.release_id.clone());
        row.sha256 = Some(r.approval.manifest.sha256.clone());
        return Err(row);
    }
    Ok(r)
}

fn staged_path(cfg: &Updates, r: &ApprovedRelease) -> PathBuf {
    let m = &r.approval.manifest;
    cfg.dir.join(format!("{}-{}", m.product, m.version))
}

/// Ask company, check what it answers, record where this server stands.
pub async fn check(
    db: &Db,
    company: &PeerClient,
    cfg: &Updates,
    tenant: Option<String>,
) -> anyhow::Result<UpdateHealth> {
    let r = match approved(company, cfg).await {
        Ok(r) => r,
        Err(row) => return record(db, row, tenant).await,
    };
    let m = &r.approval.manifest;
    let mut row = state(cfg, "available", None);
    row.version = Some(m.version.clone());
    row.release_id = Some(r.approval.release_id.clone());
    row.sha256 = Some(m.sha256.clone());
    if m.version == CURRENT_VERSION {
        row.status = "current".into();
    } else if let Some(before) = {
        let id = cfg.state_id;
        db.run(move |c| read_state(c, id)).await?
    } {
        // Staged before and still on disk: keep saying so.
        let kept = before.release_id == row.release_id
            && matches!(before.status.as_str(), "staged" | "verified")
            && before
                .staged_path
                .as_deref()
                .is_some_and(|p| Path::new(p).exists());
        if kept {
            row.status = before.status;
            row.staged_path = before.staged_path;
        }
    }
    record(db, row, tenant).await
}

/// Download the approved artifact through company into `[updates] dir`,
/// check it against the signed manifest, then check the staged file again.
pub async fn stage(
    db: &Db,
    company: &PeerClient,
    cfg: &Updates,
    tenant: Option<String>,
) -> anyhow::Result<UpdateHealth> {
    let r = match approved(company, cfg).await {
        Ok(r) => r,
        Err(row) => return record(db, row, tenant).await,
    };
    let m = r.approval.manifest.clone();
    let mut row = state(cfg, "staged", None);
    row.version = Some(m.version.clone());
    row.release_id = Some(r.approval.release_id.clone());
    row.sha256 = Some(m.sha256.clone());
    if m.version == CURRENT_VERSION {
        row.status = "current".into();
        return record(db, row, tenant).await;
    }
    let dest = staged_path(cfg, &r);
    let tmp_dir = cfg.dir.join("tmp");
    tokio::fs::create_dir_all(&tmp_dir)
        .await
        .with_context(|| format!("creating {}", tmp_dir.display()))?;
    let tmp = tmp_dir.join(format!("{}.part", uuid::Uuid::new_v4()));
    let path = paths::APPROVED_ARTIFACT.replace("{id}", &r.approval.release_id);
    let mut res = match company
        .download(&path, u64::try_from(m.size).unwrap_or(0))
        .await
    {
        Ok(res) => res,
        Err(e) => {
            tracing::warn!(error = %e, "could not download the approved release");
            let mut row = row;
            row.status = "unreachable".into();
            row.detail = Some("COMPANY_UNREACHABLE".into());
            return record(db, row, tenant).await;
        }
    };
    let declared = u64::try_from(m.size).unwrap_or(0);
    let received = async {
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut seen: u64 = 0;
        while let Some(chunk) = res.chunk().await.map_err(std::io::Error::other)? {
            seen = seen.saturating_add(chunk.len() as u64);
            if seen > declared {
                return Ok::<u64, std::io::Error>(seen);
            }
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        Ok(seen)
    }
    .await;
    let seen = match received {
        Ok(n) => n,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(anyhow::anyhow!("downloading the release: {e}"));
        }
    };
    let hashed = {
        let t = tmp.clone();
        tokio::task::spawn_blocking(move || contracts::release::sha256_file(&t)).await??
    };
    if seen != declared || hashed.0 != m.sha256 {
        let _ = tokio::fs::remove_file(&tmp).await;
        row.status = "refused".into();
        row.detail = Some("ARTIFACT_MISMATCH".into());
        return record(db, row, tenant).await;
    }
    tokio::fs::rename(&tmp, &dest)
        .await
        .with_context(|| format!("moving the release to {}", dest.display()))?;
    row.staged_path = Some(dest.display().to_string());
    record(db, row.clone(), tenant.clone()).await?;
    // Verified: the staged file, read back, is the signed one.
    let d = dest.clone();
    let again = tokio::task::spawn_blocking(move || contracts::release::sha256_file(&d)).await??;
    if again.0 == m.sha256 && again.1 == declared {
        row.status = "verified".into();
    } else {
        row.status = "refused".into();
        row.detail = Some("ARTIFACT_MISMATCH".into());
    }
    record(db, row, tenant).await
}

/// The periodic check, every `[updates] check_interval_secs`.
pub async fn forever(db: Db, company: PeerClient, cfg: Updates, tenant: Option<String>) {
    let mut tick = tokio::time::interval(cfg.check_interval);
    loop {
        tick.tick().await;
        if let Err(e) = check(&db, &company, &cfg, tenant.clone()).await {
            tracing::warn!(error = %e, "the update check failed; will retry");
        }
    }
}
