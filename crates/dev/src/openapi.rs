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
    crate::sandbox::http::summary,
    crate::sandbox::http::reset,
    crate::sandbox::http::hospitals,
    crate::sandbox::http::staff,
    crate::sandbox::http::patients,
    crate::sandbox::http::patient,
    crate::sandbox::http::records,
    crate::sandbox::http::export,
    crate::config_versions::http::create,
    crate::config_versions::http::list,
    crate::config_versions::http::get,
    crate::config_versions::http::document,
    crate::config_versions::http::rollback,
    crate::config_versions::http::publish,
))]
struct DevApi;

/// The dev server's own routes, for the common document builder.
pub fn api() -> utoipa::openapi::OpenApi {
    DevApi::openapi()
}
