//! The dev server's OpenAPI description (paths relative to `/api/v1/dev`).

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(
    crate::releases::keys::register,
    crate::releases::keys::list,
    crate::releases::keys::revoke,
    crate::releases::http::upload,
    crate::releases::http::list,
    crate::releases::http::get,
    crate::releases::http::artifact,
))]
struct DevApi;

/// The dev server's own routes, for the common document builder.
pub fn api() -> utoipa::openapi::OpenApi {
    DevApi::openapi()
}
