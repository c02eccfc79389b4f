//! Who may read reports and analytics — one place.
//!
//! - `reports.read` (analyst, admin): list received reports, weekly series,
//!   totals and the CSV export, across every tenant (the data is
//!   de-identified aggregates; there is nothing per patient to scope).
//! - Hospitals (internal plane): submit reports of the tenant in their
//!   own certificate only.

use common::auth::AuthUser;
use common::ApiResult;

use crate::CompanyPermission as P;

/// May read reports and analytics.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    user.require(P::ReportsRead)
}

/// A hospital of `peer_tenant` may submit a report naming `named`.
pub fn may_submit(peer_tenant: Option<&str>, named: &str) -> bool {
    peer_tenant.is_some_and(|t| t.eq_ignore_ascii_case(named))
}
