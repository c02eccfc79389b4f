//! Who may do what with configuration versions — every rule in one place.
//!
//! - `config.read` (developer, admin): list versions, read one with its
//!   difference, fetch its canonical document.
//! - `config.write` (developer): add a version, roll back (a new version),
//!   publish a version with the release that signs it.

use common::auth::AuthUser;
use common::ApiResult;

use crate::DevPermission as P;

/// May read versions.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    user.require(P::ConfigRead)
}

/// May add, roll back and publish versions.
pub fn require_writer(user: &AuthUser) -> ApiResult<()> {
    user.require(P::ConfigWrite)
}
