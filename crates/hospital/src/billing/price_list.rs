//! The price list, `[billing]`: the currency and the price, in minor units
//! of that currency (integers, never floats), of every billable item.
//!
//! ```toml
//! [billing]
//! currency = "EUR"
//! bed_day = 30000            # per bed day of an admission (billed at discharge)
//! [billing.appointments]     # per appointment type
//! consultation = 6000
//! follow_up = 4000
//! procedure = 15000
//! telehealth = 3500
//! [billing.lab_tests]
//! default = 2500             # a test whose code is not listed below
//! [billing.lab_tests.tests]  # per test code (letters, digits, - _ .)
//! CBC = 1800
//! [billing.dispensing]
//! per = "unit"               # "unit": per dispensed unit; "dispense": per dispense
//! price = 20
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::web;
use anyhow::bail;
use common::config::Config;
use common::server::{AppDataFn, Section};
use serde::{Deserialize, Serialize};

use crate::appointments::model::AppointmentType;

/// The most any one price may be (minor units): ten million major units.
pub const MAX_PRICE: i64 = 1_000_000_000;

/// `[billing]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingSection {
    /// ISO 4217 code, three capital letters.
    pub currency: String,
    /// Per appointment type.
    pub appointments: AppointmentPrices,
    /// Per lab test.
    pub lab_tests: LabTestPrices,
    /// Per dispense or dispensed unit.
    pub dispensing: DispensingPrice,
    /// Per bed day of an admission (billed once it is discharged).
    pub bed_day: i64,
}

/// The price of each appointment type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppointmentPrices {
    /// A first consultation.
    pub consultation: i64,
    /// A follow-up.
    pub follow_up: i64,
    /// A procedure.
    pub procedure: i64,
    /// A remote consultation.
    pub telehealth: i64,
}

/// Lab test prices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabTestPrices {
    /// A test whose code is not listed.
    pub default: i64,
    /// Per test code (matched ignoring case).
    pub tests: BTreeMap<String, i64>,
}

/// What a dispense is charged per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DispensePer {
    /// Each unit dispensed (quantity = units).
    Unit,
    /// Each dispense, whatever its quantity.
    Dispense,
}

/// The dispensing price.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispensingPrice {
    /// Per unit or per dispense.
    pub per: DispensePer,
    /// The price of one.
    pub price: i64,
}

impl Default for BillingSection {
    fn default() -> Self {
        Self {
            currency: "EUR".into(),
            appointments: AppointmentPrices::default(),
            lab_tests: LabTestPrices::default(),
            dispensing: DispensingPrice::default(),
            bed_day: 30_000,
        }
    }
}

impl Default for AppointmentPrices {
    fn default() -> Self {
        Self {
            consultation: 6_000,
            follow_up: 4_000,
            procedure: 15_000,
            telehealth: 3_500,
        }
    }
}

impl Default for LabTestPrices {
    fn default() -> Self {
        Self {
            default: 2_500,
            tests: BTreeMap::from([("CBC".to_string(), 1_800), ("K".to_string(), 900)]),
        }
    }
}

impl Default for DispensingPrice {
    fn default() -> Self {
        Self {
            per: DispensePer::Unit,
            price: 20,
        }
    }
}

/// One priced item: what a line of an invoice says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PriceItem {
    /// The item's code (`appointment.consultation`, `lab_test.CBC`,
    /// `lab_test` for an unlisted test, `dispense`, `admission.bed_day`).
    pub item_code: String,
    /// What an invoice line says ("Consultation", "Lab test CBC", "Dispensing").
    pub description: String,
    /// What one unit is (`appointment`, `test`, `unit`, `dispense`, `day`).
    pub unit: String,
    /// The price of one, in minor units.
    pub unit_price: i64,
}

/// The price list as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BillingPriceList {
    /// ISO 4217 code.
    pub currency: String,
    /// Every item.
    pub items: Vec<PriceItem>,
}

fn item(code: &str, description: &str, unit: &str, unit_price: i64) -> PriceItem {
    PriceItem {
        item_code: code.into(),
        description: description.into(),
        unit: unit.into(),
        unit_price,
    }
}

impl BillingSection {
    /// The item of an appointment of type `kind`.
    pub fn appointment(&self, kind: AppointmentType) -> PriceItem {
        let p = &self.appointments;
        match kind {
            AppointmentType::Consultation => item(
                "appointment.consultation",
                "Consultation",
                "appointment",
                p.consultation,
            ),
            AppointmentType::FollowUp => item(
                "appointment.follow_up",
                "Follow-up",
                "appointment",
                p.follow_up,
            ),
            AppointmentType::Procedure => item(
                "appointment.procedure",
                "Procedure",
                "appointment",
                p.procedure,
            ),
            AppointmentType::Telehealth => item(
                "appointment.telehealth",
                "Telehealth consultation",
                "appointment",
                p.telehealth,
            ),
        }
    }

    /// The item of a lab test of code `code`: its own if the price list
    /// names it (matched ignoring case, shown in capitals: configuration
    /// keys from the environment arrive in lower case), else the default (whose code and
    /// description do not repeat the test's code: a line carries only the
    /// price list's vocabulary).
    pub fn lab_test(&self, code: &str) -> PriceItem {
        match self
            .lab_tests
            .tests
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(code))
        {
            Some((c, price)) => {
                let c = c.to_ascii_uppercase();
                item(
                    &format!("lab_test.{c}"),
                    &format!("Lab test {c}"),
                    "test",
                    *price,
                )
            }
            None => item("lab_test", "Lab test", "test", self.lab_tests.default),
        }
    }

    /// The item of a bed day of an admission.
    pub fn bed_day(&self) -> PriceItem {
        item("admission.bed_day", "Bed day", "day", self.bed_day)
    }

    /// The item of a dispense, and the quantity charged for `units` dispensed.
    pub fn dispense(&self, units: i64) -> (PriceItem, i64) {
        match self.dispensing.per {
            DispensePer::Unit => (
                item("dispense", "Dispensing", "unit", self.dispensing.price),
                units,
            ),
            DispensePer::Dispense => (
                item("dispense", "Dispensing", "dispense", self.dispensing.price),
                1,
            ),
        }
    }

    /// The whole list.
    pub fn view(&self) -> BillingPriceList {
        let mut items: Vec<PriceItem> = [
            AppointmentType::Consultation,
            AppointmentType::FollowUp,
            AppointmentType::Procedure,
            AppointmentType::Telehealth,
        ]
        .into_iter()
        .map(|k| self.appointment(k))
        .collect();
        items.extend(self.lab_tests.tests.keys().map(|c| self.lab_test(c)));
        items.push(item("lab_test", "Lab test", "test", self.lab_tests.default));
        items.push(self.dispense(1).0);
        items.push(self.bed_day());
        BillingPriceList {
            currency: self.currency.clone(),
            items,
        }
    }

    /// Check the section (at start-up).
    pub fn check(&self) -> anyhow::Result<()> {
        if self.currency.len() != 3 || !self.currency.chars().all(|c| c.is_ascii_uppercase()) {
            bail!(
                "billing.currency must be an ISO 4217 code of three capital letters, such as EUR"
            );
        }
        let a = &self.appointments;
        let mut prices = vec![
            (
                "billing.appointments.consultation".to_string(),
                a.consultation,
            ),
            ("billing.appointments.follow_up".to_string(), a.follow_up),
            ("billing.appointments.procedure".to_string(), a.procedure),
            ("billing.appointments.telehealth".to_string(), a.telehealth),
            (
                "billing.lab_tests.default".to_string(),
                self.lab_tests.default,
            ),
            (
                "billing.dispensing.price".to_string(),
                self.dispensing.price,
            ),
            ("billing.bed_day".to_string(), self.bed_day),
        ];
        for (code, price) in &self.lab_tests.tests {
            if crate::labs::model::check_code("code", code).ok().as_deref() != Some(code.as_str()) {
                bail!("billing.lab_tests.tests: `{code}` is not a test code (1 to 32 letters, digits, '-', '_' or '.')");
            }
            let twice = self
                .lab_tests
                .tests
                .keys()
                .filter(|c| c.eq_ignore_ascii_case(code))
                .count();
            if twice > 1 {
                bail!(
                    "billing.lab_tests.tests: `{code}` is listed twice (codes match ignoring case)"
                );
            }
            prices.push((format!("billing.lab_tests.tests.{code}"), *price));
        }
        for (name, price) in prices {
            if !(0..=MAX_PRICE).contains(&price) {
                bail!("{name} must be a price in minor units between 0 and {MAX_PRICE}");
            }
        }
        Ok(())
    }
}

/// `[billing]`, as the hospital's spec lists it.
pub const SECTION: Section = Section {
    name: "billing",
    load,
};

/// Read and check `[billing]` (absent: the defaults); handlers extract it
/// as `web::Data<BillingSection>`.
fn load(config: &Config) -> anyhow::Result<AppDataFn> {
    let billing: BillingSection = config.section("billing")?.unwrap_or_default();
    billing.check()?;
    let data = web::Data::new(billing);
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data.clone());
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_from_the_list_and_checks_refuse_bad_values() {
        let b = BillingSection::default();
        assert!(b.check().is_ok());
        assert_eq!(b.lab_test("cbc").item_code, "lab_test.CBC");
        assert_eq!(b.lab_test("cbc").description, "Lab test CBC");
        assert_eq!(b.lab_test("XYZ").item_code, "lab_test");
        assert_eq!(b.dispense(7).1, 7);
        let mut bad = b.clone();
        bad.currency = "eur".into();
        assert!(bad.check().is_err());
        let mut bad = b.clone();
        bad.bed_day = -1;
        assert!(bad.check().is_err());
        let mut bad = b.clone();
        bad.lab_tests.tests.insert("cbc".into(), 1);
        assert!(bad.check().is_err());
        let mut bad = b;
        bad.lab_tests.tests.insert("bad code".into(), 1);
        assert!(bad.check().is_err());
    }
}
