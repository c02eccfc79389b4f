//! Who may see and change which clinical note: the one place for it.
//!
//! Seeing (`visible`): `notes.read` (doctor, nurse) the notes of patients
//! they may see (care team or an unexpired break-the-glass grant, as
//! `patients::scope` decides); `notes.read_own` (patient) their own signed
//! notes, never drafts. Admin, reception, lab and pharmacist see no note at
//! all (403): note content is for the people treating the patient. Notes of
//! soft-deleted patients are hidden from everyone.
//!
//! Changing, all with `notes.write` (doctor, nurse): writing a note for a
//! patient on one's care team (break-the-glass opens a record to read, not
//! to write in it); editing and signing one's own draft; amending a signed
//! note of a patient on one's care team. A note out of scope is answered
//! like one that does not exist (404).

use common::auth::AuthUser;
use common::db::{DbBackend, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use super::model::NoteStatus;
use crate::care_team::store as care_team_store;
use crate::patients::scope::{self as patient_scope, Reach};
use crate::schema::{clinical_notes, patients};
use crate::HospitalPermission as P;

/// A boxed query over the notes a caller may see.
pub type Visible = clinical_notes::BoxedQuery<'static, DbBackend>;

/// Refuse (403) a caller whose role sees no note.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::NotesRead) || user.can(P::NotesReadOwn) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not read clinical notes".into(),
        ))
    }
}

/// Refuse (403) a caller whose role writes no note.
pub fn require_writer(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::NotesWrite) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not write clinical notes".into(),
        ))
    }
}

/// The notes of `tenant` the caller may see.
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
    let q = clinical_notes::table
        .filter(clinical_notes::tenant_id.eq(tenant.to_string()))
        .into_boxed();
    if user.can(P::NotesRead) {
        let q = q.filter(crate::patients::scope::of_live_patient!(
            clinical_notes::patient_id,
            tenant
        ));
        return Ok(crate::patients::scope::assigned_to!(
            q,
            reach,
            clinical_notes::patient_id,
            user,
            tenant
        ));
    }
    if user.can(P::NotesReadOwn) {
        let own = live
            .filter(patients::portal_user_id.eq(user.id.clone()))
            .select(patients::id);
        return Ok(q
            .filter(clinical_notes::patient_id.eq_any(own))
            .filter(clinical_notes::status.eq(NoteStatus::Signed.as_str())));
    }
    Err(ApiError::Forbidden(
        "your role may not read clinical notes".into(),
    ))
}

/// Refuse unless the caller may write in `patient`'s notes: 403 for a role
/// that writes none, 404 for a patient out of scope (or absent), 403 for one
/// seen only through break-the-glass.
pub fn require_author_for(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    patient: &str,
) -> ApiResult<()> {
    require_writer(user)?;
    if !patient_scope::can_see(conn, user, tenant, patient, false)? {
        return Err(patient_scope::not_found());
    }
    if care_team_store::is_member(conn, tenant, patient, &user.id)? {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the patient's care team writes in their notes; break-the-glass access does not"
                .into(),
        ))
    }
}

/// Refuse (403) a change of a draft by anyone but its author.
pub fn require_own_draft(user: &AuthUser, author_id: &str) -> ApiResult<()> {
    require_writer(user)?;
    if author_id == user.id {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only a draft's author edits or signs it".into(),
        ))
    }
}

/// The one answer for "absent or not yours".
pub fn not_found() -> ApiError {
    ApiError::NotFound("no such note".into())
}
