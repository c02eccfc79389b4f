//! `[releases]` on company: where verified artifacts are kept, company's
//! approval key, and the mTLS client that reaches dev.
//!
//! ```toml
//! [releases]
//! root = "data/company/releases"      # default: beside a SQLite database
//! approval_key_file = "secrets/company-approval.key"  # PKCS#8 Ed25519
//! ```
//! The approval key is made with `bulkhead release keygen` (its
//! `signing.key`); its public half (`GET /release-approval-key`) is what
//! hospitals pin. In demo mode without one, a key is generated and kept
//! beside the SQLite database. Without a key, approvals are refused (503).

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::web;
use anyhow::{bail, Context};
use common::config::Config;
use common::mtls::client::PeerClient;
use common::mtls::ServiceIdentity;
use common::server::{AppDataFn, Section};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleasesSection {
    root: Option<PathBuf>,
    approval_key_file: Option<PathBuf>,
}

/// What the release handlers need.
#[derive(Clone)]
pub struct Desk {
    /// Verified artifacts: `<root>/sha256/<hex>`; partial downloads in `<root>/tmp`.
    pub root: PathBuf,
    /// Company's approval key (PKCS#8 Ed25519), if configured.
    pub approval_key: Option<Arc<Vec<u8>>>,
    /// Its public half (base64), if configured.
    pub approval_public_key: Option<String>,
    /// The mTLS client for dev (absent when the plane is off).
    pub dev: Option<PeerClient>,
}

impl Desk {
    /// Where a verified artifact is kept.
    pub fn artifact_path(&self, sha256: &str) -> PathBuf {
        self.root.join("sha256").join(sha256)
    }

    /// A fresh partial-download path.
    pub fn temp_path(&self) -> PathBuf {
        self.root
            .join("tmp")
            .join(format!("{}.part", uuid::Uuid::new_v4()))
    }
}

fn approval_key(config: &Config, file: Option<PathBuf>) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(path) = file {
        let key = std::fs::read(&path)
            .with_context(|| format!("releases.approval_key_file: reading {}", path.display()))?;
        contracts::release::public_key_of(&key)
            .with_context(|| format!("releases.approval_key_file {}", path.display()))?;
        return Ok(Some(key));
    }
    if !config.demo {
        return Ok(None);
    }
    // Demo: generated once and kept beside the database (or in memory).
    let Some(path) = config.sqlite_data_dir().map(|d| d.join("approval.key")) else {
        return Ok(Some(contracts::release::generate()?.0));
    };
    if let Ok(key) = std::fs::read(&path) {
        return Ok(Some(key));
    }
    let (key, _) = contracts::release::generate()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    use common::fsutil::{write_atomic, Access, Existing};
    if let Err(e) = write_atomic(&path, &key, Access::Private, Existing::Keep) {
        // Another server of the demo wrote it first: use that one.
        return match std::fs::read(&path) {
            Ok(theirs) => Ok(Some(theirs)),
            Err(_) => Err(e.context(format!("writing the demo approval key {}", path.display()))),
        };
    }
    Ok(Some(key))
}

/// Read `[releases]`, create its folders, load the key and the dev client.
pub fn load(config: &Config) -> anyhow::Result<Desk> {
    let s: ReleasesSection = config.section("releases")?.unwrap_or_default();
    let root = s
        .root
        .unwrap_or_else(|| config.data_dir("company").join("releases"));
    for sub in ["sha256", "tmp"] {
        std::fs::create_dir_all(root.join(sub))
            .with_context(|| format!("releases.root: creating {}", root.join(sub).display()))?;
    }
    // A fetch a crash interrupted leaves its partial file: gone after a day.
    common::fsutil::sweep_stale_parts(&root.join("tmp"), common::fsutil::STALE_PART_AGE);
    let key = approval_key(config, s.approval_key_file)?;
    let approval_public_key = match &key {
        Some(k) => Some(contracts::release::public_key_of(k)?),
        None => None,
    };
    let dev = if config.plane.enabled {
        let trust = common::mtls::Trust::load(&config.plane, None)?;
        Some(PeerClient::new(&config.plane, &trust, ServiceIdentity::Dev, None)?.with_attempts(1))
    } else {
        None
    };
    if root.as_os_str().is_empty() {
        bail!("releases.root must not be empty");
    }
    Ok(Desk {
        root,
        approval_key: key.map(Arc::new),
        approval_public_key,
        dev,
    })
}

fn load_section(config: &Config) -> anyhow::Result<AppDataFn> {
    let desk = web::Data::new(load(config)?);
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(desk.clone());
    }))
}

/// `[releases]`, as the company server's spec lists it.
pub const SECTION: Section = Section {
    name: "releases",
    load: load_section,
};
