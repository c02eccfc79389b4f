//! Queries on `referrals`. The reason and a decline's reason are sealed
//! with the tenant's data key, bound to tenant, table, column and row.

use chrono::NaiveDateTime;
use common::crypto::{Aad, Keyring};
use common::db::{now, DbConn, Page};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use super::model::{ReferralDirection, ReferralStatus, ReferralView};
use super::scope::Visible;
use crate::appointments::model::utc;
use crate::schema::referrals;

/// The table whose columns are sealed.
pub const TABLE: &str = "referrals";

/// A referral as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = referrals)]
pub struct Referral {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The patient.
    pub patient_id: String,
    /// The referring doctor.
    pub referred_by: String,
    /// The doctor referred to.
    pub to_doctor_id: Option<String>,
    /// The department referred to.
    pub to_department_id: Option<String>,
    /// `ReferralStatus`, stored by name.
    pub status: String,
    /// Sealed reason.
    pub reason_enc: String,
    /// Sealed decline reason.
    pub decline_reason_enc: Option<String>,
    /// Who accepted or declined.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<NaiveDateTime>,
    /// Referred at.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl Referral {
    /// The stored status.
    pub fn status(&self) -> ApiResult<ReferralStatus> {
        self.status
            .parse()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown referral status")))
    }
}

/// The associated data of sealed `column` of referral `id`.
pub fn aad(tenant: &str, column: &str, id: &str) -> Aad {
    Aad::new(tenant, TABLE, column, id)
}

/// The associated data of the sealed reason of referral `id`.
pub fn reason_aad(tenant: &str, id: &str) -> Aad {
    aad(tenant, "reason", id)
}

/// The associated data of the sealed decline reason of referral `id`.
pub fn decline_aad(tenant: &str, id: &str) -> Aad {
    aad(tenant, "decline_reason", id)
}

/// Seal `value` into `column` of referral `id`.
pub fn seal(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    column: &str,
    id: &str,
    value: &str,
) -> ApiResult<String> {
    keyring.encrypt(conn, tenant, value, &aad(tenant, column, id))
}

/// Insert a new referral.
pub fn insert(conn: &mut DbConn, r: &Referral) -> ApiResult<()> {
    diesel::insert_into(referrals::table)
        .values(r)
        .execute(conn)?;
    Ok(())
}

/// The referral `id` among those `visible`.
pub fn find_visible(conn: &mut DbConn, visible: Visible, id: &str) -> ApiResult<Option<Referral>> {
    Ok(visible
        .filter(referrals::id.eq(id.to_string()))
        .select(Referral::as_select())
        .first(conn)
        .optional()?)
}

/// Whether `patient` already has a pending referral to the same doctor or
/// department.
pub fn pending_exists(
    conn: &mut DbConn,
    tenant: &str,
    patient: &str,
    to_doctor: Option<&str>,
    to_department: Option<&str>,
) -> ApiResult<bool> {
    let mut q = referrals::table
        .filter(referrals::tenant_id.eq(tenant.to_string()))
        .filter(referrals::patient_id.eq(patient.to_string()))
        .filter(referrals::status.eq(ReferralStatus::Pending.as_str()))
        .into_boxed();
    q = match (to_doctor, to_department) {
        (Some(d), _) => q.filter(referrals::to_doctor_id.eq(d.to_string())),
        (None, Some(d)) => q.filter(referrals::to_department_id.eq(d.to_string())),
        (None, None) => return Ok(false),
    };
    let n: i64 = q.count().get_result(conn)?;
    Ok(n > 0)
}

/// Move a pending referral to `to` (accepted, declined, cancelled): false
/// if it is no longer pending. The decider is recorded for accept and
/// decline; a decline carries its sealed reason.
pub fn decide(
    conn: &mut DbConn,
    r: &Referral,
    to: ReferralStatus,
    by: &str,
    decline_reason_enc: Option<String>,
) -> ApiResult<bool> {
    let t = now();
    let decided = matches!(to, ReferralStatus::Accepted | ReferralStatus::Declined);
    let changed = diesel::update(
        referrals::table
            .filter(referrals::tenant_id.eq(&r.tenant_id))
            .filter(referrals::id.eq(&r.id))
            .filter(referrals::status.eq(ReferralStatus::Pending.as_str())),
    )
    .set((
        referrals::status.eq(to.as_str()),
        referrals::decline_reason_enc.eq(decline_reason_enc),
        referrals::decided_by.eq(decided.then(|| by.to_string())),
        referrals::decided_at.eq(decided.then_some(t)),
        referrals::updated_at.eq(t),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// A list's filters.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Incoming or outgoing (relative to `me`).
    pub direction: Option<ReferralDirection>,
    /// The caller.
    pub me: String,
    /// One status.
    pub status: Option<ReferralStatus>,
    /// One patient.
    pub patient_id: Option<String>,
}

fn filtered(visible: Visible, f: &ListFilter) -> Visible {
    let mut q = visible;
    match f.direction {
        Some(ReferralDirection::Outgoing) => {
            q = q.filter(referrals::referred_by.eq(f.me.clone()));
        }
        Some(ReferralDirection::Incoming) => {
            q = q.filter(
                referrals::to_doctor_id
                    .eq(f.me.clone())
                    .or(referrals::to_department_id
                        .is_not_null()
                        .and(referrals::referred_by.ne(f.me.clone()))),
            );
        }
        None => {}
    }
    if let Some(s) = f.status {
        q = q.filter(referrals::status.eq(s.as_str().to_string()));
    }
    if let Some(p) = &f.patient_id {
        q = q.filter(referrals::patient_id.eq(p.clone()));
    }
    q
}

/// A page of referrals, newest first, and their total.
pub fn list(
    conn: &mut DbConn,
    visible: impl Fn() -> ApiResult<Visible>,
    f: &ListFilter,
    page: &Page,
) -> ApiResult<(Vec<Referral>, i64)> {
    let total = filtered(visible()?, f).count().get_result(conn)?;
    let rows = filtered(visible()?, f)
        .order((referrals::created_at.desc(), referrals::id.desc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Referral::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Decrypt a referral.
pub fn to_view(conn: &mut DbConn, keyring: &Keyring, r: &Referral) -> ApiResult<ReferralView> {
    let tenant = &r.tenant_id;
    let reason = keyring.decrypt(conn, tenant, &r.reason_enc, &aad(tenant, "reason", &r.id))?;
    let decline_reason = match &r.decline_reason_enc {
        Some(s) => Some(keyring.decrypt(conn, tenant, s, &aad(tenant, "decline_reason", &r.id))?),
        None => None,
    };
    Ok(ReferralView {
        id: r.id.clone(),
        patient_id: r.patient_id.clone(),
        referred_by: r.referred_by.clone(),
        to_doctor_id: r.to_doctor_id.clone(),
        to_department_id: r.to_department_id.clone(),
        status: r.status()?,
        reason,
        decline_reason,
        decided_by: r.decided_by.clone(),
        decided_at: r.decided_at.map(utc),
        created_at: utc(r.created_at),
        updated_at: utc(r.updated_at),
    })
}
