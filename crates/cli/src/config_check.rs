//! `bulkhead config check --service S --config FILE`: would this server
//! start with this configuration, and is it fit for production?
//!
//! First the checks the server itself runs at start (the same functions:
//! the file and its secret files load, sections are known and valid, demo
//! mode and plain HTTP off loopback refused, TLS files parse, role
//! overrides compile). Then what a production deployment needs on top:
//! secrets from files, PostgreSQL with `verify-full`, the internal plane on
//! with its files present and `https` peers, a real tenant, JSON logs.
//! Each finding is printed as `error` or `warning`; the exit code is 1 when
//! there is any error, 0 otherwise.

use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;

use common::config::{Config, LogFormat, TenancyMode, DEMO_TENANT_ID};
use common::Service;

use crate::admin::spec;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The server would refuse to start, or runs unsafely.
    Error,
    /// Works, but is not what production should run.
    Warning,
}

/// One thing the check found.
#[derive(Debug)]
pub struct Finding {
    /// Error or warning.
    pub level: Level,
    /// The configuration key it is about.
    pub key: &'static str,
    /// What is wrong and what to do.
    pub what: String,
}

/// Run the check and print its findings.
pub fn run(service: Service, path: &Path) -> anyhow::Result<ExitCode> {
    if !path.is_file() {
        anyhow::bail!("{}: no such configuration file", path.display());
    }
    let findings = match Config::load(service, Some(path)) {
        Ok(config) => check(service, &config),
        Err(e) => vec![Finding {
            level: Level::Error,
            key: "(file)",
            what: format!("the configuration does not load: {e:#}"),
        }],
    };
    let errors = findings.iter().filter(|f| f.level == Level::Error).count();
    let warnings = findings.len() - errors;
    for f in &findings {
        let level = match f.level {
            Level::Error => "error  ",
            Level::Warning => "warning",
        };
        println!("{level} {}: {}", f.key, f.what);
    }
    println!(
        "{service} {}: {errors} error(s), {warnings} warning(s){}",
        path.display(),
        if errors == 0 {
            " — fit for production"
        } else {
            " — not fit for production"
        }
    );
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Every finding for `config` of `service`, errors first.
pub fn check(service: Service, config: &Config) -> Vec<Finding> {
    let mut out = Findings::default();
    start_checks(service, config, &mut out);
    secrets(service, config, &mut out);
    database(config, &mut out);
    plane(service, config, &mut out);
    if service == Service::Hospital {
        tenancy(config, &mut out);
    }
    logging(config, &mut out);
    let mut findings = out.0;
    findings.sort_by_key(|f| f.level);
    findings
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn error(&mut self, key: &'static str, what: impl Into<String>) {
        self.0.push(Finding {
            level: Level::Error,
            key,
            what: what.into(),
        });
    }

    fn warning(&mut self, key: &'static str, what: impl Into<String>) {
        self.0.push(Finding {
            level: Level::Warning,
            key,
            what: what.into(),
        });
    }

    /// An error when a start-up check fails.
    fn start(&mut self, key: &'static str, result: anyhow::Result<()>) {
        if let Err(e) = result {
            self.error(key, format!("the server would refuse to start: {e:#}"));
        }
    }
}

/// What `Application::build` checks before it opens anything.
fn start_checks(service: Service, config: &Config, out: &mut Findings) {
    let spec = spec(service);
    if config.demo {
        out.error(
            "demo",
            "demo mode seeds known passwords and generates keys: never in production",
        );
    }
    out.start("server.host", config.check_demo_allowed());
    out.start("server.host", config.check_public_listener());
    match config.public_tls() {
        Some((cert, key)) => out.start(
            "server.tls_cert",
            common::public_tls::server_config(cert, key).map(|_| ()),
        ),
        None if config.server.trusted_proxies.is_empty() => out.warning(
            "server.tls_cert",
            "the public listener speaks plain HTTP (on loopback): only behind a TLS proxy on \
             this machine, named in server.trusted_proxies",
        ),
        None => {}
    }
    out.start(
        "rbac.roles",
        spec.build_policy(&config.rbac.roles).map(|_| ()),
    );
    out.start("(sections)", spec.check_sections(config));
    for section in spec.sections {
        out.start(section.name, (section.load)(config).map(|_| ()));
    }
    if config.auth.bcrypt_cost < 12 {
        out.warning(
            "auth.bcrypt_cost",
            format!(
                "{} is below 12, the production cost",
                config.auth.bcrypt_cost
            ),
        );
    }
    if config.mfa_required_roles(service).is_empty() {
        out.warning(
            "auth.mfa_required_roles",
            format!(
                "no role must use a second factor; name at least the admin roles ({})",
                spec.admin_role
            ),
        );
    }
}

/// Secrets come from files (mode 0600, `LoadCredential=` under systemd),
/// never inline in a file that is copied, diffed and backed up.
fn secrets(service: Service, config: &Config, out: &mut Findings) {
    match (&config.auth.jwt_secret, &config.auth.jwt_secret_file) {
        (None, _) => out.error(
            "auth.jwt_secret_file",
            "missing: the server refuses to start outside demo mode",
        ),
        (Some(_), None) => out.error(
            "auth.jwt_secret",
            "inline secret: put it in a file and name it in auth.jwt_secret_file",
        ),
        (Some(_), Some(path)) => secret_file(path, "auth.jwt_secret_file", out),
    }
    if spec(service).needs_keyring {
        match (&config.crypto.master_key, &config.crypto.master_key_file) {
            (Some(_), _) => out.error(
                "crypto.master_key",
                "inline master key: put it in a file and name it in crypto.master_key_file",
            ),
            (None, None) => out.error(
                "crypto.master_key_file",
                "missing: this server encrypts fields and refuses to start without its master key",
            ),
            (None, Some(_)) => {
                // The server's own loading: the file, its mode, its length.
                if let Err(e) = common::server::master_key(service, config, None) {
                    out.error("crypto.master_key_file", format!("{e:#}"));
                }
            }
        }
    }
    match (
        &config.bootstrap.admin_password,
        &config.bootstrap.admin_password_file,
    ) {
        (Some(_), None) => out.error(
            "bootstrap.admin_password",
            "inline password: put it in a file and name it in bootstrap.admin_password_file",
        ),
        (Some(_), Some(path)) => secret_file(path, "bootstrap.admin_password_file", out),
        (None, _) => {}
    }
}

/// A secret file readable by others than its owner is a finding.
fn secret_file(path: &Path, key: &'static str, out: &mut Findings) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                out.warning(
                    key,
                    format!(
                        "{} is readable by group or others (mode {:o}); chmod 600",
                        path.display(),
                        meta.permissions().mode() & 0o777
                    ),
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, key, out);
}

fn database(config: &Config, out: &mut Findings) {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        out.warning(
            "database.url",
            "SQLite: one machine, one server process; production runs PostgreSQL",
        );
        return;
    }
    if config.database.url_file.is_none() && url.contains('@') {
        out.warning(
            "database.url",
            "the URL (which may carry a password) is inline: use database.url_file",
        );
    }
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    let sslmode = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("sslmode="))
        .unwrap_or("prefer");
    if sslmode != "verify-full" && !database_on_this_machine(url) {
        out.error(
            "database.url",
            format!(
                "sslmode={sslmode}: a remote PostgreSQL needs sslmode=verify-full \
                 (and sslrootcert=<its CA>), or the password and the records cross the \
                 network unverified"
            ),
        );
    }
}

/// A PostgreSQL URL whose host is loopback or a Unix socket.
fn database_on_this_machine(url: &str) -> bool {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(url)
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let host_port = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host.is_empty()
        || host == "localhost"
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn plane(service: Service, config: &Config, out: &mut Findings) {
    let plane = &config.plane;
    if !plane.enabled {
        out.error(
            "plane.enabled",
            "the internal plane is off: no security events or audit anchors reach company",
        );
        return;
    }
    for (key, path) in [
        ("plane.cert", &plane.cert),
        ("plane.key", &plane.key),
        ("plane.ca", &plane.ca),
        ("plane.crl", &plane.crl),
    ] {
        if !path.is_file() {
            out.error(
                key,
                format!(
                    "{} does not exist (bulkhead certs issue / certs crl)",
                    path.display()
                ),
            );
        }
    }
    secret_file(&plane.key, "plane.key", out);
    let peers: &[(&'static str, &str)] = match service {
        Service::Hospital => &[
            ("plane.company_url", &plane.company_url),
            ("plane.owner_url", &plane.owner_url),
        ],
        Service::Owner => &[("plane.company_url", &plane.company_url)],
        Service::Company => &[("plane.dev_url", &plane.dev_url)],
        Service::Dev => &[],
    };
    for (key, url) in peers {
        if !url.starts_with("https://") {
            out.error(
                key,
                format!("{url}: internal calls are mutual TLS (https://)"),
            );
        }
    }
}

fn tenancy(config: &Config, out: &mut Findings) {
    match &config.tenancy {
        Some(t) if t.mode == TenancyMode::Hosted => {}
        _ => match config.pinned_tenant() {
            None => out.error(
                "tenancy.tenant_id",
                "an on-site hospital names its tenant (the id owner gave at registration)",
            ),
            Some(DEMO_TENANT_ID) => out.error(
                "tenancy.tenant_id",
                "the demo tenant: use the id owner gave at registration",
            ),
            Some(id) if uuid::Uuid::parse_str(id).is_err() => out.error(
                "tenancy.tenant_id",
                format!("{id:?} is not a tenant id (a UUID)"),
            ),
            Some(_) => {}
        },
    }
}

fn logging(config: &Config, out: &mut Findings) {
    if config.log.format != LogFormat::Json {
        out.warning(
            "log.format",
            "human-readable logs: production ships JSON lines to its collector",
        );
    }
    let level = config.log.level.to_ascii_lowercase();
    if level.contains("debug") || level.contains("trace") {
        out.warning(
            "log.level",
            format!("{level}: debug logs are large and name more than operations need"),
        );
    }
    if config.metrics.allow.iter().any(|n| n.prefix_len() == 0) {
        out.warning(
            "metrics.allow",
            "metrics are open to every address: name the scraper's",
        );
    }
}
