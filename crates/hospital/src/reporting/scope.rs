//! Who may do what with de-identified reports — one place; the handlers
//! and pages only call these.
//!
//! - Computing and sending a report now: `reports.send` (hospital admin).
//! - Listing the reports and reading the exact bytes sent:
//!   `reports.read` (hospital admin), always within the caller's tenant
//!   (another tenant's report is 404).
//! - A report is made only while `[reporting] enabled`, and only for the
//!   tenant this server's certificate speaks for (a hosted server's other
//!   tenants are told so: nobody could send theirs).

use common::auth::AuthUser;
use common::{ApiError, ApiResult};

use super::Reporting;
use crate::HospitalPermission as P;

/// May compute and send a report now.
pub fn require_sender(user: &AuthUser) -> ApiResult<()> {
    user.require(P::ReportsSend)
}

/// May list the reports and read what was sent.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    user.require(P::ReportsRead)
}

/// A report of `tenant` may be made here now.
pub fn check_can_report(reporting: &Reporting, tenant: &str) -> ApiResult<()> {
    if !reporting.section.enabled {
        return Err(ApiError::Warning {
            code: "REPORTING_DISABLED",
            message: "reporting to company is turned off ([reporting] enabled = false)".into(),
            details: serde_json::json!({}),
        });
    }
    let speaks_for = |t: &String| t.eq_ignore_ascii_case(tenant);
    if !reporting.sender_tenants.is_empty() && !reporting.sender_tenants.iter().any(speaks_for) {
        return Err(ApiError::Warning {
            code: "NOT_THIS_CERTIFICATE",
            message: "this server's plane certificates speak for other tenants: reports of yours cannot be sent from here".into(),
            details: serde_json::json!({}),
        });
    }
    Ok(())
}
