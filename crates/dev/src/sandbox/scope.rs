//! Who may use the sandbox — every rule in one place.
//!
//! - `sandbox.read` (developer, admin): the summary, hospitals, staff,
//!   patients, records and the export; all synthetic, read-only.
//! - `sandbox.reset` (developer): replace the sandbox with a fresh
//!   generation from a seed.

use common::auth::AuthUser;
use common::ApiResult;

use crate::DevPermission as P;

/// May read the sandbox.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    user.require(P::SandboxRead)
}

/// May regenerate the sandbox.
pub fn require_resetter(user: &AuthUser) -> ApiResult<()> {
    user.require(P::SandboxReset)
}

/// Whether the page shows the reset form.
pub fn may_reset(user: &AuthUser) -> bool {
    user.can(P::SandboxReset)
}
