//! Who may see and change which prescription: the one place for it.
//!
//! Seeing (`visible`): `prescriptions.dispense` (pharmacist) every
//! prescription of the tenant (the queue); `prescriptions.read_assigned`
//! (doctor, nurse) those of patients they may see (care team or an
//! unexpired break-the-glass grant); `prescriptions.read_own` (patient)
//! their own. Admin, reception and lab see none (403). Prescriptions of
//! soft-deleted patients are hidden from everyone.
//!
//! Changing: prescribing with `prescriptions.write` (doctor) for a patient
//! on one's care team; dispensing and rejecting with
//! `prescriptions.dispense` (pharmacist). A prescription out of scope is
//! answered like one that does not exist (404).

use common::auth::AuthUser;
use common::db::{DbBackend, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use crate::care_team::store as care_team_store;
use crate::patients::scope::{self as patient_scope, Reach};
use crate::schema::{patients, prescriptions};
use crate::HospitalPermission as P;

/// A boxed query over the prescriptions a caller may see.
pub type Visible = prescriptions::BoxedQuery<'static, DbBackend>;

/// Refuse (403) a caller whose role sees no prescription.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::PrescriptionsDispense)
        || user.can(P::PrescriptionsReadAssigned)
        || user.can(P::PrescriptionsReadOwn)
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not read prescriptions".into(),
        ))
    }
}

/// The prescriptions of `tenant` the caller may see.
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
    let live = patients::table
        .filter(patients::tenant_id.eq(tenant.to_string()))
        .filter(patients::deleted_at.is_null());
    let q = prescriptions::table
        .filter(prescriptions::tenant_id.eq(tenant.to_string()))
        .into_boxed();
    if user.can(P::PrescriptionsDispense) {
        return Ok(q.filter(crate::patients::scope::of_live_patient!(
            prescriptions::patient_id,
            tenant
        )));
    }
    if user.can(P::PrescriptionsReadAssigned) {
        let q = q.filter(crate::patients::scope::of_live_patient!(
            prescriptions::patient_id,
            tenant
        ));
        return Ok(crate::patients::scope::assigned_to!(
            q,
            reach,
            prescriptions::patient_id,
            user,
            tenant
        ));
    }
    if user.can(P::PrescriptionsReadOwn) {
        let own = live
            .filter(patients::portal_user_id.eq(user.id.clone()))
            .select(patients::id);
        return Ok(q.filter(prescriptions::patient_id.eq_any(own)));
    }
    Err(ApiError::Forbidden(
        "your role may not read prescriptions".into(),
    ))
}

/// Refuse unless the caller may prescribe for `patient`: 403 for a role
/// that prescribes nothing, 404 for a patient out of scope (or absent), 403
/// for one seen only through break-the-glass.
pub fn require_prescriber_for(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    patient: &str,
) -> ApiResult<()> {
    require_prescriber(user)?;
    if !patient_scope::can_see(conn, user, tenant, patient, false)? {
        return Err(patient_scope::not_found());
    }
    if care_team_store::is_member(conn, tenant, patient, &user.id)? {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "a doctor prescribes only for patients on their care team".into(),
        ))
    }
}

/// Refuse (403) a role that prescribes nothing.
pub fn require_prescriber(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::PrescriptionsWrite) {
        Ok(())
    } else {
        Err(ApiError::Forbidden("your role may not prescribe".into()))
    }
}

/// Refuse (403) a role that dispenses nothing.
pub fn require_pharmacist(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::PrescriptionsDispense) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not dispense or reject prescriptions".into(),
        ))
    }
}

/// The one answer for "absent or not yours".
pub fn not_found() -> ApiError {
    ApiError::NotFound("no such prescription".into())
}
