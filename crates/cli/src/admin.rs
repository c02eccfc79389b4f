//! `migrate`, `audit verify`, `users create`: direct database work with the
//! server's own configuration.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use common::accounts::create::NewAccount;
use common::accounts::provision;
use common::config::Config;
use common::db::Db;
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

pub(crate) fn open(service: Service, config: &Config, migrate: bool) -> anyhow::Result<Db> {
    spec(service).check_sections(config)?;
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

/// `against_company`: `Some(company config)` to also check the anchors.
pub fn audit_verify(
    service: Service,
    config: Option<&Path>,
    against_company: Option<Option<&Path>>,
) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(service, config)?;
    let db = open(service, &cfg, false)?;
    let mut conn = db.conn().map_err(|e| anyhow::anyhow!("{e}"))?;
    let report = common::audit::verify(&mut conn).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(p) = &report.problem {
        println!(
            "{service}: audit chain TAMPERED at seq {}: {} (rows 1..{} verified)",
            p.seq, p.reason, report.head_seq
        );
        return Ok(ExitCode::from(1));
    }
    println!(
        "{service}: audit chain intact: {} rows, head seq {} hash {}",
        report.rows, report.head_seq, report.head_hash
    );
    let Some(company_config) = against_company else {
        return Ok(ExitCode::SUCCESS);
    };
    let anchors = fetch_anchors(service, &cfg, company_config)?;
    let pairs: Vec<(i64, String)> = anchors.iter().map(|a| (a.seq, a.hash.clone())).collect();
    match common::audit::check_anchors(&mut conn, &pairs).map_err(|e| anyhow::anyhow!("{e}"))? {
        Some(p) => {
            println!(
                "{service}: audit chain does NOT match company's anchors at seq {}: {}",
                p.seq, p.reason
            );
            Ok(ExitCode::from(1))
        }
        None => {
            println!(
                "{service}: matches all {} anchors held by company",
                pairs.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Every anchor company holds for `service`, read over mTLS with the
/// service's own identity (dev makes no outbound calls: company's identity
/// reads dev's anchors).
fn fetch_anchors(
    service: Service,
    cfg: &Config,
    company_config: Option<&Path>,
) -> anyhow::Result<Vec<contracts::AuditAnchor>> {
    use common::mtls::client::PeerClient;
    let (plane, query): (common::config::PlaneSection, Vec<(&str, String)>) = match service {
        Service::Company => bail!("company holds the anchors; verify the other servers against it"),
        Service::Dev => {
            let company = Config::load(Service::Company, company_config)
                .context("company's configuration")?;
            (company.plane, vec![("service", "dev".to_string())])
        }
        _ => (cfg.plane.clone(), Vec::new()),
    };
    let trust = common::mtls::Trust::load(&plane, None)?;
    let client = PeerClient::new(&plane, &trust, common::mtls::ServiceIdentity::Company, None)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut all = Vec::new();
        for page in 1.. {
            let mut q = query.clone();
            q.push(("page", page.to_string()));
            q.push(("page_size", "100".to_string()));
            let batch: Vec<contracts::AuditAnchor> = client
                .get(contracts::paths::AUDIT_ANCHORS, &q)
                .await
                .map_err(|e| anyhow::anyhow!("reading anchors from company: {e}"))?;
            let done = batch.len() < 100;
            all.extend(batch);
            if done {
                break;
            }
        }
        Ok(all)
    })
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
    let policy = spec.build_policy(&cfg.rbac.roles)?;
    let db = open(service, &cfg, true)?;
    let account = NewAccount::new(&tenant, &args.username, &password, &args.role);
    match provision::ensure_user(&db, &policy, cfg.auth.bcrypt_cost, &account, "cli")
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        Some(id) => {
            // A new tenant's first user: the start hook seeds what a
            // running server would otherwise only seed at its next start.
            if let Some(on_start) = spec.on_start {
                on_start(&db, cfg.pinned_tenant())?;
            }
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
