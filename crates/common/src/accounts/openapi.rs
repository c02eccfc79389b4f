//! The OpenAPI description of the account routes every server mounts
//! (paths relative to the server's API prefix), and the shapes of the
//! answers their handlers build with `json!` (documentation only).

use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(paths(
    super::login::login,
    super::http::logout,
    super::http::me,
    super::password_change::change_password,
    super::http::list_users,
    super::http::create_user,
    super::http::get_user,
    super::http::update_user,
    super::http::set_active,
    super::http::list_audit,
    super::http::verify_audit,
    super::mfa::setup,
    super::mfa::confirm,
    super::mfa::verify,
    super::mfa::disable,
    super::mfa::reset,
))]
struct AccountsApi;

/// The account routes' part of a server's document.
pub fn api() -> utoipa::openapi::OpenApi {
    AccountsApi::openapi()
}

/// A successful login.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoginReply {
    /// The bearer token.
    access_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until it expires.
    expires_in: i64,
    /// Who logged in.
    user: LoginUser,
    /// The password must be changed (`POST …/auth/password`) before
    /// anything but `auth/me`, `auth/password` and `auth/logout`.
    must_change_password: bool,
}

/// The account in a login answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoginUser {
    /// User id.
    id: String,
    /// Login name.
    username: String,
    /// Role.
    role: String,
    /// Tenant (hospital only).
    #[schema(required = false)]
    tenant_id: String,
}

/// A changed password.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PasswordChanged {
    /// Always true.
    changed: bool,
    /// A new bearer token (the old ones are no longer valid).
    access_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until it expires.
    expires_in: i64,
}

/// A logout.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoggedOut {
    /// Always true.
    logged_out: bool,
}
