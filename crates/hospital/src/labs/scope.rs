//! Who may see and change which lab order: the one place for it.
//!
//! Orders are of two kinds, lab tests and imaging studies, worked by
//! different roles with the same rules: `labs.worklist` / `labs.result`
//! (lab) for lab orders, `imaging.worklist` / `imaging.result`
//! (radiologist) for imaging orders. Ordering and reading by the care team
//! do not depend on the kind.
//!
//! Seeing (`visible`): `labs.worklist` (lab) every lab order of the tenant
//! (the worklist), `imaging.worklist` (radiologist) every imaging order;
//! `labs.read_assigned` (doctor, nurse) the orders of patients
//! they may see (care team or an unexpired break-the-glass grant) and the
//! orders they placed themselves; `labs.read_own` (patient) their own
//! finalized orders only. Admin, reception and pharmacist see none (403).
//! Orders of soft-deleted patients are hidden from everyone.
//!
//! Changing: ordering with `labs.order` (doctor) for a patient on one's
//! care team; cancelling with `labs.order`, one's own order only, before any
//! result; entering results, finalizing and amending with `labs.result`
//! (lab) on lab orders, `imaging.result` (radiologist) on imaging orders. An order out of scope is answered like one that does not exist
//! (404).

use common::auth::AuthUser;
use common::db::{DbBackend, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use super::model::{LabOrderKind, LabOrderStatus};
use crate::care_team::store as care_team_store;
use crate::patients::scope as patient_scope;
use crate::schema::{lab_orders, patients};
use crate::HospitalPermission as P;

/// A boxed query over the lab orders a caller may see.
pub type Visible = lab_orders::BoxedQuery<'static, DbBackend>;

/// Refuse (403) a caller whose role sees no lab order.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    if !worklists(user).is_empty() || user.can(P::LabsReadAssigned) || user.can(P::LabsReadOwn) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not read lab orders".into(),
        ))
    }
}

/// The lab orders of `tenant` the caller may see.
pub fn visible(user: &AuthUser, tenant: &str) -> ApiResult<Visible> {
    let q = lab_orders::table
        .filter(lab_orders::tenant_id.eq(tenant.to_string()))
        .filter(crate::patients::scope::of_live_patient!(
            lab_orders::patient_id,
            tenant
        ))
        .into_boxed();
    let worklists = worklists(user);
    if worklists.len() == 2 {
        return Ok(q);
    }
    let worked: Vec<String> = worklists.iter().map(|k| k.as_str().to_string()).collect();
    if user.can(P::LabsReadAssigned) {
        return Ok(q.filter(
            crate::patients::scope::on_care_team!(lab_orders::patient_id, user, tenant)
                .or(lab_orders::ordered_by.eq(user.id.clone()))
                .or(lab_orders::kind.eq_any(worked)),
        ));
    }
    if !worked.is_empty() {
        return Ok(q.filter(lab_orders::kind.eq_any(worked)));
    }
    if user.can(P::LabsReadOwn) {
        let own = patients::table
            .filter(patients::tenant_id.eq(tenant.to_string()))
            .filter(patients::deleted_at.is_null())
            .filter(patients::portal_user_id.eq(user.id.clone()))
            .select(patients::id);
        return Ok(q
            .filter(lab_orders::patient_id.eq_any(own))
            .filter(lab_orders::status.eq(LabOrderStatus::Finalized.as_str())));
    }
    Err(ApiError::Forbidden(
        "your role may not read lab orders".into(),
    ))
}

/// Refuse unless the caller may order tests for `patient`: 403 for a role
/// that orders nothing, 404 for a patient out of scope (or absent), 403 for
/// one seen only through break-the-glass.
pub fn require_orderer_for(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    patient: &str,
) -> ApiResult<()> {
    require_orderer(user)?;
    if !patient_scope::can_see(conn, user, tenant, patient, false)? {
        return Err(patient_scope::not_found());
    }
    if care_team_store::is_member(conn, tenant, patient, &user.id)? {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "a doctor orders tests only for patients on their care team".into(),
        ))
    }
}

/// Refuse (403) a role that orders nothing.
pub fn require_orderer(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::LabsOrder) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not order lab tests".into(),
        ))
    }
}

/// Refuse (403) cancelling an order the caller did not place (the order is
/// already known to be visible to them).
pub fn require_own_order(user: &AuthUser, ordered_by: &str) -> ApiResult<()> {
    require_orderer(user)?;
    if ordered_by == user.id {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the ordering doctor cancels a lab order".into(),
        ))
    }
}

/// The kinds of order whose whole worklist the caller sees.
pub fn worklists(user: &AuthUser) -> Vec<LabOrderKind> {
    let mut kinds = Vec::new();
    if user.can(P::LabsWorklist) {
        kinds.push(LabOrderKind::Lab);
    }
    if user.can(P::ImagingWorklist) {
        kinds.push(LabOrderKind::Imaging);
    }
    kinds
}

/// Whether the caller enters results for orders of `kind`.
pub fn results_for(user: &AuthUser, kind: LabOrderKind) -> bool {
    match kind {
        LabOrderKind::Lab => user.can(P::LabsResult),
        LabOrderKind::Imaging => user.can(P::ImagingResult),
    }
}

/// Refuse (403) a role that enters no results of any kind.
pub fn require_lab(user: &AuthUser) -> ApiResult<()> {
    if results_for(user, LabOrderKind::Lab) || results_for(user, LabOrderKind::Imaging) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not enter, finalize or amend lab results".into(),
        ))
    }
}

/// Refuse (403) results on an order of a kind the caller does not work
/// (the order is already known to be visible to them).
pub fn require_lab_for(user: &AuthUser, kind: LabOrderKind) -> ApiResult<()> {
    if results_for(user, kind) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "your role may not enter, finalize or amend {} results",
            kind.as_str()
        )))
    }
}

/// The one answer for "absent or not yours".
pub fn not_found() -> ApiError {
    ApiError::NotFound("no such lab order".into())
}
