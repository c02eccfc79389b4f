//! `keys`: data key rotation, master key rotation (rewrap), re-encryption
//! and re-indexing of the hospital's sealed fields, with the server's own
//! configuration. Every change is one write transaction with its audit
//! row (actor `cli`, counts and key ids only).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use common::audit::{self, Event, Origin};
use common::config::Config;
use common::crypto::{Keyring, MasterKey};
use common::db::{write_tx, Db, DbConn};
use common::Service;
use hospital::reencrypt::{self, worker};
use serde_json::json;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// List a tenant's data keys and index key version (no key material).
    List(TenantArgs),
    /// Make a new active data key for a tenant; old values still decrypt.
    Rotate(TenantArgs),
    /// Wrap every data key again under a new master key (then restart with it).
    Rewrap(RewrapArgs),
    /// Re-seal every row not yet under its tenant's active key, to completion.
    Reencrypt(ReencryptArgs),
    /// Recompute a tenant's blind indexes under its current index key
    /// (optionally a new one), so search keeps finding every patient.
    Reindex(ReindexArgs),
}

#[derive(Args)]
pub struct Common {
    /// The service (only hospital encrypts fields).
    #[arg(long)]
    service: Service,
    /// The server's TOML configuration.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args)]
pub struct TenantArgs {
    #[command(flatten)]
    common: Common,
    /// The tenant (a UUID); defaults to the pinned tenant.
    #[arg(long)]
    tenant: Option<String>,
}

#[derive(Args)]
pub struct RewrapArgs {
    #[command(flatten)]
    common: Common,
    /// The new master key (64 hex or 44 base64 characters, mode 0600).
    #[arg(long)]
    new_master_key_file: PathBuf,
}

#[derive(Args)]
pub struct ReencryptArgs {
    #[command(flatten)]
    common: Common,
    /// Only this tenant (default: every tenant with data keys).
    #[arg(long)]
    tenant: Option<String>,
    /// Rows per transaction (1 to 1000).
    #[arg(long, default_value_t = 200)]
    batch_size: i64,
}

#[derive(Args)]
pub struct ReindexArgs {
    #[command(flatten)]
    tenant: TenantArgs,
    /// Make a new index key version first (an index key rotation).
    #[arg(long)]
    new_index_key: bool,
    /// Rows per transaction (1 to 1000).
    #[arg(long, default_value_t = 200)]
    batch_size: i64,
}

pub fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::List(a) => list(&a),
        KeysCommand::Rotate(a) => rotate(&a),
        KeysCommand::Rewrap(a) => rewrap(&a),
        KeysCommand::Reencrypt(a) => reencrypt_all(&a),
        KeysCommand::Reindex(a) => reindex(&a),
    }
}

/// The configuration, the migrated database and the keyring of `c`.
fn open(c: &Common) -> anyhow::Result<(Config, Db, Keyring)> {
    if c.service != Service::Hospital {
        bail!("only the hospital service encrypts fields; use --service hospital");
    }
    let cfg = Config::load(c.service, c.config.as_deref())?;
    let spec = crate::admin::spec(c.service);
    spec.check_sections(&cfg)?;
    let timeout = Duration::from_secs(cfg.database.pool_timeout_secs);
    let db = Db::open(cfg.database_url(), 2, timeout, spec.migrations)?;
    let master = common::server::master_key(c.service, &cfg, db.sqlite_file())?;
    Ok((cfg, db, Keyring::new(master)))
}

fn tenant_of(cfg: &Config, given: Option<&str>) -> anyhow::Result<String> {
    match given {
        Some(t) => {
            uuid::Uuid::parse_str(t).context("--tenant must be a UUID")?;
            Ok(t.to_ascii_lowercase())
        }
        None => Ok(cfg
            .pinned_tenant()
            .context("--tenant is required for a hosted hospital")?
            .to_string()),
    }
}

fn err(e: common::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn audit_cli(
    conn: &mut DbConn,
    action: &str,
    tenant: Option<&str>,
    details: serde_json::Value,
) -> common::ApiResult<i64> {
    let resource = match tenant {
        Some(t) => format!("tenant:{t}"),
        None => "keys".to_string(),
    };
    let event = Event::new("cli", "system", action, &resource)
        .tenant(tenant)
        .details(details);
    audit::append(conn, &event, &Origin::default())
}

fn list(a: &TenantArgs) -> anyhow::Result<ExitCode> {
    let (cfg, db, keyring) = open(&a.common)?;
    let tenant = tenant_of(&cfg, a.tenant.as_deref())?;
    let mut c = db.conn().map_err(err)?;
    keyring.check_master_key(&mut c).map_err(err)?;
    for k in keyring.keys(&mut c, &tenant).map_err(err)? {
        println!(
            "data key {} generation {}{} created {}",
            k.key_id,
            k.generation,
            if k.active { " (active)" } else { "" },
            k.created_at
        );
    }
    match keyring
        .current_index_version(&mut c, &tenant)
        .map_err(err)?
    {
        Some(v) => println!("index key version {v}"),
        None => {
            println!("index key version 1 (derived from the first data key; run `keys reindex`)")
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn rotate(a: &TenantArgs) -> anyhow::Result<ExitCode> {
    let (cfg, db, keyring) = open(&a.common)?;
    let tenant = tenant_of(&cfg, a.tenant.as_deref())?;
    let mut c = db.conn().map_err(err)?;
    let (key_id, generation) = write_tx(&mut c, |c| {
        let key_id = keyring.rotate(c, &tenant)?;
        let generation = keyring
            .keys(c, &tenant)?
            .iter()
            .find(|k| k.key_id == key_id)
            .map_or(0, |k| k.generation);
        audit_cli(
            c,
            "keys.rotate",
            Some(&tenant),
            json!({ "key_id": key_id, "generation": generation }),
        )?;
        Ok((key_id, generation))
    })
    .map_err(err)?;
    println!(
        "hospital: tenant {tenant} now encrypts under data key {key_id} (generation {generation}); \
         older values still decrypt. A running server re-encrypts them in the background \
         ([reencrypt]); `bulkhead keys reencrypt` does it now."
    );
    Ok(ExitCode::SUCCESS)
}

fn rewrap(a: &RewrapArgs) -> anyhow::Result<ExitCode> {
    let (_cfg, db, keyring) = open(&a.common)?;
    let new = MasterKey::from_file(&a.new_master_key_file)
        .with_context(|| format!("the new master key {}", a.new_master_key_file.display()))?;
    let new_fingerprint = new.fingerprint();
    if new_fingerprint == keyring.master_fingerprint() {
        bail!("the new master key is the one in use; give a different key");
    }
    let check = Keyring::new(MasterKey::from_hex_or_base64(&new.to_hex())?);
    let mut c = db.conn().map_err(err)?;
    let done = write_tx(&mut c, |c| {
        let done = keyring.rewrap_all(c, &new)?;
        // Before committing: every key opens under the new master key.
        check.check_master_key(c)?;
        audit_cli(
            c,
            "keys.rewrap",
            None,
            json!({
                "data_keys": done.data_keys,
                "index_keys": done.index_keys,
                "already": done.already,
                "old_master": keyring.master_fingerprint(),
                "new_master": new_fingerprint,
            }),
        )?;
        Ok(done)
    })
    .map_err(err)?;
    println!(
        "hospital: {} data key(s) and {} index key(s) rewrapped under master key {new_fingerprint} \
         ({} already were).\nNext: set crypto.master_key_file to {} (HOSPITAL__CRYPTO__MASTER_KEY_FILE) \
         and restart the server; keep the old key file until it has started.",
        done.data_keys,
        done.index_keys,
        done.already,
        display(&a.new_master_key_file)
    );
    Ok(ExitCode::SUCCESS)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

fn reencrypt_all(a: &ReencryptArgs) -> anyhow::Result<ExitCode> {
    let (cfg, db, keyring) = open(&a.common)?;
    let mut c = db.conn().map_err(err)?;
    let tenants = match &a.tenant {
        Some(t) => vec![tenant_of(&cfg, Some(t))?],
        None => reencrypt::tenants(&mut c).map_err(err)?,
    };
    let mut failed = 0;
    for tenant in &tenants {
        failed += run_tenant(&mut c, &keyring, tenant, a.batch_size)?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Run one tenant's re-encryption to completion; returns rows that failed.
fn run_tenant(c: &mut DbConn, keyring: &Keyring, tenant: &str, size: i64) -> anyhow::Result<usize> {
    if !(1..=reencrypt::batch::MAX_BATCH).contains(&size) {
        bail!(
            "--batch-size must be between 1 and {}",
            reencrypt::batch::MAX_BATCH
        );
    }
    let t = worker::run_to_completion(c, keyring, tenant, size, "cli", None).map_err(err)?;
    println!(
        "hospital: tenant {tenant}: {} row(s) re-sealed, {} break-the-glass reason(s), {} \
         appointment text(s), {} clinical note text(s), {} prescription text(s) and {} lab \
         order text(s) re-encrypted in {} batch(es){}",
        t.resealed,
        t.grants,
        t.appointments,
        t.notes,
        t.prescriptions,
        t.labs,
        t.batches,
        if t.failed > 0 {
            format!(
                "; {} row(s) could not be opened and were left (see the log)",
                t.failed
            )
        } else {
            String::new()
        }
    );
    Ok(t.failed)
}

fn reindex(a: &ReindexArgs) -> anyhow::Result<ExitCode> {
    let (cfg, db, keyring) = open(&a.tenant.common)?;
    let tenant = tenant_of(&cfg, a.tenant.tenant.as_deref())?;
    let mut c = db.conn().map_err(err)?;
    let version = write_tx(&mut c, |c| {
        let version = if a.new_index_key {
            keyring.rotate_index_key(c, &tenant)?
        } else {
            keyring.indexer(c, &tenant)?.version()
        };
        if a.new_index_key {
            audit_cli(
                c,
                "keys.rotate_index",
                Some(&tenant),
                json!({ "index_version": version }),
            )?;
        }
        Ok(version)
    })
    .map_err(err)?;
    println!("hospital: tenant {tenant}: re-indexing under index key version {version}");
    let failed = run_tenant(&mut c, &keyring, &tenant, a.batch_size)?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
