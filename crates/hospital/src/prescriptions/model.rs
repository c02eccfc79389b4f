//! The prescription's types and the validation of what clients send.

use chrono::{DateTime, Utc};
use common::ApiResult;
use serde::{Deserialize, Serialize};

use crate::appointments::model::check_text;

/// Where a prescription stands: `pending → partially_dispensed →
/// dispensed`; `pending | partially_dispensed → rejected`.
#[derive(
    utoipa::ToSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PrescriptionStatus {
    /// Nothing dispensed yet.
    Pending,
    /// Some dispensed, some remaining.
    PartiallyDispensed,
    /// All dispensed.
    Dispensed,
    /// Refused by the pharmacist (with a reason).
    Rejected,
}

impl PrescriptionStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the pharmacist may still dispense or reject it.
    pub fn open(self) -> bool {
        matches!(self, Self::Pending | Self::PartiallyDispensed)
    }
}

/// How the medication is taken.
#[derive(
    utoipa::ToSchema,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Route {
    /// By mouth.
    Oral,
    /// Under the tongue.
    Sublingual,
    /// Intravenous.
    Intravenous,
    /// Intramuscular.
    Intramuscular,
    /// Subcutaneous.
    Subcutaneous,
    /// On the skin.
    Topical,
    /// Breathed in.
    Inhaled,
    /// Rectal.
    Rectal,
    /// Eye, ear or nose drops.
    Drops,
}

/// What is prescribed (sealed as one JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    /// The medication (name and strength).
    pub medication: String,
    /// The dose per intake.
    pub dose: String,
    /// How it is taken.
    pub route: Route,
    /// How often.
    pub frequency: String,
    /// For how long.
    pub duration: String,
    /// Notes for the pharmacist and patient.
    pub notes: Option<String>,
}

/// The largest quantity of one fill.
pub const MAX_QUANTITY: i64 = 10_000;
/// The most refills.
pub const MAX_REFILLS: i64 = 12;

/// A prescription request's free texts, checked.
pub fn details(
    medication: &str,
    dose: &str,
    route: Route,
    frequency: &str,
    duration: &str,
    notes: Option<&str>,
) -> ApiResult<Details> {
    Ok(Details {
        medication: check_text("medication", medication, 2, 200)?,
        dose: check_text("dose", dose, 1, 100)?,
        route,
        frequency: check_text("frequency", frequency, 1, 100)?,
        duration: check_text("duration", duration, 1, 100)?,
        notes: match notes {
            Some(n) if !n.trim().is_empty() => Some(check_text("notes", n, 1, 1000)?),
            _ => None,
        },
    })
}

/// The recorded allergies `medication` matches: an allergy named in the
/// medication's text or the medication's first word in the allergy's
/// (case-insensitive, whole words of three letters or more).
pub fn matching_allergies(medication: &str, allergies: &[String]) -> Vec<String> {
    let words = |s: &str| -> Vec<String> {
        s.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 3)
            .map(str::to_string)
            .collect()
    };
    let med = words(medication);
    allergies
        .iter()
        .filter(|a| {
            let aw = words(a);
            !aw.is_empty()
                && (aw.iter().all(|w| med.contains(w))
                    || med.first().is_some_and(|m| aw.contains(m)))
        })
        .cloned()
        .collect()
}

/// One dispense.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct DispenseView {
    /// UUID.
    pub id: String,
    /// Who dispensed.
    pub pharmacist_id: String,
    /// How many.
    pub quantity: i64,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A prescription as a caller sees it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct PrescriptionView {
    /// UUID.
    pub id: String,
    /// The patient.
    pub patient_id: String,
    /// The prescribing doctor.
    pub prescriber_id: String,
    /// The medication.
    pub medication: String,
    /// Dose per intake.
    pub dose: String,
    /// How it is taken.
    pub route: Route,
    /// How often.
    pub frequency: String,
    /// For how long.
    pub duration: String,
    /// Notes.
    pub notes: Option<String>,
    /// Units per fill.
    pub quantity: i64,
    /// Refills after the first fill.
    pub refills: i64,
    /// quantity × (1 + refills): what may ever be dispensed.
    pub total_quantity: i64,
    /// Dispensed so far.
    pub dispensed_quantity: i64,
    /// Still to dispense (0 once rejected).
    pub remaining_quantity: i64,
    /// Where it stands.
    pub status: PrescriptionStatus,
    /// The prescriber acknowledged an allergy warning.
    pub allergy_acknowledged: bool,
    /// Why the pharmacist rejected it.
    pub reject_reason: Option<String>,
    /// Each dispense, oldest first.
    pub dispenses: Vec<DispenseView>,
    /// Prescribed at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}
