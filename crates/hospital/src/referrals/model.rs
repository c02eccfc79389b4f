//! The referral's types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a referral stands: `pending → accepted | declined | cancelled`.
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
pub enum ReferralStatus {
    /// Waiting for the receiver.
    Pending,
    /// Accepted: the receiver joined the care team.
    Accepted,
    /// Declined by the receiver, with a reason.
    Declined,
    /// Cancelled by the referring doctor.
    Cancelled,
}

impl ReferralStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Which referrals a list shows.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralDirection {
    /// Those the caller may receive.
    Incoming,
    /// Those the caller made.
    Outgoing,
}

/// A referral as a caller sees it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct ReferralView {
    /// UUID.
    pub id: String,
    /// The patient.
    pub patient_id: String,
    /// The referring doctor.
    pub referred_by: String,
    /// The doctor referred to (or null for a department referral).
    pub to_doctor_id: Option<String>,
    /// The department referred to (or null for a doctor referral).
    pub to_department_id: Option<String>,
    /// Where it stands.
    pub status: ReferralStatus,
    /// Why (clinical; sealed).
    pub reason: String,
    /// Why it was declined (sealed).
    pub decline_reason: Option<String>,
    /// Who accepted or declined.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// Referred at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}
