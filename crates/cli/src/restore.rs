//! `bulkhead restore --service hospital --from-owner`: rebuild an empty
//! hospital database from the sealed batches owner keeps, with the
//! tenant's backup key; then walk the restored audit chain and compare it
//! with the anchors company holds. See docs/operations.md, "The online copy".

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use common::config::Config;
use common::mtls::client::PeerClient;
use common::mtls::ServiceIdentity;
use common::Service;
use contracts::backup::{BackupBatch, BackupBatchInfo};
use contracts::paths;
use hospital::backup::restore::{self, BatchSource};

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// Only `hospital` has an online copy.
    #[arg(long)]
    service: Service,
    /// Restore from the batches owner keeps (the only source).
    #[arg(long)]
    from_owner: bool,
    /// The hospital's configuration: its database (new and empty), its
    /// plane certificate (the tenant's) and, unless --backup-key is given,
    /// `[backup] key_file`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The tenant's backup key file (64 hex digits, or the recovery code).
    #[arg(long)]
    backup_key: Option<PathBuf>,
}

/// Fetches batches from owner over mTLS with the hospital's certificate.
struct Owner {
    client: PeerClient,
    rt: tokio::runtime::Runtime,
}

impl BatchSource for Owner {
    fn list(&mut self, after: i64, limit: i64) -> anyhow::Result<Vec<BackupBatchInfo>> {
        self.rt
            .block_on(self.client.get(
                paths::BACKUPS,
                &[("after", after.to_string()), ("limit", limit.to_string())],
            ))
            .map_err(|e| anyhow::anyhow!("listing owner's batches: {e}"))
    }

    fn get(&mut self, batch_no: i64) -> anyhow::Result<BackupBatch> {
        let path = paths::BACKUP.replace("{batch_no}", &batch_no.to_string());
        self.rt
            .block_on(self.client.get(&path, &[]))
            .map_err(|e| anyhow::anyhow!("fetching batch {batch_no} from owner: {e}"))
    }
}

pub fn run(args: RestoreArgs) -> anyhow::Result<ExitCode> {
    if args.service != Service::Hospital {
        bail!("only the hospital keeps an online copy with owner (--service hospital)");
    }
    if !args.from_owner {
        bail!("say where from: --from-owner (the batches owner keeps)");
    }
    let cfg = Config::load(Service::Hospital, args.config.as_deref())?;
    if !cfg.plane.enabled {
        bail!("[plane] must be enabled: the batches come from owner over the internal plane");
    }
    let section = hospital::backup::section(&cfg)?;
    let key_file = args
        .backup_key
        .or(section.key_file)
        .context("give the tenant's backup key: --backup-key FILE or [backup] key_file")?;
    let key = hospital::backup::read_key(&key_file)?;
    let trust = common::mtls::Trust::load(&cfg.plane, None)?;
    let identity = common::mtls::tls::load_certs(&cfg.plane.cert)
        .ok()
        .and_then(|certs| common::mtls::tls::identity_of(certs.first()?).ok())
        .context("reading the plane certificate")?;
    let tenant = identity
        .tenant()
        .context("the plane certificate is not a hospital's (it names no tenant)")?
        .to_string();
    let client = PeerClient::new(&cfg.plane, &trust, ServiceIdentity::Owner, None)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut owner = Owner { client, rt };

    let db = crate::admin::open(Service::Hospital, &cfg, false)?;
    let mut conn = db.conn().map_err(|e| anyhow::anyhow!("{e}"))?;
    restore::ensure_empty(&mut conn)?;
    db.migrate_schema()?;
    let started = Instant::now();
    let mut progress = |b: &BackupBatch| {
        if b.batch_no == 1 || b.batch_no % 20 == 0 {
            println!(
                "batch {}: {} change(s) up to #{}",
                b.batch_no, b.rows, b.last_seq
            );
        }
    };
    let done = restore::run(&mut conn, &mut owner, &key, &tenant, &mut progress).context(
        "restore stopped; the database is incomplete: drop it and run the restore again",
    )?;
    println!(
        "hospital: restored {} change(s) from {} batch(es) of tenant {tenant} in {:.1} s",
        done.changes,
        done.batches,
        started.elapsed().as_secs_f64()
    );
    drop(conn);
    // The chain itself, then company's anchors: the copy must reach the
    // newest anchored row (owner withholding the newest batches shows here).
    let verified = match crate::admin::audit_verify(
        Service::Hospital,
        args.config.as_deref(),
        Some(None),
    ) {
        Ok(code) => code,
        Err(e) => {
            println!(
                "hospital: restored, but not verified against company: {e:#}\n\
                 run `bulkhead audit verify --service hospital --against-company` before starting it"
            );
            return Ok(ExitCode::from(1));
        }
    };
    if verified != ExitCode::SUCCESS {
        println!("hospital: the restored database does NOT match; do not start it");
        return Ok(ExitCode::from(1));
    }
    println!(
        "next: hospital-server --config {}",
        args.config
            .as_deref()
            .map_or_else(|| "<config>".to_string(), |p| p.display().to_string())
    );
    Ok(ExitCode::SUCCESS)
}
