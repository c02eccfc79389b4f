//! `certs init`, `certs issue`, `certs public`, `certs revoke`, `certs crl
//! --refresh`, `certs demo`: the CA, the service certificates, public
//! listener certificates and the CRL, in a certificates directory
//! (`./certs` unless `--dir`). The work is the `pki` crate's.

// Printing the result is what a CLI command is for.
#![allow(clippy::print_stdout)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;
use common::mtls::ServiceIdentity;
use common::Service;
use pki as certs;

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
    /// Issue (or rotate) a public listener's TLS certificate for a DNS name
    /// (serverAuth only, no service identity), signed by the CA.
    Public(PublicArgs),
    /// The CRL: `--refresh` re-signs ca.crl with a fresh nextUpdate (servers
    /// refuse every peer once it is past nextUpdate plus their grace period).
    Crl {
        /// Re-sign the CRL now (without it: show its nextUpdate).
        #[arg(long)]
        refresh: bool,
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

#[derive(clap::Args)]
pub struct PublicArgs {
    /// A DNS name users reach the server by (repeatable; at least one).
    #[arg(long = "dns", value_name = "NAME", required = true)]
    dns: Vec<String>,
    /// An IP address users reach the server by (repeatable).
    #[arg(long = "ip", value_name = "ADDR")]
    ips: Vec<IpAddr>,
    /// The certificates directory.
    #[arg(long, default_value = certs::DEFAULT_DIR)]
    dir: PathBuf,
    /// Validity in days.
    #[arg(long, default_value_t = certs::DEFAULT_LEAF_DAYS)]
    days: u32,
    /// File name stem (`<name>.crt`, `<name>.key`).
    #[arg(long, default_value = "public")]
    name: String,
}

pub fn run(command: CertsCommand) -> anyhow::Result<ExitCode> {
    match command {
        CertsCommand::Init { dir, days } => init(&dir, days),
        CertsCommand::Issue(args) => issue(args),
        CertsCommand::Public(args) => public(args),
        CertsCommand::Crl { refresh, dir } => crl(&dir, refresh),
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

fn public(args: PublicArgs) -> anyhow::Result<ExitCode> {
    let issued = certs::issue_public(&args.dir, &args.name, &args.dns, &args.ips, args.days)?;
    let crt = args.dir.join(format!("{}.crt", args.name));
    let key = args.dir.join(format!("{}.key", args.name));
    println!("issued {} (key {}, 0600)", crt.display(), key.display());
    println!("serial:   {}", issued.serial_hex);
    println!("names:    {}", args.dns.join(", "));
    println!("expires:  {}", issued.not_after.to_rfc3339());
    println!(
        "serve it with server.tls_cert = \"{}\" and server.tls_key = \"{}\"",
        crt.display(),
        key.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn crl(dir: &Path, refresh: bool) -> anyhow::Result<ExitCode> {
    let path = dir.join(certs::CRL_FILE);
    if refresh {
        let next = certs::refresh_crl(dir)?;
        println!(
            "{} re-signed; next update due {}",
            path.display(),
            next.to_rfc3339()
        );
        return Ok(ExitCode::SUCCESS);
    }
    match certs::crl_next_update(dir)? {
        Some(next) => println!("{}: next update due {}", path.display(), next.to_rfc3339()),
        None => {
            eprintln!("bulkhead: no CRL at {}", path.display());
            return Ok(ExitCode::from(1));
        }
    }
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
            "revoked serial {normalized}{what}; {} rewritten (servers reload it on change)",
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
