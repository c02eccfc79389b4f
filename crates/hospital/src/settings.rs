//! The hospital's own configuration section, `[clinical]`. The kernel does
//! not know it: the hospital's spec claims it, so the other servers refuse
//! it as an unknown section.

use std::sync::Arc;

use actix_web::web;
use anyhow::bail;
use common::config::Config;
use common::server::{AppDataFn, Section};
use serde::Deserialize;

/// Clinical settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClinicalSection {
    /// How long a break-the-glass grant lasts (1 to 1440 minutes).
    pub break_glass_minutes: i64,
}

impl Default for ClinicalSection {
    fn default() -> Self {
        Self {
            break_glass_minutes: 60,
        }
    }
}

/// `[clinical]`, as the hospital's spec lists it.
pub const CLINICAL: Section = Section {
    name: "clinical",
    load: load_clinical,
};

/// Read and check `[clinical]` (absent: the defaults); handlers extract it
/// as `web::Data<ClinicalSection>`.
fn load_clinical(config: &Config) -> anyhow::Result<AppDataFn> {
    let clinical: ClinicalSection = config.section("clinical")?.unwrap_or_default();
    if !(1..=24 * 60).contains(&clinical.break_glass_minutes) {
        bail!("clinical.break_glass_minutes must be between 1 and 1440");
    }
    let data = web::Data::new(clinical);
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data.clone());
    }))
}
