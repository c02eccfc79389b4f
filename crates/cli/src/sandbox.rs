//! `bulkhead sandbox seed`: fill dev's synthetic sandbox from a seed, on
//! dev's database directly (like `users create`: for whoever holds dev's
//! configuration), for load tests larger than the API's limit.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};
use common::audit::{self, Event, Origin, Severity};
use common::config::Config;
use common::db::write_tx;
use common::Service;
use dev::sandbox::{self, store, MAX_CLI_PATIENTS};
use serde_json::json;

/// Sandbox commands.
#[derive(Subcommand)]
pub enum SandboxCommand {
    /// Replace dev's sandbox with a fresh synthetic generation.
    Seed(SeedArgs),
}

/// `bulkhead sandbox seed`.
#[derive(Args)]
pub struct SeedArgs {
    /// Patients to generate (0 to 1,000,000).
    #[arg(long, default_value_t = 1000)]
    patients: u32,
    /// Hospitals (1 to 20).
    #[arg(long, default_value_t = 3)]
    hospitals: u32,
    /// The seed: the same seed and counts make the same rows.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// dev's TOML configuration.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Run a sandbox command.
pub fn run(command: SandboxCommand) -> anyhow::Result<ExitCode> {
    match command {
        SandboxCommand::Seed(args) => seed(&args),
    }
}

fn seed(args: &SeedArgs) -> anyhow::Result<ExitCode> {
    let plan = sandbox::plan(args.seed, args.hospitals, args.patients, MAX_CLI_PATIENTS)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cfg = Config::load(Service::Dev, args.config.as_deref())?;
    let db = crate::admin::open(Service::Dev, &cfg, true)?;
    let mut conn = db.conn().map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let summary = write_tx(&mut conn, |c| {
        let s = store::reset(c, &plan, "cli")?;
        let e = Event::new("cli", "cli", "sandbox.reset", "sandbox")
            .severity(Severity::Info)
            .details(json!({ "seed": s.seed, "hospitals": s.hospitals,
                "patients": s.patients, "records": s.records }));
        audit::append(c, &e, &Origin::default())?;
        Ok(s)
    })
    .map_err(|e| anyhow::anyhow!("generating the sandbox: {e}"))?;
    println!(
        "dev: sandbox generated from seed {}: {} hospitals, {} staff, {} patients, {} records (synthetic) in {:.1} s",
        summary.seed,
        summary.hospitals,
        summary.staff,
        summary.patients,
        summary.records,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
