//! The background re-encryption of the hospital server, and the same
//! work run to completion from the CLI.

use std::time::Duration;

use common::config::Config;
use common::crypto::Keyring;
use common::db::{write_tx, Db, DbConn};
use common::ApiResult;

use super::batch::{self, needs_work, run_batch};
use super::ReencryptSection;

/// Start the worker if `[reencrypt].enabled` (and the server encrypts).
pub fn start(
    config: &Config,
    db: &Db,
    keyring: Option<&Keyring>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let settings = ReencryptSection::from_config(config)?;
    let Some(keyring) = keyring.cloned() else {
        return Ok(Vec::new());
    };
    if !settings.enabled {
        tracing::info!("background re-encryption disabled ([reencrypt].enabled = false)");
        return Ok(Vec::new());
    }
    Ok(vec![tokio::spawn(run(db.clone(), keyring, settings))])
}

/// Look for work every `idle_secs`; for each tenant with work, run batches
/// through the writer (pausing between them) until it is done. Errors are
/// logged and retried at the next look.
async fn run(db: Db, keyring: Keyring, s: ReencryptSection) {
    let idle = Duration::from_secs(s.idle_secs);
    let pause = Duration::from_millis(s.pause_ms);
    loop {
        tokio::time::sleep(idle).await;
        let tenants = match db.run(batch::tenants).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "re-encryption: cannot list tenants");
                continue;
            }
        };
        for tenant in tenants {
            if let Err(e) = drain_tenant(&db, &keyring, &tenant, s.batch_size, pause).await {
                tracing::warn!(error = %e, tenant = %tenant, "re-encryption batch failed; retrying later");
            }
        }
    }
}

async fn drain_tenant(
    db: &Db,
    keyring: &Keyring,
    tenant: &str,
    size: i64,
    pause: Duration,
) -> ApiResult<()> {
    let (kr, t) = (keyring.clone(), tenant.to_string());
    if !db.run(move |c| needs_work(c, &kr, &t)).await? {
        return Ok(());
    }
    loop {
        let (kr, t) = (keyring.clone(), tenant.to_string());
        let out = db
            .write(move |c| run_batch(c, &kr, &t, size, "system"))
            .await?;
        if out.resealed > 0 {
            tracing::info!(tenant, resealed = out.resealed, "re-encryption batch");
        }
        if out.done {
            return Ok(());
        }
        tokio::time::sleep(pause).await;
    }
}

/// What [`run_to_completion`] did for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Batches run.
    pub batches: usize,
    /// Rows re-sealed.
    pub resealed: usize,
    /// Break-the-glass reasons encrypted again.
    pub grants: usize,
    /// Appointments' sealed texts encrypted again.
    pub appointments: usize,
    /// Clinical notes' and amendments' sealed texts encrypted again.
    pub notes: usize,
    /// Prescriptions' sealed texts encrypted again.
    pub prescriptions: usize,
    /// Lab orders' and amendments' sealed texts encrypted again.
    pub labs: usize,
    /// Message bodies encrypted again.
    pub messages: usize,
    /// File names and legal holds' reasons encrypted again.
    pub files: usize,
    /// Referrals' reasons and decline reasons encrypted again.
    pub referrals: usize,
    /// Admission reasons encrypted again.
    pub admissions: usize,
    /// Rows that could not be opened (left as they are).
    pub failed: usize,
}

/// Run the tenant's re-encryption to completion on a held connection (the
/// CLI, tests), each batch its own write transaction, audited as `actor`.
/// Resumes from the persisted cursor. `max_batches` stops early (as an
/// interruption would).
pub fn run_to_completion(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    size: i64,
    actor: &str,
    max_batches: Option<usize>,
) -> ApiResult<Totals> {
    let mut totals = Totals::default();
    loop {
        if max_batches.is_some_and(|m| totals.batches >= m) {
            return Ok(totals);
        }
        let out = write_tx(conn, |c| run_batch(c, keyring, tenant, size, actor))?;
        totals.batches += 1;
        totals.resealed += out.resealed;
        totals.grants += out.grants;
        totals.appointments += out.appointments;
        totals.notes += out.notes;
        totals.prescriptions += out.prescriptions;
        totals.labs += out.labs;
        totals.messages += out.messages;
        totals.files += out.files;
        totals.referrals += out.referrals;
        totals.admissions += out.admissions;
        totals.failed += out.failed;
        if out.done {
            return Ok(totals);
        }
    }
}
