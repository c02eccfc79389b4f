//! Who may see and change which invoice: the one place for it.
//!
//! Seeing (`visible`): `billing.read` (accountant, admin) every invoice of
//! the tenant; `billing.read_own` (patient) their own invoices. Every other
//! role sees none (403). Invoices of soft-deleted patients are hidden from
//! everyone. Changing (issuing, recording payments, voiding) needs
//! `billing.manage` (accountant); billing a patient needs only that the
//! patient exists in the tenant (not deleted): billing reads no clinical
//! content, so it is not bound to a care team. An invoice out of scope is
//! answered like one that does not exist (404).

use common::auth::AuthUser;
use common::db::{DbBackend, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use crate::patients::scope as patient_scope;
use crate::schema::{invoices, patients};
use crate::HospitalPermission as P;

/// A boxed query over the invoices a caller may see.
pub type Visible = invoices::BoxedQuery<'static, DbBackend>;

/// Refuse (403) a caller whose role sees no invoice.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::BillingRead) || user.can(P::BillingReadOwn) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not read invoices".into(),
        ))
    }
}

/// Refuse (403) a caller who may not see the price list: any billing role.
pub fn require_price_list_reader(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::BillingManage) || user.can(P::BillingRead) || user.can(P::BillingReadOwn) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not read the price list".into(),
        ))
    }
}

/// Refuse (403) a role that issues, settles and voids no invoice.
pub fn require_manager(user: &AuthUser) -> ApiResult<()> {
    if user.can(P::BillingManage) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not issue invoices, record payments or void invoices".into(),
        ))
    }
}

/// The invoices of `tenant` the caller may see.
pub fn visible(user: &AuthUser, tenant: &str) -> ApiResult<Visible> {
    let q = invoices::table
        .filter(invoices::tenant_id.eq(tenant.to_string()))
        .filter(crate::patients::scope::of_live_patient!(
            invoices::patient_id,
            tenant
        ))
        .into_boxed();
    if user.can(P::BillingRead) {
        return Ok(q);
    }
    if user.can(P::BillingReadOwn) {
        let own = patients::table
            .filter(patients::tenant_id.eq(tenant.to_string()))
            .filter(patients::deleted_at.is_null())
            .filter(patients::portal_user_id.eq(user.id.clone()))
            .select(patients::id);
        return Ok(q.filter(invoices::patient_id.eq_any(own)));
    }
    Err(ApiError::Forbidden(
        "your role may not read invoices".into(),
    ))
}

/// Refuse unless the caller may bill `patient`: 403 without
/// `billing.manage`, 404 for a patient absent from the tenant or deleted.
pub fn require_biller_for(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    patient: &str,
) -> ApiResult<()> {
    require_manager(user)?;
    if patient_scope::exists_in_tenant(conn, tenant, patient)? {
        Ok(())
    } else {
        Err(patient_scope::not_found())
    }
}

/// The one answer for "absent or not yours".
pub fn not_found() -> ApiError {
    ApiError::NotFound("no such invoice".into())
}
