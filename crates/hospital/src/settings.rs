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
    /// The hospital's IANA time zone (working hours, "a day" of appointments).
    pub time_zone: String,
}

impl ClinicalSection {
    /// The time zone, parsed (checked at start-up, so UTC only if it was).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }
}

impl Default for ClinicalSection {
    fn default() -> Self {
        Self {
            break_glass_minutes: 60,
            time_zone: "UTC".into(),
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
    if clinical.time_zone.parse::<chrono_tz::Tz>().is_err() {
        bail!("clinical.time_zone must be an IANA time zone name such as UTC or Europe/Paris");
    }
    let data = web::Data::new(clinical);
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data.clone());
    }))
}
