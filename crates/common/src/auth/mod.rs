//! Authentication: tokens, passwords, and the `AuthUser` extractor.

pub mod password;
pub mod token;

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::accounts::store;
use crate::db::Db;
use crate::error::ApiError;
use crate::rbac::{Permission, Policy};
use crate::service::Service;
use token::TokenKeys;

/// Which tenants a server accepts tokens for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantRule {
    /// Not a tenanted server (company, dev, owner).
    None,
    /// On-site hospital: only this tenant.
    Pinned(String),
    /// Hosted hospital: the tenant in the token.
    Hosted,
}

/// Everything the extractor and the account handlers need. One per app.
pub struct AuthContext {
    /// Which server this is.
    pub service: Service,
    /// Token keys.
    pub keys: TokenKeys,
    /// Role → permissions.
    pub policy: Arc<Policy>,
    /// Tenancy.
    pub tenants: TenantRule,
    /// bcrypt cost.
    pub bcrypt_cost: u32,
    /// Failed logins before lockout.
    pub lockout_threshold: i32,
    /// Lockout length.
    pub lockout_minutes: i64,
    /// Login attempts per client address, if limited.
    pub login_limiter: Option<crate::http::ratelimit::PerAddress>,
}

/// An authenticated caller: the token checked, not revoked, the user active
/// and still holding the role the token names.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// User id.
    pub id: String,
    /// Username.
    pub username: String,
    /// Role.
    pub role: String,
    /// Tenant (`""` off hospital).
    pub tenant_id: String,
    /// Token id.
    pub jti: String,
    /// Token expiry (unix seconds).
    pub expires_at: i64,
    policy: Arc<Policy>,
}

impl AuthUser {
    /// Refuse with 403 unless the caller's role has `permission`.
    pub fn require(&self, permission: impl Permission) -> Result<(), ApiError> {
        if self.policy.allows(&self.role, permission.name()) {
            Ok(())
        } else {
            tracing::warn!(user = %self.id, role = %self.role, permission = permission.name(), "permission refused");
            Err(ApiError::Forbidden(format!(
                "your role may not do this ({})",
                permission.name()
            )))
        }
    }

    /// Whether the caller's role has `permission` (for scoping; use
    /// [`AuthUser::require`] to refuse).
    pub fn can(&self, permission: impl Permission) -> bool {
        self.policy.allows(&self.role, permission.name())
    }

    /// Whether `role` (any role of this server) has `permission`.
    pub fn role_can(&self, role: &str, permission: impl Permission) -> bool {
        self.policy.allows(role, permission.name())
    }

    /// Whether the caller holds the server's admin role.
    pub fn is_admin(&self) -> bool {
        self.role == self.policy.admin_role()
    }

    /// The caller's tenant, if any.
    pub fn tenant(&self) -> Option<&str> {
        Some(self.tenant_id.as_str()).filter(|t| !t.is_empty())
    }
}

/// What an account that must change its password may still do.
fn allowed_before_password_change(path: &str) -> bool {
    ["/auth/password", "/auth/me", "/auth/logout"]
        .iter()
        .any(|p| path.ends_with(p))
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ctx = req.app_data::<web::Data<AuthContext>>().cloned();
        let db = req.app_data::<web::Data<Db>>().cloned();
        let token = bearer(req);
        let req = req.clone();
        Box::pin(async move {
            let (Some(ctx), Some(db)) = (ctx, db) else {
                return Err(ApiError::Internal(anyhow::anyhow!("auth context missing")));
            };
            let token = token
                .ok_or_else(|| ApiError::Unauthenticated("a bearer token is required".into()))?;
            let claims = ctx.keys.verify(&token)?;
            match (&ctx.tenants, &claims.tenant_id) {
                (TenantRule::None, None) | (TenantRule::Hosted, Some(_)) => {}
                (TenantRule::Pinned(t), Some(c)) if t == c => {}
                _ => {
                    return Err(ApiError::Unauthenticated(
                        "this token is not valid for this server's tenant".into(),
                    ))
                }
            }
            let jti = claims.jti.clone();
            let sub = claims.sub.clone();
            let (revoked, user) = db
                .run(move |conn| {
                    Ok((
                        store::is_revoked(conn, &jti)?,
                        store::find_by_id(conn, &sub)?,
                    ))
                })
                .await?;
            if revoked {
                return Err(ApiError::Unauthenticated(
                    "this token has been revoked".into(),
                ));
            }
            let user =
                user.ok_or_else(|| ApiError::Unauthenticated("invalid or expired token".into()))?;
            let tenant_ok = claims.tenant_id.as_deref().unwrap_or("") == user.tenant_id;
            if !user.active || user.role != claims.role || !tenant_ok {
                return Err(ApiError::Unauthenticated(
                    "this token is no longer valid; log in again".into(),
                ));
            }
            if user.must_change_password && !allowed_before_password_change(req.path()) {
                return Err(ApiError::Forbidden(
                    "change your password first (POST …/auth/password)".into(),
                ));
            }
            let user = AuthUser {
                id: user.id,
                username: user.username,
                role: user.role,
                tenant_id: user.tenant_id,
                jti: claims.jti,
                expires_at: claims.exp,
                policy: ctx.policy.clone(),
            };
            // For the middleware: a refusal after this is raised as a security event.
            actix_web::HttpMessage::extensions_mut(&req).insert(user.clone());
            Ok(user)
        })
    }
}
