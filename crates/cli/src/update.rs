//! `bulkhead update --check | --stage [--service hospital|owner]`: a
//! hospital's or owner's operator asks company (with the server's own plane
//! identity) which release of its product is approved, has both signatures checked against the pinned approval key,
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
#[command(group(clap::ArgGroup::new("action").required(true).args(["check", "stage"])))]
pub struct UpdateArgs {
    /// Ask company which release is approved and check it.
    #[arg(long)]
    check: bool,
    /// Also download it through company, check its hash, and stage it.
    #[arg(long)]
    stage: bool,
    /// hospital (default) or owner: the servers that follow company's approvals.
    #[arg(long, default_value = "hospital")]
    service: Service,
    /// `build` (default): the server's own release; `config`: its
    /// configuration documents (dev's versioned configuration, product
    /// `<kind>-config`), checked and staged the same way.
    #[arg(long, default_value = "build", value_parser = ["build", "config"])]
    what: String,
    /// The server's configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Run it: exit 0 when the release is current, available, staged or
/// verified; 1 when it was refused or could not be checked; 2 on an error.
pub fn run(a: &UpdateArgs) -> anyhow::Result<ExitCode> {
    let product = match a.service {
        Service::Hospital => hospital::PRODUCT,
        Service::Owner => owner::update::PRODUCT,
        other => anyhow::bail!(
            "{other} does not follow company's approvals (company approves, dev builds); use --service hospital or owner"
        ),
    };
    let cfg = Config::load(a.service, a.config.as_deref())?;
    let db = crate::admin::open(a.service, &cfg, false)?;
    let mut updates = common::updates::load(&cfg, product)?;
    if a.what == "config" {
        let documents = match a.service {
            Service::Hospital => hospital::CONFIG_PRODUCT,
            _ => "owner-config",
        };
        updates = updates.documents(documents);
    }
    if !cfg.plane.enabled {
        anyhow::bail!("the internal plane is off (plane.enabled): company cannot be reached");
    }
    let trust = Trust::load(&cfg.plane, None)?;
    let company = PeerClient::new(&cfg.plane, &trust, ServiceIdentity::Company, None)?;
    let tenant = match a.service {
        Service::Hospital => cfg.pinned_tenant().map(str::to_string),
        _ => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let health = rt
        .block_on(async {
            if a.stage {
                common::updates::stage(&db, &company, &updates, tenant).await
            } else {
                common::updates::check(&db, &company, &updates, tenant).await
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
            .and_then(|mut c| common::updates::read(&mut c).map_err(|e| anyhow::anyhow!("{e}")))?;
        if let Some(path) = state.and_then(|s| s.staged_path) {
            println!("staged at {path}: stop the server, replace its binary with it, start it");
        }
    }
    Ok(match health.status.as_str() {
        "current" | "available" | "staged" | "verified" => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}
