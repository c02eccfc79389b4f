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
    super::sessions::refresh,
    super::sessions::list_sessions,
    super::sessions::end_session,
    super::sessions::end_user_sessions,
    super::roles::list_permissions,
    super::roles::list_roles,
    super::roles::create_role,
    super::roles::get_role,
    super::roles::change_role,
    super::roles::delete_role,
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
    /// Opaque; `POST /auth/refresh` exchanges it (once) for a new access
    /// token and the next refresh token.
    refresh_token: String,
    /// The server-side session this login opened.
    session_id: String,
    /// When the session ends however active (absolute lifetime).
    session_expires_at: String,
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
    /// The refresh token of the new session (every other session ended).
    refresh_token: String,
}

/// A logout.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoggedOut {
    /// Always true.
    logged_out: bool,
}

/// A refreshed session.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RefreshReply {
    /// The new bearer token.
    access_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until it expires.
    expires_in: i64,
    /// The next refresh token (the one presented is spent).
    refresh_token: String,
    /// The session.
    session_id: String,
    /// When the session ends however active.
    session_expires_at: String,
}

/// One session ended.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SessionEnded {
    /// Always true.
    ended: bool,
}

/// A user's sessions ended.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SessionsEnded {
    /// How many were open.
    ended: i64,
}
