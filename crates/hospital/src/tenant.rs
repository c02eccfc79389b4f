//! The tenant of a request: always the caller's (the token's tenant, which
//! the auth extractor already checked against an on-site server's pin).

use common::auth::AuthUser;
use common::{ApiError, ApiResult};

/// The caller's tenant; every hospital query filters on it.
pub fn tenant_of(user: &AuthUser) -> ApiResult<String> {
    user.tenant()
        .map(str::to_string)
        .ok_or_else(|| ApiError::Unauthenticated("a hospital token must name a tenant".into()))
}
