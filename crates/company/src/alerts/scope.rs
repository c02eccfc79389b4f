//! Who may see and change alerts — one place; handlers and pages call it.
//!
//! - Reading alerts and alert rules: `system.read` (admin): they describe
//!   every server's security events, which only the admin reads.
//! - Adding, changing, deleting rules and acknowledging alerts:
//!   `alerts.manage` (admin).

use common::auth::AuthUser;
use common::{ApiError, ApiResult};

use super::store::Alert;
use crate::CompanyPermission as P;

/// May read alerts and rules.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    user.require(P::SystemRead)
}

/// May change rules and acknowledge alerts.
pub fn require_manager(user: &AuthUser) -> ApiResult<()> {
    user.require(P::AlertsManage)
}

/// `alert` may be acknowledged now (once).
pub fn check_acknowledgeable(alert: &Alert) -> ApiResult<()> {
    if alert.acknowledged_at.is_some() {
        return Err(ApiError::Conflict(
            "the alert has been acknowledged already".into(),
        ));
    }
    Ok(())
}
