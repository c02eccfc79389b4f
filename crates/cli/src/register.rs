//! `bulkhead register-tenant`: register a hospital with owner (directly on
//! owner's database, audited as `cli`, through the same checks as
//! `POST /api/v1/owner/tenants`), issue its certificate, create its
//! PostgreSQL database when the URL is PostgreSQL, and write a ready
//! hospital configuration with its secrets. See docs/operations.md.

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use common::audit::Origin;
use common::config::Config;
use common::crypto::MasterKey;
use common::db::write_tx;
use common::fsutil::{write_atomic, write_private_atomic, Access, Existing};
use common::mtls::ServiceIdentity;
use common::{ApiError, Service};
use owner::tenants::http::{prepare, register, Registration};

#[derive(clap::Args)]
pub struct RegisterArgs {
    /// The hospital's name, e.g. "Abdullah Hospital".
    #[arg(long)]
    company: String,
    /// Its subdomain (a DNS label), e.g. `abdullah`.
    #[arg(long)]
    subdomain: String,
    /// Its database name, e.g. `hospital_abdullah`.
    #[arg(long = "db")]
    db_name: String,
    /// Where it runs.
    #[arg(long, default_value = "local")]
    region: String,
    /// A plan to assign (a plan id).
    #[arg(long)]
    plan: Option<String>,
    /// The first admin's e-mail (their login name); default `admin@<subdomain>.local`.
    #[arg(long)]
    admin_email: Option<String>,
    /// Read the first admin's password from this file (first line). Without
    /// it (and without --admin-password-stdin) one is generated and written
    /// to `<out>/first-admin.password` (0600).
    #[arg(long, conflicts_with = "admin_password_stdin")]
    admin_password_file: Option<PathBuf>,
    /// Read the first admin's password from standard input (first line).
    #[arg(long)]
    admin_password_stdin: bool,
    /// The first admin's first name.
    #[arg(long, default_value = "Hospital")]
    first_name: String,
    /// The first admin's last name.
    #[arg(long, default_value = "Administrator")]
    last_name: String,
    /// Owner's configuration (its database is where the tenant is registered).
    #[arg(long)]
    owner_config: Option<PathBuf>,
    /// The certificates directory holding the CA.
    #[arg(long, default_value = pki::DEFAULT_DIR)]
    certs_dir: PathBuf,
    /// Where to write the hospital's configuration and secrets; default
    /// `hospitals/<subdomain>`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The hospital's database server: a `postgres://` URL (the database
    /// named by --db is created there if missing). Without it: SQLite at
    /// `<out>/<db>.db`.
    #[arg(long)]
    database_url: Option<String>,
    /// The hospital's public port.
    #[arg(long, default_value_t = 3001)]
    port: u16,
    /// Owner's internal URL for the hospital; default: from owner's configuration.
    #[arg(long)]
    owner_url: Option<String>,
    /// Company's internal URL for the hospital.
    #[arg(long, default_value = "https://localhost:3102")]
    company_url: String,
}

/// What the file names and the printed summary need.
struct Layout {
    out: PathBuf,
    config: PathBuf,
    jwt: PathBuf,
    master: PathBuf,
    backup_key: PathBuf,
    password: PathBuf,
    cert_name: String,
}

pub fn run(args: RegisterArgs) -> anyhow::Result<ExitCode> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("hospitals").join(&args.subdomain));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let out = out.canonicalize()?;
    let certs_dir = args
        .certs_dir
        .canonicalize()
        .with_context(|| format!("the certificates directory {}", args.certs_dir.display()))?;
    let l = Layout {
        config: out.join("hospital.toml"),
        jwt: out.join("jwt.secret"),
        master: out.join("master.key"),
        backup_key: out.join("backup.key"),
        password: out.join("first-admin.password"),
        cert_name: format!("hospital-{}", args.subdomain),
        out,
    };
    if l.config.exists() {
        eprintln!(
            "bulkhead: {} exists; refusing to overwrite it (nothing changed)",
            l.config.display()
        );
        return Ok(ExitCode::from(1));
    }
    // The CA must be there before anything is registered.
    pki::load_ca(&certs_dir).context("run `bulkhead certs init` first")?;

    let owner_cfg = Config::load(Service::Owner, args.owner_config.as_deref())
        .context("owner's configuration")?;
    let email = args
        .admin_email
        .clone()
        .unwrap_or_else(|| format!("admin@{}.local", args.subdomain));
    let (password, generated) = admin_password(&args)?;
    let reg = Registration {
        name: args.company.clone(),
        subdomain: args.subdomain.clone(),
        db_name: args.db_name.clone(),
        region: Some(args.region.clone()),
        plan_id: args.plan.clone(),
        admin_email: email.clone(),
        admin_password: password.clone(),
        admin_first_name: args.first_name.clone(),
        admin_last_name: args.last_name.clone(),
    };
    let (tenant, admin) = match prepare(reg, owner_cfg.auth.bcrypt_cost) {
        Ok(v) => v,
        Err(e) => return refused(&e),
    };
    let tenant_id = tenant.id.clone();
    let identity = ServiceIdentity::for_service(Service::Hospital, Some(&tenant_id))
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    // A taken subdomain or database name is refused before any database
    // is created (`register` checks again in its transaction).
    let db = crate::admin::open(Service::Owner, &owner_cfg, true)?;
    let mut conn = db.conn().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(field) = owner::tenants::store::taken(&mut conn, &tenant.slug, &args.db_name)
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        return refused(&ApiError::Conflict(format!(
            "a tenant with this {field} exists"
        )));
    }

    // Its database next: a server that refuses is better found before
    // the tenant exists on owner.
    let database_url = match &args.database_url {
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
            let url = with_database(u, &args.db_name)?;
            if create_pg_database(u, &args.db_name)? {
                println!("created PostgreSQL database {}", args.db_name);
            }
            url
        }
        Some(_) => bail!("--database-url must be a postgres:// URL (omit it for SQLite)"),
        None => format!(
            "sqlite://{}",
            l.out.join(format!("{}.db", args.db_name)).display()
        ),
    };

    if let Err(e) = write_tx(&mut conn, |c| {
        register(c, &tenant, &admin, ("cli", "cli"), &Origin::default())
    }) {
        return refused(&e);
    }
    drop(conn);
    println!(
        "registered tenant {tenant_id} ({}, subdomain {}) on owner",
        tenant.name, tenant.slug
    );

    let dns = vec!["localhost".to_string()];
    let ips = vec![IpAddr::from([127, 0, 0, 1])];
    let issued = pki::issue(
        &certs_dir,
        &identity,
        &l.cert_name,
        &dns,
        &ips,
        pki::DEFAULT_LEAF_DAYS,
    )?;
    println!(
        "issued {} ({identity}, serial {})",
        certs_dir.join(format!("{}.crt", l.cert_name)).display(),
        issued.serial_hex
    );

    write_private_atomic(
        &l.jwt,
        format!("{}\n", MasterKey::generate().to_hex().as_str()).as_bytes(),
        Existing::Replace,
    )?;
    if !l.master.exists() {
        MasterKey::generate_to_file(&l.master)?;
    }
    // The tenant's backup key: seals the online copy owner keeps; owner
    // never sees it. Printed once as a recovery code for offline keeping.
    let backup_key = if l.backup_key.exists() {
        None
    } else {
        let key = contracts::backup::BackupKey::generate()?;
        hospital::backup::write_key(&l.backup_key, &key)?;
        Some(key)
    };
    if generated {
        write_private_atomic(
            &l.password,
            format!("{password}\n").as_bytes(),
            Existing::Replace,
        )?;
    }
    let owner_url = args.owner_url.clone().unwrap_or_else(|| {
        let host = match owner_cfg.plane.host {
            h if h.is_loopback() || h.is_unspecified() => "localhost".to_string(),
            IpAddr::V6(h) => format!("[{h}]"),
            h => h.to_string(),
        };
        format!("https://{host}:{}", owner_cfg.plane.port)
    });
    let toml = hospital_toml(&args, &l, &certs_dir, &tenant_id, &database_url, &owner_url);
    write_atomic(&l.config, toml.as_bytes(), Access::Private, Existing::Keep)?;

    println!("wrote {} (secrets beside it, 0600)", l.config.display());
    if generated {
        println!(
            "the first admin {email} logs in with the password in {}",
            l.password.display()
        );
    }
    if let Some(key) = &backup_key {
        println!(
            "backup key (keep it offline: without it owner's copy cannot be restored): {}",
            l.backup_key.display()
        );
        println!("recovery code: {}", key.recovery_code());
    }
    println!("tenant id: {tenant_id}");
    println!("next: hospital-server --config {}", l.config.display());
    Ok(ExitCode::SUCCESS)
}

/// A refusal of owner's checks (taken subdomain, weak password…): exit 1.
fn refused(e: &ApiError) -> anyhow::Result<ExitCode> {
    eprintln!("bulkhead: owner refused the registration: {e}");
    Ok(ExitCode::from(1))
}

/// The first admin's password, and whether it was generated.
fn admin_password(args: &RegisterArgs) -> anyhow::Result<(String, bool)> {
    let raw = if let Some(p) = &args.admin_password_file {
        std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
    } else if args.admin_password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        // 32 hex characters of a fresh random key: 128 bits.
        let key = MasterKey::generate();
        let hex = key.to_hex();
        return Ok((hex[..32].to_string(), true));
    };
    Ok((raw.lines().next().unwrap_or("").to_string(), false))
}

/// The database a PostgreSQL URL names (its path), if any.
pub fn database_of(url: &str) -> Option<String> {
    let base = url.split_once('?').map_or(url, |(b, _)| b);
    let rest = &base[base.find("://")? + 3..];
    let (_, db) = rest.split_once('/')?;
    (!db.is_empty()).then(|| db.to_string())
}

/// A database name the CLI will put in SQL: a letter, then a-z, 0-9, '_'.
pub fn check_db_name(name: &str) -> anyhow::Result<()> {
    let b = name.as_bytes();
    if b.first().is_some_and(u8::is_ascii_lowercase)
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
    {
        Ok(())
    } else {
        bail!("{name:?} is not a database name (a letter, then a-z, 0-9, '_', at most 63)")
    }
}

/// `url` with its database (the path) replaced by `name`.
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").context("not a URL")? + 3;
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Ok(out)
}

/// Create database `name` on the server of `admin_url` unless it exists;
/// whether it was created. `name` is a checked label (a-z, 0-9, '_').
pub fn create_pg_database(admin_url: &str, name: &str) -> anyhow::Result<bool> {
    check_db_name(name)?;
    use diesel::prelude::*;
    use diesel::sql_types::Text;
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        one: i32,
    }
    let mut conn = diesel::PgConnection::establish(admin_url)
        .context("connecting to the PostgreSQL server of --database-url")?;
    let found: Vec<Found> =
        diesel::sql_query("SELECT 1 AS one FROM pg_database WHERE datname = $1")
            .bind::<Text, _>(name)
            .load(&mut conn)?;
    if !found.is_empty() {
        return Ok(false);
    }
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .with_context(|| format!("creating database {name}"))?;
    Ok(true)
}

fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn path_str(p: &Path) -> String {
    quoted(&p.display().to_string())
}

fn hospital_toml(
    args: &RegisterArgs,
    l: &Layout,
    certs: &Path,
    tenant_id: &str,
    database_url: &str,
    owner_url: &str,
) -> String {
    format!(
        "# {name}: written by `bulkhead register-tenant` (tenant {tenant_id}).\n\
         # Start it with: hospital-server --config {config}\n\n\
         [server]\nhost = \"127.0.0.1\"\nport = {port}\n\n\
         [database]\nurl = {db}\n\n\
         [tenancy]\nmode = \"onsite\"\ntenant_id = {tenant}\n\n\
         [auth]\njwt_secret_file = {jwt}\n\n\
         [crypto]\nmaster_key_file = {master}\n\n\
         [plane]\ncert = {cert}\nkey = {key}\nca = {ca}\ncrl = {crl}\n\
         owner_url = {owner}\ncompany_url = {company}\n\n\
         [backup]\nkey_file = {backup}\n",
        name = args.company.replace('\n', " "),
        config = l.config.display(),
        port = args.port,
        db = quoted(database_url),
        tenant = quoted(tenant_id),
        jwt = path_str(&l.jwt),
        master = path_str(&l.master),
        cert = path_str(&certs.join(format!("{}.crt", l.cert_name))),
        key = path_str(&certs.join(format!("{}.key", l.cert_name))),
        ca = path_str(&certs.join(pki::CA_CERT_FILE)),
        crl = path_str(&certs.join(pki::CRL_FILE)),
        owner = quoted(owner_url),
        company = quoted(&args.company_url),
        backup = path_str(&l.backup_key),
    )
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "hospital_a").unwrap(),
            "postgres://u@h:5432/hospital_a"
        );
        assert_eq!(
            with_database("postgres://u@h/x?sslmode=require", "b").unwrap(),
            "postgres://u@h/b?sslmode=require"
        );
        assert_eq!(
            with_database("postgres://h", "c").unwrap(),
            "postgres://h/c"
        );
    }
}
