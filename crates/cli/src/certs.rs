//! `certs init`, `certs issue`, `certs revoke`, `certs demo`: the CA, the
//! service certificates and the CRL of the internal plane, in a
//! certificates directory (`./certs` unless `--dir`).

// Printing the result is what a CLI command is for.
#![allow(clippy::print_stdout)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;
use common::mtls::certs;
use common::mtls::ServiceIdentity;
use common::Service;

#[derive(clap::Subcommand)]
pub enum CertsCommand {
    /// Create the CA (ca.crt, ca.key) and an empty CRL; exit 1 if a CA exists.
    Init {
        /// The certificates directory.
        #[arg(long, default_value = certs::DEFAULT_DIR)]
        dir: PathBuf,
        /// CA validity in days.
        #[arg(long, default_value_t = certs::DEFAULT_CA_DAYS)]
        days: u32,
    },
    /// Issue (or rotate) a service certificate and key, signed by the CA.
    Issue(IssueArgs),
    /// Revoke a certificate by serial and rewrite the CRL (ca.crl).
    Revoke {
        /// The serial, in hex (as `certs issue` printed it; `:` allowed).
        #[arg(long)]
        serial: String,
        /// The certificates directory.
        #[arg(long, default_value = certs::DEFAULT_DIR)]
        dir: PathBuf,
    },
    /// Create whatever is missing of the demo CA and certificates.
    Demo {
        /// The certificates directory.
        #[arg(long, default_value = certs::DEFAULT_DIR)]
        dir: PathBuf,
    },
}

#[derive(clap::Args)]
pub struct IssueArgs {
    /// hospital, company, dev or owner.
    #[arg(long)]
    service: Service,
    /// Hospital only (and required): the tenant UUID in the identity.
    #[arg(long)]
    tenant: Option<String>,
    /// The certificates directory.
    #[arg(long, default_value = certs::DEFAULT_DIR)]
    dir: PathBuf,
    /// Validity in days.
    #[arg(long, default_value_t = certs::DEFAULT_LEAF_DAYS)]
    days: u32,
    /// A DNS name of the host (repeatable; default `localhost` when neither
    /// --dns nor --ip is given).
    #[arg(long = "dns", value_name = "NAME")]
    dns: Vec<String>,
    /// An IP address of the host (repeatable; default `127.0.0.1` when
    /// neither --dns nor --ip is given).
    #[arg(long = "ip", value_name = "ADDR")]
    ips: Vec<IpAddr>,
    /// File name stem (`<name>.crt`, `<name>.key`); default: the service name.
    #[arg(long)]
    name: Option<String>,
}

pub fn run(command: CertsCommand) -> anyhow::Result<ExitCode> {
    match command {
        CertsCommand::Init { dir, days } => init(&dir, days),
        CertsCommand::Issue(args) => issue(args),
        CertsCommand::Revoke { serial, dir } => revoke(&dir, &serial),
        CertsCommand::Demo { dir } => demo(&dir),
    }
}

fn init(dir: &Path, days: u32) -> anyhow::Result<ExitCode> {
    if certs::init(dir, days)? {
        println!(
            "created the CA in {}: {}, {} (0600), {}",
            dir.display(),
            certs::CA_CERT_FILE,
            certs::CA_KEY_FILE,
            certs::CRL_FILE
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "bulkhead: a CA already exists in {}; refusing to overwrite it (nothing changed)",
            dir.display()
        );
        Ok(ExitCode::from(1))
    }
}

fn issue(args: IssueArgs) -> anyhow::Result<ExitCode> {
    let identity =
        ServiceIdentity::for_service(args.service, args.tenant.as_deref()).map_err(|e| {
            anyhow!("{e} (use --tenant <uuid> with --service hospital, and only there)")
        })?;
    let (dns, ips) = if args.dns.is_empty() && args.ips.is_empty() {
        (
            vec!["localhost".to_string()],
            vec![IpAddr::from([127, 0, 0, 1])],
        )
    } else {
        (args.dns, args.ips)
    };
    let name = args.name.unwrap_or_else(|| args.service.name().to_string());
    let issued = certs::issue(&args.dir, &identity, &name, &dns, &ips, args.days)?;
    let crt = args.dir.join(format!("{name}.crt"));
    let key = args.dir.join(format!("{name}.key"));
    println!("issued {} (key {}, 0600)", crt.display(), key.display());
    println!("serial:   {}", issued.serial_hex);
    println!("identity: {identity}");
    println!("expires:  {}", issued.not_after.to_rfc3339());
    Ok(ExitCode::SUCCESS)
}

fn revoke(dir: &Path, serial: &str) -> anyhow::Result<ExitCode> {
    let normalized = certs::normalize_serial(serial)?;
    let already = certs::read_revoked(dir)?
        .into_iter()
        .find(|r| r.serial == normalized);
    certs::revoke(dir, &normalized)?;
    let record = certs::read_issued(dir)?
        .into_iter()
        .find(|r| r.serial == normalized);
    let what = match &record {
        Some(r) => format!(" ({}, {}.crt)", r.identity, r.file),
        None => String::new(),
    };
    match already {
        Some(r) => println!(
            "serial {normalized}{what} was already revoked at {}; {} rewritten",
            r.revoked_at.to_rfc3339(),
            dir.join(certs::CRL_FILE).display()
        ),
        None => println!(
            "revoked serial {normalized}{what}; {} rewritten: restart the internal listeners to load it",
            dir.join(certs::CRL_FILE).display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn demo(dir: &Path) -> anyhow::Result<ExitCode> {
    let created = certs::ensure_demo(dir, common::config::DEMO_TENANT_ID)?;
    if created.is_empty() {
        println!("demo certificates in {} are all present", dir.display());
    } else {
        println!("created in {}: {}", dir.display(), created.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
