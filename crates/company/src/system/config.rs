//! `[system]` on company: where the CA's register of issued certificates
//! is, for the system view's "certificates that expire soon".
//!
//! ```toml
//! [system]
//! issued_json = "certs/issued.json"   # written by `bulkhead certs`
//! ```
//! A missing or unreadable file is shown as "unknown", never an error.

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::web;
use common::config::Config;
use common::server::{AppDataFn, Section};
use serde::Deserialize;

/// The default register, relative to the working directory (where
/// `bulkhead certs` writes it by default).
pub const DEFAULT_ISSUED_JSON: &str = "certs/issued.json";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemSection {
    issued_json: Option<PathBuf>,
}

/// What the system view needs.
#[derive(Debug, Clone)]
pub struct SystemSettings {
    /// The CA's `issued.json`.
    pub issued_json: PathBuf,
}

/// Read `[system]`.
pub fn load(config: &Config) -> anyhow::Result<SystemSettings> {
    let s: SystemSection = config.section("system")?.unwrap_or_default();
    let issued_json = s
        .issued_json
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ISSUED_JSON));
    if issued_json.as_os_str().is_empty() {
        anyhow::bail!("system.issued_json must not be empty");
    }
    Ok(SystemSettings { issued_json })
}

fn load_section(config: &Config) -> anyhow::Result<AppDataFn> {
    let settings = web::Data::new(load(config)?);
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(settings.clone());
    }))
}

/// `[system]`, as the company server's spec lists it.
pub const SECTION: Section = Section {
    name: "system",
    load: load_section,
};
