//! Who may see and change which referral: the one place for it.
//!
//! Seeing (`visible`): `referrals.write` (doctor) the referrals one made;
//! `referrals.receive` (doctor) those made to oneself, those one decided,
//! and every **pending** department referral. The schema has no
//! doctor–department membership, so a department referral is a queue open
//! to every doctor who receives referrals until one of them accepts or
//! declines it (reading its reason is written to the patient's access log
//! like every other read). Admin, nurse, reception, lab, pharmacist and
//! patients have no referral access (403): the reason is clinical and the
//! referral is a doctor-to-doctor act. Referrals of soft-deleted patients
//! are hidden from everyone.
//!
//! Changing: referring with `referrals.write` for a patient on one's care
//! team (break-the-glass: 403; off the team: 404); cancelling with
//! `referrals.write`, one's own pending referral only; accepting and
//! declining with `referrals.receive`, by the doctor referred to or, for a
//! department referral, any receiving doctor other than the referrer. A
//! referral out of scope is answered like one that does not exist (404),
//! except a department referral decided meanwhile, which a receiving
//! doctor trying to decide it is told is decided (409, [`was_open_to`]).

use common::auth::AuthUser;
use common::db::{DbBackend, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use super::model::ReferralStatus;
use super::store::Referral;
use crate::care_team::store as care_team_store;
use crate::patients::scope as patient_scope;
use crate::schema::referrals;
use crate::HospitalPermission as P;

/// A boxed query over the referrals a caller may see.
pub type Visible = referrals::BoxedQuery<'static, DbBackend>;

/// Refuse (403) a caller whose role sees no referral.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::ReferralsWrite) || user.can(P::ReferralsReceive) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not read referrals".into(),
        ))
    }
}

/// The referrals of `tenant` the caller may see.
pub fn visible(user: &AuthUser, tenant: &str) -> ApiResult<Visible> {
    require_reader(user)?;
    let q = referrals::table
        .filter(referrals::tenant_id.eq(tenant.to_string()))
        .filter(crate::patients::scope::of_live_patient!(
            referrals::patient_id,
            tenant
        ))
        .into_boxed();
    let me = user.id.clone();
    let pending = ReferralStatus::Pending.as_str();
    let (write, receive) = (user.can(P::ReferralsWrite), user.can(P::ReferralsReceive));
    Ok(match (write, receive) {
        (true, true) => q.filter(
            referrals::referred_by
                .eq(me.clone())
                .or(referrals::to_doctor_id.eq(me.clone()))
                .or(referrals::decided_by.eq(me))
                .or(referrals::to_department_id
                    .is_not_null()
                    .and(referrals::status.eq(pending))),
        ),
        (true, false) => q.filter(referrals::referred_by.eq(me)),
        _ => q.filter(
            referrals::to_doctor_id
                .eq(me.clone())
                .or(referrals::decided_by.eq(me))
                .or(referrals::to_department_id
                    .is_not_null()
                    .and(referrals::status.eq(pending))),
        ),
    })
}

/// Refuse (403) a role that refers nobody.
pub fn require_referrer(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::ReferralsWrite) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not refer patients".into(),
        ))
    }
}

/// Refuse unless the caller may refer `patient`: 403 for a role that
/// refers nobody, 404 for a patient out of scope (or absent), 403 for one
/// seen only through break-the-glass.
pub fn require_referrer_for(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    patient: &str,
) -> ApiResult<()> {
    require_referrer(user)?;
    if !patient_scope::can_see(conn, user, tenant, patient, false)? {
        return Err(patient_scope::not_found());
    }
    if care_team_store::is_member(conn, tenant, patient, &user.id)? {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "a doctor refers only patients on their care team".into(),
        ))
    }
}

/// Refuse (403) cancelling a referral the caller did not make (it is
/// already known to be visible to them).
pub fn require_own(user: &AuthUser, r: &Referral) -> ApiResult<()> {
    require_referrer(user)?;
    if r.referred_by == user.id {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the referring doctor cancels a referral".into(),
        ))
    }
}

/// Refuse (403) a role that receives no referral.
pub fn require_receiver(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::ReferralsReceive) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not accept or decline referrals".into(),
        ))
    }
}

/// Refuse (403) accepting or declining a (visible) referral the caller does
/// not receive: another doctor's, or one's own department referral.
pub fn require_receiver_of(user: &AuthUser, r: &Referral) -> ApiResult<()> {
    require_receiver(user)?;
    let mine = match &r.to_doctor_id {
        Some(d) => *d == user.id,
        None => r.referred_by != user.id,
    };
    if mine {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "only the doctor referred to (or, for a department, another doctor) accepts or declines"
                .into(),
        ))
    }
}

/// Whether `id` is a department referral the caller could have received
/// while it was pending (one they did not make, of a live patient) that is
/// no longer pending: the loser of concurrent decisions on a department
/// referral is told 409 (decided by someone else), not 404, though it has
/// left their view.
pub fn was_open_to(conn: &mut DbConn, user: &AuthUser, tenant: &str, id: &str) -> ApiResult<bool> {
    if !user.can(P::ReferralsReceive) {
        return Ok(false);
    }
    let n: i64 = referrals::table
        .filter(referrals::tenant_id.eq(tenant.to_string()))
        .filter(referrals::id.eq(id.to_string()))
        .filter(crate::patients::scope::of_live_patient!(
            referrals::patient_id,
            tenant
        ))
        .filter(referrals::to_department_id.is_not_null())
        .filter(referrals::referred_by.ne(user.id.clone()))
        .filter(referrals::status.ne(ReferralStatus::Pending.as_str()))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The one answer for "absent or not yours".
pub fn not_found() -> ApiError {
    ApiError::NotFound("no such referral".into())
}
