//! Who may do what with teams — every rule in one place; the handlers and
//! pages only call these.
//!
//! - Reading teams and their members: `teams.manage` (admin) or
//!   `teams.manage_own` (team lead): every team.
//! - Creating, renaming, deleting a team and setting its lead:
//!   `teams.manage` only.
//! - Adding and removing members: `teams.manage`, or `teams.manage_own`
//!   on a team whose lead is the caller.

use common::auth::AuthUser;
use common::{ApiError, ApiResult};

use super::store::TeamRow;
use crate::CompanyPermission as P;

/// May read teams.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    user.require(P::TeamsManage)
        .or_else(|_| user.require(P::TeamsManageOwn))
}

/// May create, rename and delete teams and set their leads.
pub fn require_admin(user: &AuthUser) -> ApiResult<()> {
    user.require(P::TeamsManage)
}

/// May change the members of some team (checked before reading input).
pub fn require_member_manager(user: &AuthUser) -> ApiResult<()> {
    require_reader(user)
}

/// May change the members of `team`.
pub fn may_change_members(user: &AuthUser, team: &TeamRow) -> ApiResult<()> {
    if user.can(P::TeamsManage) {
        return Ok(());
    }
    user.require(P::TeamsManageOwn)?;
    if team.lead_user_id.as_deref() == Some(user.id.as_str()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "you may change the members of the teams you lead only".into(),
        ))
    }
}

/// Whether the page shows the member form of `team`.
pub fn shows_member_form(user: &AuthUser, team: &TeamRow) -> bool {
    may_change_members(user, team).is_ok()
}
