//! Queries on `break_glass`. The reason is free text a clinician wrote
//! about a patient, so it is stored encrypted like any clinical text.

use chrono::NaiveDateTime;
use common::crypto::{Aad, Keyring};
use common::db::Page;
use common::db::{now, DbBackend, DbConn};
use common::ApiResult;
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::break_glass;

/// A grant as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = break_glass)]
pub struct Grant {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The patient opened.
    pub patient_id: String,
    /// The clinician.
    pub user_id: String,
    /// Reason (encrypted).
    pub reason_enc: String,
    /// Granted.
    pub granted_at: NaiveDateTime,
    /// Ends.
    pub expires_at: NaiveDateTime,
    /// Reviewed by.
    pub acknowledged_by: Option<String>,
    /// Reviewed at.
    pub acknowledged_at: Option<NaiveDateTime>,
}

/// A grant as the reviewer sees it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct GrantView {
    /// UUID.
    pub id: String,
    /// The patient opened.
    pub patient_id: String,
    /// The clinician.
    pub user_id: String,
    /// Why.
    pub reason: String,
    /// Granted.
    pub granted_at: NaiveDateTime,
    /// Ends.
    pub expires_at: NaiveDateTime,
    /// Whether it is still in force.
    pub active: bool,
    /// Reviewed by.
    pub acknowledged_by: Option<String>,
    /// Reviewed at.
    pub acknowledged_at: Option<NaiveDateTime>,
}

pub(crate) fn aad(tenant: &str, id: &str) -> Aad {
    Aad::new(tenant, "break_glass", "reason", id)
}

/// Record a grant.
pub fn insert(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    patient: &str,
    user: &str,
    reason: &str,
    minutes: i64,
) -> ApiResult<Grant> {
    let id = uuid::Uuid::new_v4().to_string();
    let t = now();
    let g = Grant {
        id: id.clone(),
        tenant_id: tenant.into(),
        patient_id: patient.into(),
        user_id: user.into(),
        reason_enc: keyring.encrypt(conn, tenant, reason, &aad(tenant, &id))?,
        granted_at: t,
        expires_at: t + chrono::TimeDelta::minutes(minutes),
        acknowledged_by: None,
        acknowledged_at: None,
    };
    diesel::insert_into(break_glass::table)
        .values((
            break_glass::id.eq(&g.id),
            break_glass::tenant_id.eq(&g.tenant_id),
            break_glass::patient_id.eq(&g.patient_id),
            break_glass::user_id.eq(&g.user_id),
            break_glass::reason_enc.eq(&g.reason_enc),
            break_glass::granted_at.eq(g.granted_at),
            break_glass::expires_at.eq(g.expires_at),
        ))
        .execute(conn)?;
    Ok(g)
}

/// Decrypt for review.
pub fn to_view(conn: &mut DbConn, keyring: &Keyring, g: &Grant) -> ApiResult<GrantView> {
    Ok(GrantView {
        id: g.id.clone(),
        patient_id: g.patient_id.clone(),
        user_id: g.user_id.clone(),
        reason: keyring.decrypt(conn, &g.tenant_id, &g.reason_enc, &aad(&g.tenant_id, &g.id))?,
        granted_at: g.granted_at,
        expires_at: g.expires_at,
        active: g.expires_at > now(),
        acknowledged_by: g.acknowledged_by.clone(),
        acknowledged_at: g.acknowledged_at,
    })
}

/// The one query behind the grant list, built afresh for the count and
/// for the page: a tenant's grants, `acknowledged` filtering if given.
fn filtered(
    tenant: &str,
    acknowledged: Option<bool>,
) -> break_glass::BoxedQuery<'static, DbBackend> {
    let q = break_glass::table
        .filter(break_glass::tenant_id.eq(tenant.to_string()))
        .into_boxed();
    match acknowledged {
        Some(true) => q.filter(break_glass::acknowledged_at.is_not_null()),
        Some(false) => q.filter(break_glass::acknowledged_at.is_null()),
        None => q,
    }
}

/// A page of a tenant's grants, newest first, and their total.
pub fn list(
    conn: &mut DbConn,
    tenant: &str,
    acknowledged: Option<bool>,
    page: &Page,
) -> ApiResult<(Vec<Grant>, i64)> {
    let total = filtered(tenant, acknowledged).count().get_result(conn)?;
    let rows = filtered(tenant, acknowledged)
        .order((break_glass::granted_at.desc(), break_glass::id.asc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Grant::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// A grant of a tenant.
pub fn get(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<Grant> {
    Ok(break_glass::table
        .filter(break_glass::tenant_id.eq(tenant))
        .filter(break_glass::id.eq(id))
        .select(Grant::as_select())
        .first(conn)?)
}

/// Mark reviewed.
pub fn acknowledge(conn: &mut DbConn, tenant: &str, id: &str, by: &str) -> ApiResult<()> {
    diesel::update(
        break_glass::table
            .filter(break_glass::tenant_id.eq(tenant))
            .filter(break_glass::id.eq(id)),
    )
    .set((
        break_glass::acknowledged_by.eq(Some(by)),
        break_glass::acknowledged_at.eq(Some(now())),
    ))
    .execute(conn)?;
    Ok(())
}
