//! The types of rooms, beds and admissions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What kind of room.
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
pub enum RoomKind {
    /// A ward of several beds.
    Ward,
    /// Intensive care.
    Icu,
    /// A private room.
    Private,
}

impl RoomKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where an admission stands: `active → discharged`.
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
pub enum AdmissionStatus {
    /// In a bed.
    Active,
    /// Discharged, with a discharge summary.
    Discharged,
}

impl AdmissionStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A room.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct WardRoomView {
    /// UUID.
    pub id: String,
    /// The department.
    pub department_id: String,
    /// Name, unique in the hospital.
    pub name: String,
    /// Kind.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: RoomKind,
    /// In use.
    pub active: bool,
    /// How many beds.
    pub beds: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Changed.
    pub updated_at: DateTime<Utc>,
}

/// A bed (no PHI: whether it is taken, not by whom).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct WardBedView {
    /// UUID.
    pub id: String,
    /// The room.
    pub room_id: String,
    /// The room's name.
    pub room_name: String,
    /// The room's department.
    pub department_id: String,
    /// Label, unique in the room.
    pub label: String,
    /// Whether a patient is in it.
    pub occupied: bool,
}

/// An admission as a caller sees it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct AdmissionView {
    /// UUID.
    pub id: String,
    /// The patient.
    pub patient_id: String,
    /// The bed (the current one while active).
    pub bed_id: String,
    /// Where it stands.
    pub status: AdmissionStatus,
    /// Why (clinical, sealed); null for a caller who sees no clinical
    /// content (reception).
    pub reason: Option<String>,
    /// Who admitted.
    pub admitted_by: String,
    /// When.
    pub admitted_at: DateTime<Utc>,
    /// How many transfers.
    pub transfers: i64,
    /// Who discharged.
    pub discharged_by: Option<String>,
    /// When.
    pub discharged_at: Option<DateTime<Utc>>,
    /// The discharge summary (a clinical note of type `discharge_summary`).
    pub discharge_note_id: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// One department's beds (counts only, no PHI).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct WardOccupancyView {
    /// The department.
    pub department_id: String,
    /// Its name.
    pub department_name: String,
    /// Beds in its rooms in use.
    pub beds: i64,
    /// Of them, occupied.
    pub occupied: i64,
    /// Of them, free.
    pub free: i64,
}
