//! De-identified reporting to company (issue 14, item 1): aggregate counts
//! of one tenant over whole ISO weeks — patients registered and active by
//! age band and sex, appointments and admissions by department, and
//! break-the-glass grants — in the wire type [`contracts::report`], which
//! has no field able to carry a name, an MRN, a date of birth, an exact
//! date or free text. Small counts are suppressed here, before anything
//! leaves the hospital (`[reporting] suppress_below`, default 11, with
//! complementary suppression).
//!
//! A report is computed ([`compute`]) on a schedule (every
//! `[reporting] interval_secs`, by [`worker::start`]) and on demand by the
//! hospital admin (`POST /reports`), stored byte for byte in
//! `deid_reports` as `pending` in one write with its audit row, and
//! shipped after by the plane worker ([`ship`]) under this server's
//! certificate. A hosted server holds one certificate, so it reports only
//! the tenant that certificate names; the admin of another tenant is told
//! so (409) instead of piling up reports nobody could send.

pub mod compute;
pub mod http;
pub mod pages;
pub mod scope;
pub mod ship;
pub mod store;
pub mod worker;

use std::sync::Arc;

use actix_web::web;
use anyhow::bail;
use common::config::Config;
use common::server::{AppDataFn, Section};
use contracts::report::{is_slug, MAX_MODULES, MAX_SUPPRESS_BELOW, MIN_SUPPRESS_BELOW};
use serde::Deserialize;

/// `[reporting]`: what is reported to company, how often, how suppressed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportingSection {
    /// Off: no scheduled report and none on demand.
    pub enabled: bool,
    /// The departments reported by name: lower-case department codes
    /// (`^[a-z0-9_]{1,32}$`, at most 64). Every other department is
    /// reported as `other`.
    pub modules: Vec<String>,
    /// Counts from 1 to `suppress_below - 1` are sent as suppressed
    /// (2 to 1000; default 11).
    pub suppress_below: u32,
    /// How often the scheduled report is computed (1 s to 31 days;
    /// default a day). The first one comes one interval after start.
    pub interval_secs: u64,
    /// How many ISO weeks a report covers, the current one included
    /// (1 to 53; default 4).
    pub weeks: u32,
}

impl Default for ReportingSection {
    fn default() -> Self {
        Self {
            enabled: true,
            modules: crate::departments::SEEDED
                .iter()
                .map(|(code, _, _)| code.to_ascii_lowercase())
                .collect(),
            suppress_below: 11,
            interval_secs: 86_400,
            weeks: 4,
        }
    }
}

/// `[reporting]` as handlers see it, with the tenants this server's
/// certificates speak for (none: the plane is off).
#[derive(Debug, Clone)]
pub struct Reporting {
    /// The section.
    pub section: ReportingSection,
    /// The tenants of the plane certificates, if the plane is on.
    pub sender_tenants: Vec<String>,
}

/// `[reporting]`, as the hospital's spec lists it.
pub const SECTION: Section = Section {
    name: "reporting",
    load,
};

/// Read and check `[reporting]` (absent: the defaults).
pub fn section(config: &Config) -> anyhow::Result<ReportingSection> {
    let s: ReportingSection = config.section("reporting")?.unwrap_or_default();
    if !(MIN_SUPPRESS_BELOW..=MAX_SUPPRESS_BELOW).contains(&s.suppress_below) {
        bail!("reporting.suppress_below must be between {MIN_SUPPRESS_BELOW} and {MAX_SUPPRESS_BELOW}");
    }
    if !(1..=crate::reporting::compute::MAX_WEEKS).contains(&s.weeks) {
        bail!("reporting.weeks must be between 1 and 53");
    }
    if !(1..=31 * 86_400).contains(&s.interval_secs) {
        bail!("reporting.interval_secs must be between 1 and 2678400");
    }
    if s.modules.len() > MAX_MODULES - 1 {
        bail!(
            "reporting.modules names at most {} departments",
            MAX_MODULES - 1
        );
    }
    for m in &s.modules {
        if !is_slug(m) || m == "other" {
            bail!("reporting.modules: {m:?} is not a lower-case department code (a-z, 0-9, _; 1 to 32; not `other`)");
        }
    }
    Ok(s)
}

/// The tenants this server's plane certificates name: its own, and on a
/// hosted server each of `plane.tenant_certs_dir` (empty when the plane is
/// off or a certificate cannot be read: the plane's own start then says
/// why).
pub fn sender_tenants(config: &Config) -> Vec<String> {
    if !config.plane.enabled {
        return Vec::new();
    }
    let own = common::mtls::tls::load_certs(&config.plane.cert)
        .ok()
        .and_then(|certs| common::mtls::tls::identity_of(certs.first()?).ok())
        .and_then(|identity| identity.tenant().map(str::to_string));
    let further = common::plane::tenant_certificates(&config.plane).unwrap_or_default();
    own.into_iter()
        .chain(
            further
                .iter()
                .filter_map(|(identity, _, _)| identity.tenant().map(str::to_string)),
        )
        .collect()
}

fn load(config: &Config) -> anyhow::Result<AppDataFn> {
    let data = web::Data::new(Reporting {
        section: section(config)?,
        sender_tenants: sender_tenants(config),
    });
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data.clone());
    }))
}
