//! Who may see and change which appointment: the one place for it.
//!
//! Seeing (`visible`): `appointments.read_all` (admin, reception) every
//! appointment of the tenant; `appointments.read_assigned` (doctor, nurse)
//! the appointments of patients they may see (care team or an unexpired
//! break-the-glass grant, as `patients::scope` decides) and, for a doctor,
//! their own appointments; `appointments.read_own` (patient) their own.
//! Appointments of soft-deleted patients are hidden from everyone.
//!
//! Changing: booking for any patient, reschedule, check-in, no-show and
//! cancel with `appointments.manage` (admin, reception); booking for a
//! patient on one's care team with `appointments.book_assigned` (doctor);
//! booking and cancelling one's own with `appointments.book_own` (patient);
//! completing one's own appointment (as its doctor) with
//! `appointments.complete` (doctor). An appointment out of scope is answered
//! like one that does not exist (404).

use common::auth::AuthUser;
use common::db::{DbBackend, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use crate::care_team::store as care_team_store;
use crate::patients::scope as patient_scope;
use crate::schema::{appointments, patients};
use crate::HospitalPermission as P;

/// A boxed query over the appointments a caller may see.
pub type Visible = appointments::BoxedQuery<'static, DbBackend>;

/// What a caller wants to do to an existing appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Move it to another slot.
    Reschedule,
    /// Cancel it with a reason.
    Cancel,
    /// The patient arrived.
    CheckIn,
    /// The doctor saw the patient.
    Complete,
    /// The patient did not come.
    NoShow,
}

/// Refuse (403) a caller whose role sees no appointment.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::AppointmentsReadAll)
        || user.can(P::AppointmentsReadAssigned)
        || user.can(P::AppointmentsReadOwn)
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not read appointments".into(),
        ))
    }
}

/// The appointments of `tenant` the caller may see.
pub fn visible(user: &AuthUser, tenant: &str) -> ApiResult<Visible> {
    let q = appointments::table
        .filter(appointments::tenant_id.eq(tenant.to_string()))
        .into_boxed();
    if user.can(P::AppointmentsReadAll) {
        return Ok(q.filter(crate::patients::scope::of_live_patient!(
            appointments::patient_id,
            tenant
        )));
    }
    if user.can(P::AppointmentsReadAssigned) {
        return Ok(q
            .filter(crate::patients::scope::of_live_patient!(
                appointments::patient_id,
                tenant
            ))
            .filter(
                crate::patients::scope::on_care_team!(appointments::patient_id, user, tenant)
                    .or(appointments::doctor_id.eq(user.id.clone())),
            ));
    }
    if user.can(P::AppointmentsReadOwn) {
        let own = patients::table
            .filter(patients::tenant_id.eq(tenant.to_string()))
            .filter(patients::deleted_at.is_null())
            .filter(patients::portal_user_id.eq(user.id.clone()))
            .select(patients::id);
        return Ok(q.filter(appointments::patient_id.eq_any(own)));
    }
    Err(ApiError::Forbidden(
        "your role may not read appointments".into(),
    ))
}

/// Refuse unless the caller may book for `patient`: 403 for a role that
/// books for nobody, 404 for a patient out of scope (or absent), 403 for a
/// doctor who sees the patient only through break-the-glass.
pub fn require_booker(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    patient: &str,
) -> ApiResult<()> {
    if user.can(P::AppointmentsManage) {
        return if patient_scope::exists_in_tenant(conn, tenant, patient)? {
            Ok(())
        } else {
            Err(patient_scope::not_found())
        };
    }
    if user.can(P::AppointmentsBookAssigned) {
        if !patient_scope::can_see(conn, user, tenant, patient, false)? {
            return Err(patient_scope::not_found());
        }
        if care_team_store::is_member(conn, tenant, patient, &user.id)? {
            return Ok(());
        }
        return Err(ApiError::Forbidden(
            "a doctor books only for patients on their care team".into(),
        ));
    }
    if user.can(P::AppointmentsBookOwn) {
        let own: i64 = patients::table
            .filter(patients::tenant_id.eq(tenant))
            .filter(patients::id.eq(patient))
            .filter(patients::deleted_at.is_null())
            .filter(patients::portal_user_id.eq(&user.id))
            .count()
            .get_result(conn)?;
        return if own > 0 {
            Ok(())
        } else {
            Err(patient_scope::not_found())
        };
    }
    Err(ApiError::Forbidden(
        "your role may not book appointments".into(),
    ))
}

/// Refuse (403) before any lookup a caller whose role may never make `change`.
pub fn require_change_permission(user: &AuthUser, change: Change) -> ApiResult<()> {
    let allowed = match change {
        Change::Cancel => user.can(P::AppointmentsManage) || user.can(P::AppointmentsBookOwn),
        Change::Reschedule | Change::CheckIn | Change::NoShow => user.can(P::AppointmentsManage),
        Change::Complete => user.can(P::AppointmentsComplete),
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not change this appointment that way".into(),
        ))
    }
}

/// Refuse `change` of an appointment the caller sees (its doctor and
/// patient given): a patient cancels only their own (seeing it means it is
/// theirs), a doctor completes only their own.
pub fn require_change(user: &AuthUser, change: Change, doctor_id: &str) -> ApiResult<()> {
    require_change_permission(user, change)?;
    if change == Change::Complete && doctor_id != user.id {
        return Err(ApiError::Forbidden(
            "only the appointment's doctor completes it".into(),
        ));
    }
    Ok(())
}

/// The one answer for "absent or not yours".
pub fn not_found() -> ApiError {
    ApiError::NotFound("no such appointment".into())
}
