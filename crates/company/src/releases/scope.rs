//! Who may take a release where — every rule of the two-person path in
//! one place; the handlers only call these.
//!
//! - Reading releases: `releases.read` (admin, team lead, production).
//! - Promoting: `releases.promote` (production), a candidate only, its
//!   signing key not revoked and its signature still checking.
//! - Approving: `releases.approve` (team lead), a promoted release only,
//!   by a second person — never the one who promoted it, never the
//!   developer who signed it (same username on dev: one person, one
//!   username across the corporate servers) — its key not revoked.
//! - Rejecting: either of the two, before approval, with a reason.
//! - Hospitals and owner (internal plane): approved releases only; anything
//!   else does not exist for them.

use common::auth::AuthUser;
use common::{ApiError, ApiResult};
use serde_json::json;

use super::store::{status, KeyRow, ReleaseRow};
use crate::CompanyPermission as P;

/// May read releases.
pub fn require_reader(user: &AuthUser) -> ApiResult<()> {
    user.require(P::ReleasesRead)
}

/// May promote releases.
pub fn require_promoter(user: &AuthUser) -> ApiResult<()> {
    user.require(P::ReleasesPromote)
}

/// May approve releases.
pub fn require_approver(user: &AuthUser) -> ApiResult<()> {
    user.require(P::ReleasesApprove)
}

/// May reject releases (either side of the two-person rule).
pub fn require_rejecter(user: &AuthUser) -> ApiResult<()> {
    user.require(P::ReleasesPromote)
        .or_else(|_| user.require(P::ReleasesApprove))
}

fn in_status(row: &ReleaseRow, wanted: &str, verb: &str) -> ApiResult<()> {
    if row.status == wanted {
        return Ok(());
    }
    Err(ApiError::Conflict(format!(
        "the release is {}; only a {wanted} release can be {verb}",
        row.status
    )))
}

/// The key still trusted and the signature still checking.
fn signed_by_trusted_key(row: &ReleaseRow, key: Option<&KeyRow>) -> ApiResult<()> {
    let Some(key) = key else {
        return Err(ApiError::Warning {
            code: "SIGNATURE_INVALID",
            message: "the release's signing key is not one dev publishes".into(),
            details: json!({ "signing_key_id": row.signing_key_id }),
        });
    };
    if key.revoked_at.is_some() {
        return Err(ApiError::Warning {
            code: "SIGNING_KEY_REVOKED",
            message: "the developer's signing key has been revoked on dev; the release cannot go to production".into(),
            details: json!({ "signing_key_id": key.id }),
        });
    }
    if !contracts::release::verify(&key.public_key, &row.manifest(), &row.signature) {
        return Err(ApiError::Warning {
            code: "SIGNATURE_INVALID",
            message: "the developer's signature does not verify".into(),
            details: json!({ "signing_key_id": key.id }),
        });
    }
    Ok(())
}

/// `row` may be promoted now.
pub fn check_promotable(row: &ReleaseRow, key: Option<&KeyRow>) -> ApiResult<()> {
    in_status(row, status::CANDIDATE, "promoted")?;
    signed_by_trusted_key(row, key)
}

/// `user` may approve `row` now: a promoted release, a trusted key, and a
/// second person.
pub fn check_approvable(row: &ReleaseRow, key: Option<&KeyRow>, user: &AuthUser) -> ApiResult<()> {
    in_status(row, status::PROMOTED, "approved")?;
    if row.promoted_by.as_deref() == Some(user.id.as_str()) {
        return Err(ApiError::Refused {
            code: "SAME_PERSON",
            message: "the person who promoted a release cannot approve it: a second person must"
                .into(),
        });
    }
    if row.signer_username.eq_ignore_ascii_case(&user.username) {
        return Err(ApiError::Refused {
            code: "SIGNER_CANNOT_APPROVE",
            message: "the developer who signed a release cannot approve it".into(),
        });
    }
    signed_by_trusted_key(row, key)
}

/// `row` may still be rejected.
pub fn check_rejectable(row: &ReleaseRow) -> ApiResult<()> {
    if row.status == status::CANDIDATE || row.status == status::PROMOTED {
        return Ok(());
    }
    Err(ApiError::Conflict(format!(
        "the release is {}; only a candidate or promoted release can be rejected",
        row.status
    )))
}

/// A hospital or owner may have `row`'s artifact: approved releases only
/// (404 otherwise — a candidate does not exist for them).
pub fn check_served_to_servers(row: &ReleaseRow) -> ApiResult<()> {
    if row.status == status::APPROVED {
        return Ok(());
    }
    Err(ApiError::NotFound("no such approved release".into()))
}
