//! Moving patient rows off old keys after a rotation: every row whose
//! sealed fields name a data key other than the tenant's active one, whose
//! blind indexes are of an older index key version, or that predates row
//! versions, is sealed again as a change (version + 1, every field
//! re-sealed under the active key, every index recomputed under the current
//! index key). Its `updated_at`/`updated_by` stay: nothing a person wrote
//! changed. Break-the-glass reasons (immutable, bound to their grant only)
//! are encrypted again under the active key at the end of each pass.
//!
//! Work goes in batches ([`batch::run_batch`]), each one write transaction
//! that also moves the tenant's persisted cursor (`reencrypt_progress`) and
//! appends one audit row with counts only, so an interrupted run resumes
//! where it stopped. The server runs it in the background through the
//! group-committing writer ([`worker`]), paced by `[reencrypt]`; `bulkhead
//! keys reencrypt` runs it to completion from the CLI.

pub mod batch;
pub mod worker;

use std::sync::Arc;

use anyhow::bail;
use common::config::Config;
use common::server::{AppDataFn, Section};
use serde::Deserialize;

pub use batch::{run_batch, tenants, Outcome, Progress};

/// `[reencrypt]`: the background re-encryption of the hospital server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReencryptSection {
    /// Run it in the server (the CLI's `keys reencrypt` works either way).
    pub enabled: bool,
    /// Rows re-sealed per write transaction (1 to 1000): larger batches
    /// finish sooner but hold the writer longer.
    pub batch_size: i64,
    /// Pause between batches, so request writes get the writer (0 to 60000).
    pub pause_ms: u64,
    /// How often to look for work when there is none (1 to 86400); the
    /// first look is this long after start-up.
    pub idle_secs: u64,
}

impl Default for ReencryptSection {
    fn default() -> Self {
        Self {
            enabled: true,
            batch_size: 100,
            pause_ms: 100,
            idle_secs: 30,
        }
    }
}

impl ReencryptSection {
    /// `[reencrypt]` from the configuration (absent: the defaults), checked.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let s: Self = config.section("reencrypt")?.unwrap_or_default();
        if !(1..=batch::MAX_BATCH).contains(&s.batch_size) {
            bail!(
                "reencrypt.batch_size must be between 1 and {}",
                batch::MAX_BATCH
            );
        }
        if s.pause_ms > 60_000 {
            bail!("reencrypt.pause_ms must be at most 60000");
        }
        if !(1..=86_400).contains(&s.idle_secs) {
            bail!("reencrypt.idle_secs must be between 1 and 86400");
        }
        Ok(s)
    }
}

/// `[reencrypt]`, as the hospital's spec lists it (checked at start-up).
pub const SECTION: Section = Section {
    name: "reencrypt",
    load: load_section,
};

fn load_section(config: &Config) -> anyhow::Result<AppDataFn> {
    ReencryptSection::from_config(config)?;
    Ok(Arc::new(|_cfg: &mut actix_web::web::ServiceConfig| {}))
}
