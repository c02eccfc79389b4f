//! The tenant of a request: always the caller's (the token's tenant, which
//! the auth extractor already checked against an on-site server's pin).

use actix_web::web;
use common::auth::AuthUser;
use common::crypto::Keyring;
use common::{ApiError, ApiResult};

/// The caller's tenant; every hospital query filters on it.
pub fn tenant_of(user: &AuthUser) -> ApiResult<String> {
    user.tenant()
        .map(str::to_string)
        .ok_or_else(|| ApiError::Unauthenticated("a hospital token must name a tenant".into()))
}

/// The hospital's keyring (always present: the spec asks for one).
pub fn keyring_of(k: &Option<web::Data<Keyring>>) -> ApiResult<Keyring> {
    k.as_ref()
        .map(|k| k.get_ref().clone())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the hospital runs without a keyring")))
}
