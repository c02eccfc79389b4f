//! `[releases]`: where artifacts are kept and how large one may be.

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::web;
use anyhow::{bail, Context};
use common::config::Config;
use common::server::{AppDataFn, Section};
use serde::Deserialize;

/// Largest artifact by default (MiB).
pub const DEFAULT_MAX_MB: u64 = 512;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleasesSection {
    /// Largest artifact, in MiB (default 512).
    max_mb: Option<u64>,
    /// Directory of the artifacts (default: beside a SQLite database,
    /// `data/dev.db` → `data/dev/releases`; else `data/dev/releases`).
    root: Option<PathBuf>,
}

/// The resolved section, app data of the release handlers.
#[derive(Debug, Clone)]
pub struct Releases {
    /// Largest artifact, in bytes.
    pub max_bytes: u64,
    /// Artifacts: `<root>/sha256/<hex>`; uploads in progress: `<root>/tmp/`.
    pub root: PathBuf,
}

impl Releases {
    /// Where the artifact of `sha256` is kept.
    pub fn artifact_path(&self, sha256: &str) -> PathBuf {
        self.root.join("sha256").join(sha256)
    }

    /// A fresh file name for an upload in progress.
    pub fn temp_path(&self) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{}.part", uuid::Uuid::new_v4()))
    }
}

/// Read `[releases]` (absent: the defaults) and create its directories.
pub fn load(config: &Config) -> anyhow::Result<Releases> {
    let s: ReleasesSection = config.section("releases")?.unwrap_or_default();
    let max_mb = s.max_mb.unwrap_or(DEFAULT_MAX_MB);
    if !(1..=1024 * 1024).contains(&max_mb) {
        bail!("releases.max_mb must be between 1 and 1048576");
    }
    let root = s
        .root
        .unwrap_or_else(|| config.data_dir("dev").join("releases"));
    for sub in ["sha256", "tmp"] {
        std::fs::create_dir_all(root.join(sub))
            .with_context(|| format!("releases.root: creating {}", root.join(sub).display()))?;
    }
    // An upload a crash interrupted leaves its partial file: gone after a day.
    common::fsutil::sweep_stale_parts(&root.join("tmp"), common::fsutil::STALE_PART_AGE);
    Ok(Releases {
        max_bytes: max_mb * 1024 * 1024,
        root,
    })
}

fn load_section(config: &Config) -> anyhow::Result<AppDataFn> {
    let releases = web::Data::new(load(config)?);
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(releases.clone());
    }))
}

/// `[releases]`, as the dev server's spec lists it.
pub const SECTION: Section = Section {
    name: "releases",
    load: load_section,
};
