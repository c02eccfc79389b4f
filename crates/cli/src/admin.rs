//! `migrate`, `audit verify`, `users create`: direct database work with the
//! server's own configuration.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use common::accounts::provision::{self, Provision};
use common::config::Config;
use common::db::Db;
use common::rbac::Policy;
use common::server::Spec;
use common::Service;

/// The spec of each server.
pub fn spec(service: Service) -> &'static Spec {
    match service {
        Service::Hospital => &hospital::SPEC,
        Service::Company => &company::SPEC,
        Service::Dev => &dev::SPEC,
        Service::Owner => &owner::SPEC,
    }
}

fn open(service: Service, config: &Config, migrate: bool) -> anyhow::Result<Db> {
    let timeout = Duration::from_secs(config.database.pool_timeout_secs);
    let m = spec(service).migrations;
    if migrate {
        Db::open(config.database_url(), 2, timeout, m)
    } else {
        Db::connect(config.database_url(), 2, timeout, m)
    }
}

pub fn migrate(service: Service, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(service, config)?;
    let db = open(service, &cfg, false)?;
    let applied = db.migrate()?;
    println!("{service}: {applied} migration(s) applied; schema is current");
    Ok(ExitCode::SUCCESS)
}

pub fn audit_verify(service: Service, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(service, config)?;
    let db = open(service, &cfg, false)?;
    let mut conn = db.conn().map_err(|e| anyhow::anyhow!("{e}"))?;
    let report = common::audit::verify(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?;
    match &report.problem {
        None => {
            println!(
                "{service}: audit chain intact: {} rows, head seq {} hash {}",
                report.rows, report.head_seq, report.head_hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(p) => {
            println!(
                "{service}: audit chain TAMPERED at seq {}: {} (rows 1..{} verified)",
                p.seq, p.reason, report.head_seq
            );
            Ok(ExitCode::from(1))
        }
    }
}

#[derive(clap::Args)]
pub struct CreateUserArgs {
    /// hospital, company, dev or owner.
    #[arg(long)]
    service: Service,
    /// The server's TOML configuration.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Login name.
    #[arg(long)]
    username: String,
    /// Role (see the server's policy).
    #[arg(long)]
    role: String,
    /// Hospital only: the tenant (defaults to the pinned tenant).
    #[arg(long)]
    tenant: Option<String>,
    /// Read the password from this file (first line).
    #[arg(long, conflicts_with = "password_stdin")]
    password_file: Option<PathBuf>,
    /// Read the password from standard input (first line).
    #[arg(long)]
    password_stdin: bool,
}

pub fn create_user(args: CreateUserArgs) -> anyhow::Result<ExitCode> {
    let service = args.service;
    let cfg = Config::load(service, args.config.as_deref())?;
    let password = if let Some(p) = &args.password_file {
        std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
    } else if args.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else if let Ok(p) = std::env::var("BULKHEAD_USER_PASSWORD") {
        p
    } else {
        bail!("give the password with --password-file, --password-stdin or BULKHEAD_USER_PASSWORD (never on the command line)");
    };
    let password = password.lines().next().unwrap_or("").to_string();
    let tenant = match (service.is_tenanted(), &args.tenant) {
        (false, Some(_)) => bail!("--tenant is for the hospital service only"),
        (false, None) => String::new(),
        (true, Some(t)) => {
            uuid::Uuid::parse_str(t).context("--tenant must be a UUID")?;
            t.clone()
        }
        (true, None) => cfg
            .pinned_tenant()
            .context("--tenant is required for a hosted hospital")?
            .to_string(),
    };
    let spec = spec(service);
    let policy = Policy::build(
        spec.policy,
        spec.admin_role,
        spec.permissions,
        &cfg.rbac.roles,
    )?;
    let db = open(service, &cfg, true)?;
    let p = Provision {
        tenant_id: &tenant,
        username: &args.username,
        password: &password,
        role: &args.role,
        skip_policy: false,
        actor: "cli",
    };
    match provision::ensure_user(&db, &policy, cfg.auth.bcrypt_cost, &p)
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        Some(id) => {
            println!(
                "{service}: created user {} ({}) with id {id}",
                args.username, args.role
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!(
                "bulkhead: {service} already has a user named {}",
                args.username
            );
            Ok(ExitCode::from(1))
        }
    }
}
