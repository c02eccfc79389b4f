//! Who may do what with signing keys and releases on dev — every rule in
//! one place; the handlers and pages only call these.
//!
//! - Releases: `releases.read` lists and downloads (developer, admin);
//!   `releases.upload` uploads (developer).
//! - Keys: `releases.keys` registers a key for oneself and lists every key
//!   (developer); `releases.keys_manage` lists and revokes any key (admin).
//!   A developer revokes only their own keys.

use common::auth::AuthUser;
use common::{ApiError, ApiResult};

use super::keys::KeyRow;
use crate::DevPermission as P;

/// May list and download releases.
pub fn require_release_reader(user: &AuthUser) -> ApiResult<()> {
    user.require(P::ReleasesRead)
}

/// May upload releases.
pub fn require_uploader(user: &AuthUser) -> ApiResult<()> {
    user.require(P::ReleasesUpload)
}

/// May register a signing key of their own.
pub fn require_key_holder(user: &AuthUser) -> ApiResult<()> {
    user.require(P::ReleasesKeys)
}

/// May see keys: developers and admins.
pub fn require_key_reader(user: &AuthUser) -> ApiResult<()> {
    user.require(P::ReleasesKeys)
        .or_else(|_| user.require(P::ReleasesKeysManage))
}

/// Whether `user` sees a revoke button for `key` (the page).
pub fn may_revoke(user: &AuthUser, owner_id: &str) -> bool {
    user.can(P::ReleasesKeysManage) || (user.can(P::ReleasesKeys) && owner_id == user.id)
}

/// May revoke `key`: its owner, or an admin.
pub fn check_revoker(user: &AuthUser, key: &KeyRow) -> ApiResult<()> {
    require_key_reader(user)?;
    if may_revoke(user, &key.owner_id) {
        return Ok(());
    }
    Err(ApiError::Forbidden(
        "only the key's owner or an admin may revoke it".into(),
    ))
}
