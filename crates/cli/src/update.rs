//! `bulkhead update --check | --stage`: a hospital server's operator asks
//! company (with the hospital's own plane identity) which release is
//! approved, has both signatures checked against the pinned approval key,
//! and stages the artifact into `[updates] dir` after checking its hash.
//! What it finds is recorded as the running server would record it, so the
//! next heartbeat carries it to owner. Replacing the binary stays the
//! operator's step (docs/operations.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use common::config::Config;
use common::mtls::client::PeerClient;
use common::mtls::{ServiceIdentity, Trust};
use common::Service;

/// `bulkhead update`.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct UpdateArgs {
    /// Ask company which release is approved and check it.
    #[arg(long)]
    check: bool,
    /// Also download it through company, check its hash, and stage it.
    #[arg(long)]
    stage: bool,
    /// The hospital's configuration file.
    #[arg(long, global = false)]
    config: Option<PathBuf>,
}

/// Run it: exit 0 when the release is current, available, staged or
/// verified; 1 when it was refused or could not be checked; 2 on an error.
pub fn run(a: &UpdateArgs) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(Service::Hospital, a.config.as_deref())?;
    let db = crate::admin::open(Service::Hospital, &cfg, false)?;
    let updates = hospital::updates::load(&cfg)?;
    if !cfg.plane.enabled {
        anyhow::bail!("the internal plane is off (plane.enabled): company cannot be reached");
    }
    let trust = Trust::load(&cfg.plane, None)?;
    let company = PeerClient::new(&cfg.plane, &trust, ServiceIdentity::Company, None)?;
    let tenant = cfg.pinned_tenant().map(str::to_string);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let health = rt
        .block_on(async {
            if a.stage {
                hospital::updates::stage(&db, &company, &updates, tenant).await
            } else {
                hospital::updates::check(&db, &company, &updates, tenant).await
            }
        })
        .context("checking for an update")?;
    let approved = health.version.as_deref().unwrap_or("none");
    let detail = health
        .detail
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    println!(
        "{}: running {}, approved {approved}{detail}",
        health.status, health.current_version
    );
    if a.stage && health.status == "verified" {
        let state = db
            .conn()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .and_then(|mut c| {
                hospital::updates::read(&mut c).map_err(|e| anyhow::anyhow!("{e}"))
            })?;
        if let Some(path) = state.and_then(|s| s.staged_path) {
            println!("staged at {path}: stop the server, replace its binary with it, start it");
        }
    }
    Ok(match health.status.as_str() {
        "current" | "available" | "staged" | "verified" => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}
