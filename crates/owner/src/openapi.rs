//! The owner's OpenAPI description (paths relative to `/api/v1/owner`).

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(crate::tenants::http::list, crate::tenants::http::get))]
struct OwnerApi;

/// The owner's own routes, for the common document builder.
pub fn api() -> utoipa::openapi::OpenApi {
    OwnerApi::openapi()
}
