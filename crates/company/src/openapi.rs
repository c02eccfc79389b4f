//! The company's OpenAPI description (paths relative to `/api/v1/company`).

use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(paths(
    crate::security_events::http::list,
    crate::anchors::http::list,
    crate::releases::http::list,
    crate::releases::http::get,
    crate::releases::http::promote,
    crate::releases::http::approve,
    crate::releases::http::reject,
    crate::releases::http::approval_key,
    crate::teams::http::list,
    crate::teams::http::create,
    crate::teams::http::get,
    crate::teams::http::update,
    crate::teams::http::delete,
    crate::teams::http::add_member,
    crate::teams::http::remove_member,
    crate::system::http::get,
    crate::alerts::http::list_rules,
    crate::alerts::http::create_rule,
    crate::alerts::http::update_rule,
    crate::alerts::http::delete_rule,
    crate::alerts::http::list_alerts,
    crate::alerts::http::acknowledge,
    crate::reports::http::list,
    crate::reports::http::series,
    crate::reports::http::export
))]
struct CompanyApi;

/// The company's own routes, for the common document builder.
pub fn api() -> utoipa::openapi::OpenApi {
    CompanyApi::openapi()
}

/// An audit anchor as listed: the shape of `contracts::AuditAnchor`,
/// written out here so the wire-types crate needs no OpenAPI dependency.
#[derive(ToSchema)]
#[schema(as = AuditAnchor)]
#[allow(dead_code)]
pub struct AnchorView {
    /// `hospital`, `owner`, `dev`.
    source_service: String,
    /// The tenant (hospital) or empty.
    source_tenant: String,
    /// Chain position.
    seq: i64,
    /// Hash at that position.
    hash: String,
    /// When company received it (UTC).
    received_at: chrono::NaiveDateTime,
}
