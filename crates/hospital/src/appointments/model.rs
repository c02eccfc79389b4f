//! The appointment's types and the validation of what clients send.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};

/// Where an appointment stands. `booked → checked_in → completed`;
/// `booked → cancelled | no_show`.
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
pub enum AppointmentStatus {
    /// Booked, not yet arrived.
    Booked,
    /// The patient has arrived.
    CheckedIn,
    /// Seen by the doctor.
    Completed,
    /// Cancelled (with a reason).
    Cancelled,
    /// The patient did not come.
    NoShow,
}

impl AppointmentStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the appointment still holds its time (its granules).
    pub fn holds_time(self) -> bool {
        matches!(self, Self::Booked | Self::CheckedIn | Self::Completed)
    }
}

/// What kind of visit.
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
pub enum AppointmentType {
    /// A first consultation.
    Consultation,
    /// A follow-up of earlier care.
    FollowUp,
    /// A procedure.
    Procedure,
    /// A remote consultation.
    Telehealth,
}

/// An appointment as a caller sees it. Times are UTC (RFC 3339). The
/// clinical text (reason, notes, cancellation reason) is shown only to roles
/// with `patients.clinical`; reception sees `null`.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct AppointmentView {
    /// UUID.
    pub id: String,
    /// The patient.
    pub patient_id: String,
    /// The doctor.
    pub doctor_id: String,
    /// The department.
    pub department_id: String,
    /// Kind of visit.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: AppointmentType,
    /// Where it stands.
    pub status: AppointmentStatus,
    /// Start (UTC).
    pub starts_at: DateTime<Utc>,
    /// End (UTC, exclusive).
    pub ends_at: DateTime<Utc>,
    /// Why the patient comes (clinical).
    pub reason: Option<String>,
    /// The doctor's notes at completion (clinical).
    pub notes: Option<String>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Booked by.
    pub created_by: String,
    /// Booked at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The insurer's answer about the patient's insurance at booking
    /// (`unverified`: it could not answer; `not_checked`: no insurance or
    /// no insurer configured).
    pub insurance_eligibility: crate::insurance::InsuranceEligibility,
    /// When the insurer was asked (UTC).
    pub insurance_checked_at: Option<DateTime<Utc>>,
}

/// A UTC naive time as RFC 3339 UTC.
pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

/// Parse an RFC 3339 start time (with its offset) to UTC; whole minutes only.
pub fn parse_start(field: &str, value: &str) -> ApiResult<NaiveDateTime> {
    let t = DateTime::parse_from_rfc3339(value.trim()).map_err(|_| {
        ApiError::field(
            field,
            "must be an RFC 3339 time with its offset, e.g. 2027-01-04T09:30:00Z",
        )
    })?;
    let t = t.with_timezone(&Utc).naive_utc();
    if t.second() != 0 || t.nanosecond() != 0 {
        return Err(ApiError::field(field, "must be on a whole minute"));
    }
    Ok(t)
}

/// Parse a `YYYY-MM-DD` date.
pub fn parse_date(field: &str, value: &str) -> ApiResult<NaiveDate> {
    let bad = || ApiError::field(field, "must be a date, YYYY-MM-DD, years 1900 to 9999");
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| bad())?;
    // Far from chrono's limits, so a day's bounds never overflow.
    if !(1900..=9999).contains(&date.year()) || value.len() != 10 {
        return Err(bad());
    }
    Ok(date)
}

/// Check an id-shaped value (UUIDs and user ids are short ASCII).
pub fn check_id(field: &str, value: &str) -> ApiResult<()> {
    if value.is_empty() || value.len() > 64 || !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::field(field, "must be an id"));
    }
    Ok(())
}

/// Free text of at most `max` printable characters (newlines allowed),
/// trimmed; `min` characters at least once trimmed.
pub fn check_text(field: &str, value: &str, min: usize, max: usize) -> ApiResult<String> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min {
        return Err(ApiError::field(
            field,
            format!("must be at least {min} characters"),
        ));
    }
    if n > max || v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::field(
            field,
            format!("must be at most {max} printable characters"),
        ));
    }
    Ok(v.to_string())
}
