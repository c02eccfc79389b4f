//! Who may see and change rooms, beds and admissions: the one place for it.
//!
//! Rooms, beds and occupancy: `wards.read` (admin, reception, doctor,
//! nurse) sees them (no PHI: a bed shows whether it is taken, not by whom);
//! `wards.manage` (admin) adds, renames and deactivates rooms and adds
//! beds. Lab, pharmacist and patients: 403.
//!
//! Admissions: `admissions.manage` (admin, reception) sees every admission
//! of the tenant and admits and transfers any patient (the front desk and
//! bed management admit); `admissions.admit_assigned` (doctor) admits and
//! transfers patients on their care team (break-the-glass: 403; off the
//! team: 404) and discharges them; `admissions.read_assigned` (doctor,
//! nurse) sees the admissions of patients they may see (care team or
//! break-the-glass). Discharging writes the discharge summary, a signed
//! clinical note, so it is a clinician's act: a doctor on the care team
//! with `admissions.admit_assigned` and `notes.write`; admin and reception
//! may not (403). The admission reason is shown only to roles with
//! `patients.clinical` (reception sees none). Admissions of soft-deleted
//! patients are hidden. An admission out of scope is answered like one
//! that does not exist (404).

use common::auth::AuthUser;
use common::db::{DbBackend, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use crate::care_team::store as care_team_store;
use crate::patients::scope::{self as patient_scope, Reach};
use crate::schema::admissions;
use crate::HospitalPermission as P;

/// A boxed query over the admissions a caller may see.
pub type Visible = admissions::BoxedQuery<'static, DbBackend>;

/// Refuse (403) a role that sees no room, bed or occupancy.
pub fn require_wards_reader(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::WardsRead) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not see rooms and beds".into(),
        ))
    }
}

/// Refuse (403) a role that manages no room or bed.
pub fn require_wards_manager(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::WardsManage) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not manage rooms and beds".into(),
        ))
    }
}

/// Refuse (403) a role that sees no admission.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::AdmissionsManage)
        || user.can(P::AdmissionsReadAssigned)
        || user.can(P::AdmissionsAdmitAssigned)
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not see admissions".into(),
        ))
    }
}

/// The admissions of `tenant` the caller may see.
pub fn visible(user: &AuthUser, tenant: &str) -> ApiResult<Visible> {
    scoped(user, tenant, Reach::One)
}

/// [`visible`] for a list (see [`Reach`]); a list of `one_patient`'s
/// records checks that patient by the probes instead (no list of the
/// caller's patients to build for it).
pub fn listed(user: &AuthUser, tenant: &str, one_patient: bool) -> ApiResult<Visible> {
    let reach = if one_patient { Reach::One } else { Reach::Many };
    scoped(user, tenant, reach)
}

fn scoped(user: &AuthUser, tenant: &str, reach: Reach) -> ApiResult<Visible> {
    require_reader(user)?;
    let q = admissions::table
        .filter(admissions::tenant_id.eq(tenant.to_string()))
        .filter(crate::patients::scope::of_live_patient!(
            admissions::patient_id,
            tenant
        ))
        .into_boxed();
    if user.can(P::AdmissionsManage) {
        return Ok(q);
    }
    Ok(crate::patients::scope::assigned_to!(
        q,
        reach,
        admissions::patient_id,
        user,
        tenant
    ))
}

/// Refuse (403) a role that admits nobody.
pub fn require_admitter(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::AdmissionsManage) || user.can(P::AdmissionsAdmitAssigned) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not admit or transfer patients".into(),
        ))
    }
}

/// Refuse unless the caller may admit or transfer `patient`: 403 for a role
/// that admits nobody, 404 for a patient out of scope (or absent), 403 for
/// a doctor who sees them only through break-the-glass.
pub fn require_admitter_for(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    patient: &str,
) -> ApiResult<()> {
    require_admitter(user)?;
    if !patient_scope::can_see(conn, user, tenant, patient, false)? {
        return Err(patient_scope::not_found());
    }
    if user.can(P::AdmissionsManage) || care_team_store::is_member(conn, tenant, patient, &user.id)?
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "a doctor admits only patients on their care team".into(),
        ))
    }
}

/// Refuse (403) a role that discharges nobody.
pub fn require_discharger(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::AdmissionsAdmitAssigned) && user.can(P::NotesWrite) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "a discharge writes a discharge summary: a doctor on the care team discharges".into(),
        ))
    }
}

/// Refuse unless the caller may discharge `patient` (a visible admission's):
/// a doctor on the care team, who writes the summary into the notes.
pub fn require_discharger_for(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    patient: &str,
) -> ApiResult<()> {
    require_discharger(user)?;
    crate::notes::scope::require_author_for(conn, user, tenant, patient)
}

/// Whether the caller sees an admission's reason (clinical: roles with
/// `patients.clinical`; reception sees the stay without it).
pub fn sees_reason(user: &AuthUser) -> bool {
    user.can(P::PatientsClinical)
}

/// The one answer for "absent or not yours".
pub fn not_found() -> ApiError {
    ApiError::NotFound("no such admission".into())
}

/// The one answer for an absent room (of this tenant).
pub fn room_not_found() -> ApiError {
    ApiError::NotFound("no such room".into())
}
