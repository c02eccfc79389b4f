//! Who may see the system view: `system.read` (admin) — it shows every
//! server's delivery state, anchor mismatches and certificates.

use common::auth::AuthUser;
use common::ApiResult;

use crate::CompanyPermission as P;

/// May read the system view.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    user.require(P::SystemRead)
}
