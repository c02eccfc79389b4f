//! The owner's OpenAPI description (paths relative to `/api/v1/owner`).

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(
    crate::tenants::http::list,
    crate::tenants::http::get,
    crate::tenants::http::create,
    crate::tenants::http::update,
    crate::tenants::http::database_health,
    crate::tenants::http::users,
    crate::tenants::commands::create_user,
    crate::tenants::commands::list,
    crate::tenants::commands::sync_now,
    crate::tenants::backups::http::list,
    crate::plans::http::list,
    crate::plans::http::get,
    crate::plans::http::create,
    crate::plans::http::update,
    crate::update::get,
))]
struct OwnerApi;

/// The owner's own routes, for the common document builder.
pub fn api() -> utoipa::openapi::OpenApi {
    OwnerApi::openapi()
}
