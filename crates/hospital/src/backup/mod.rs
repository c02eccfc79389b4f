//! The online copy (issue 12, item 3): every row this hospital writes is
//! recorded in `change_log` by database triggers inside the writing
//! transaction ([`common::db::changelog`]); [`ship`] seals the log into
//! batches under the tenant's backup key ([`contracts::backup`]) and sends
//! them to owner over mTLS; [`restore`] rebuilds an empty database from
//! owner's batches, checks the audit chain, and compares it with company's
//! anchors (`bulkhead restore --service hospital --from-owner`).
//!
//! Owner never holds the key and sees only batch headers. The key is a
//! file the hospital reads (`[backup] key_file`, 64 hex digits), written
//! by `bulkhead register-tenant` with a recovery code printed once for the
//! admin to keep offline (docs/operations.md, "The online copy").
//!
//! One database, one chain: a hosted server ships its whole database under
//! its own certificate's tenant, as it anchors its one audit chain there.

pub mod restore;
pub mod ship;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use common::config::Config;
use common::server::{AppDataFn, Section};
use contracts::backup::{BackupKey, MAX_ROWS};
use serde::Deserialize;

/// `[backup]`: the online copy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSection {
    /// The tenant's backup key (64 hex digits). Without it nothing is
    /// shipped: changes wait in the log, and owner sees the lag grow.
    pub key_file: Option<PathBuf>,
    /// Most changes per batch (1 to 100,000; default 5,000).
    pub batch_rows: i64,
    /// How often the log is shipped (1 s to a day; default 60 s). Owner's
    /// "sync now" ships at once.
    pub interval_secs: u64,
}

impl Default for BackupSection {
    fn default() -> Self {
        Self {
            key_file: None,
            batch_rows: 5_000,
            interval_secs: 60,
        }
    }
}

/// `[backup]`, as the hospital's spec lists it.
pub const SECTION: Section = Section {
    name: "backup",
    load,
};

/// Read and check `[backup]` (absent: the defaults).
pub fn section(config: &Config) -> anyhow::Result<BackupSection> {
    let s: BackupSection = config.section("backup")?.unwrap_or_default();
    if !(1..=MAX_ROWS).contains(&s.batch_rows) {
        bail!("backup.batch_rows must be between 1 and {MAX_ROWS}");
    }
    if !(1..=86_400).contains(&s.interval_secs) {
        bail!("backup.interval_secs must be between 1 and 86400");
    }
    if let Some(f) = &s.key_file {
        read_key(f)?;
    }
    Ok(s)
}

/// Read a backup key file.
pub fn read_key(file: &std::path::Path) -> anyhow::Result<BackupKey> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the backup key {}", file.display()))?;
    BackupKey::parse(&text).with_context(|| format!("the backup key {}", file.display()))
}

/// Write a new key file readable by its owner only; refuses to overwrite.
pub fn write_key(file: &std::path::Path, key: &BackupKey) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(file)
        .with_context(|| format!("creating the backup key {}", file.display()))?;
    writeln!(f, "{}", key.to_hex())?;
    f.sync_all()?;
    Ok(())
}

fn load(config: &Config) -> anyhow::Result<AppDataFn> {
    section(config)?;
    Ok(Arc::new(|_cfg| {}))
}
