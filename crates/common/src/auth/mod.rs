//! Authentication: tokens, passwords, and the `AuthUser` extractor.

pub mod clock;
pub mod mfa;
pub mod password;
pub mod session;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::accounts::store;
use crate::config::Config;
use crate::db::Db;
use crate::error::ApiError;
use crate::http::ratelimit::{PairThrottle, PerAddress};
use crate::rbac::{LivePolicy, Permission, Policy};
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

/// What a server's own tenancy rules add to the kernel's account rules.
/// The kernel knows no tenant status or plan; a server that has them
/// (hospital: as owner last reported them) hands one of these in its
/// [`Spec`](crate::server::Spec), and the login and account creation ask it.
pub trait TenantGate: Send + Sync {
    /// Refuse a login into `tenant` (asked after the password matched,
    /// before a token is issued).
    fn check_login(&self, conn: &mut crate::db::DbConn, tenant: &str) -> Result<(), ApiError>;
    /// Refuse a new account of `role` in `tenant` (asked in the
    /// transaction that inserts it).
    fn check_new_account(
        &self,
        conn: &mut crate::db::DbConn,
        tenant: &str,
        role: &str,
    ) -> Result<(), ApiError>;
}

/// Everything the extractor and the account handlers need. One per app.
pub struct AuthContext {
    /// Which server this is.
    pub service: Service,
    /// Token keys.
    pub keys: TokenKeys,
    /// Role → permissions: the defaults and, per tenant, the roles stored
    /// through the roles API (cached; see [`LivePolicy`]).
    pub policy: Arc<LivePolicy>,
    /// Tenancy.
    pub tenants: TenantRule,
    /// bcrypt cost.
    pub bcrypt_cost: u32,
    /// Login password checks (counted; one per attempt, whatever the outcome).
    pub verifier: password::Verifier,
    /// Failed logins before an account is delayed and an address blocked.
    pub lockout_threshold: i32,
    /// How long an address that reached the threshold is refused for that account.
    pub lockout_minutes: i64,
    /// The longest per-account delay, in seconds.
    pub account_delay_max_secs: i64,
    /// Failures per (account, client address).
    pub pair_throttle: PairThrottle,
    /// Login attempts per client address, if limited.
    pub login_limiter: Option<PerAddress>,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Minutes an enrolment code stays valid.
    pub enrolment_code_minutes: i64,
    /// TOTP second factor: MFA tokens, sealed secrets, backup code hashes.
    pub mfa: mfa::MfaKeys,
    /// Roles that must use MFA; without it such an account may only enrol.
    pub mfa_required_roles: Vec<String>,
    /// The clock sessions are judged by (tests move it).
    pub clock: clock::Clock,
    /// Absolute session lifetime in seconds.
    pub session_absolute_secs: i64,
    /// Idle timeout of the roles in `session_idle_roles`.
    pub session_idle_secs: i64,
    /// Idle timeout of every other role.
    pub session_idle_other_secs: i64,
    /// Roles held to `session_idle_secs`.
    pub session_idle_roles: Vec<String>,
    /// The server's tenancy rules (status, plan), if it has any.
    pub gate: Option<&'static dyn TenantGate>,
    /// Key for [`AuthContext::login_name_tag`] (derived from the token secret).
    name_key: [u8; 32],
}

impl AuthContext {
    /// The context of `service` from its configuration and token secret.
    pub fn from_config(
        service: Service,
        secret: &SecretString,
        policy: Arc<LivePolicy>,
        tenants: TenantRule,
        config: &Config,
    ) -> anyhow::Result<Self> {
        let auth = &config.auth;
        let keys = TokenKeys::new(secret, &service.token_issuer(), auth.token_ttl_secs);
        let issuer = service.token_issuer();
        let mfa = mfa::MfaKeys::new(secret, &issuer, &issuer)?;
        let mfa_required_roles = config.mfa_required_roles(service);
        if let Some(unknown) = mfa_required_roles
            .iter()
            .find(|r| !policy.base().roles().any(|known| known == r.as_str()))
        {
            anyhow::bail!("auth.mfa_required_roles: {unknown} is not a role of this server");
        }
        if let Some(unknown) = auth
            .session_idle_roles
            .iter()
            .find(|r| !policy.base().roles().any(|known| known == r.as_str()))
        {
            anyhow::bail!("auth.session_idle_roles: {unknown} is not a role of this server");
        }
        let minutes = u64::try_from(auth.lockout_minutes).unwrap_or(15);
        let threshold = u32::try_from(auth.lockout_threshold).unwrap_or(5);
        Ok(Self {
            service,
            keys,
            policy,
            tenants,
            bcrypt_cost: auth.bcrypt_cost,
            verifier: password::Verifier::new(auth.bcrypt_cost)?,
            lockout_threshold: auth.lockout_threshold,
            lockout_minutes: auth.lockout_minutes,
            account_delay_max_secs: auth.account_delay_max_secs,
            pair_throttle: PairThrottle::new(threshold, Duration::from_secs(minutes * 60)),
            login_limiter: PerAddress::per_minute(auth.login_attempts_per_minute),
            trusted_proxies: crate::http::origin::parse_proxies(&config.server.trusted_proxies)?,
            enrolment_code_minutes: auth.enrolment_code_minutes,
            mfa,
            mfa_required_roles,
            clock: clock::Clock::default(),
            session_absolute_secs: auth.session_absolute_secs,
            session_idle_secs: auth.session_idle_secs,
            session_idle_other_secs: auth.session_idle_other_secs,
            session_idle_roles: auth.session_idle_roles.clone(),
            gate: None,
            name_key: derive_key(secret, b"bulkhead login-name tag v1"),
        })
    }

    /// A keyed hash of a typed login name that matched no account: the same
    /// name gives the same tag (so repeated attempts correlate in the audit
    /// log and on the company server) without the name leaving the server.
    pub fn login_name_tag(&self, name: &str) -> String {
        // HMAC takes keys of any length; the error arm cannot happen.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.name_key) else {
            return "unknown".into();
        };
        mac.update(name.to_lowercase().as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("unknown:{}", hex::encode(&tag[..12]))
    }
}

/// A 32-byte key for one purpose from the server's token secret.
fn derive_key(secret: &SecretString, purpose: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = Sha256::new();
    h.update(purpose);
    h.update(secret.expose_secret().as_bytes());
    h.finalize().into()
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
    /// The server-side session (`auth_sessions.id`).
    pub session_id: String,
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

    /// The policy this request is judged by (the caller's tenant's, as
    /// it stood when the request was authenticated).
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// Whether the caller holds the server's admin role.
    pub fn is_admin(&self) -> bool {
        self.role == self.policy.admin_role()
    }

    /// The caller's tenant, if any.
    pub fn tenant(&self) -> Option<&str> {
        Some(self.tenant_id.as_str()).filter(|t| !t.is_empty())
    }

    /// Every role of this server (for the pages' filters and forms).
    pub fn roles(&self) -> Vec<String> {
        self.policy.roles().map(str::to_string).collect()
    }

    /// Every role of this server with its permissions (the users page).
    pub fn role_permissions(&self) -> Vec<(String, Vec<String>)> {
        self.policy
            .roles()
            .map(|r| {
                let perms = self.policy.permissions_of(r);
                (
                    r.to_string(),
                    perms.into_iter().map(str::to_string).collect(),
                )
            })
            .collect()
    }

    /// The caller of a web session the web extractor has checked against
    /// the same rules as a token (revocation, epoch, active).
    pub(crate) fn from_session(
        user: store::User,
        jti: String,
        expires_at: i64,
        session_id: String,
        policy: Arc<Policy>,
    ) -> Self {
        Self {
            id: user.id,
            username: user.username,
            role: user.role,
            tenant_id: user.tenant_id,
            jti,
            expires_at,
            session_id,
            policy,
        }
    }
}

impl AuthContext {
    /// The idle timeout, in seconds, of a session of `role`.
    pub fn idle_secs_for(&self, role: &str) -> i64 {
        if self.session_idle_roles.iter().any(|r| r == role) {
            self.session_idle_secs
        } else {
            self.session_idle_other_secs
        }
    }

    /// Whether `role` must use a second factor on this server.
    pub fn mfa_required_for(&self, role: &str) -> bool {
        self.mfa_required_roles.iter().any(|r| r == role)
    }
}

/// What an account whose role needs MFA, and has none, may still do.
fn allowed_before_mfa(path: &str) -> bool {
    [
        "/auth/mfa/totp/setup",
        "/auth/mfa/totp/confirm",
        "/auth/me",
        "/auth/logout",
        "/auth/password",
    ]
    .iter()
    .any(|p| path.ends_with(p))
}

/// What an account that must change its password may still do.
fn allowed_before_password_change(path: &str) -> bool {
    ["/auth/password", "/auth/me", "/auth/logout"]
        .iter()
        .any(|p| path.ends_with(p))
}

pub(crate) fn bearer(req: &HttpRequest) -> Option<String> {
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

/// Check a bearer token as every request does: signature, issuer, audience
/// and expiry; the tenant; not revoked; the account active, of the token's
/// role and epoch; its server-side session alive at the context's clock.
/// `touch` notes the use on the session (a request); the real-time channel
/// re-checks an open socket with `touch` off (a socket is not activity).
pub async fn check_token(
    ctx: &AuthContext,
    db: &Db,
    token: &str,
    touch: bool,
) -> Result<Checked, ApiError> {
    let claims = ctx.keys.verify(token)?;
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
    let sid = claims.sid.clone();
    let found = db
        .run_quick(move |conn| store::find_for_request(conn, &sub, &jti, sid.as_deref()))
        .await?;
    let ((user, revoked, session), mfa_enabled) =
        found.ok_or_else(|| ApiError::Unauthenticated("invalid or expired token".into()))?;
    if revoked {
        return Err(ApiError::Unauthenticated(
            "this token has been revoked".into(),
        ));
    }
    let tenant_ok = claims.tenant_id.as_deref().unwrap_or("") == user.tenant_id;
    // A password change, reset, deactivation or role change since
    // the token was issued raised the epoch.
    let epoch_ok = claims.sep == user.session_epoch;
    if !user.active || user.role != claims.role || !tenant_ok || !epoch_ok {
        return Err(ApiError::Unauthenticated(
            "this token is no longer valid; log in again".into(),
        ));
    }
    // The token's server-side session: ended, past its absolute
    // lifetime or idle past its timeout refuses the token.
    let session =
        session.ok_or_else(|| ApiError::Unauthenticated("invalid or expired token".into()))?;
    let at = ctx.clock.now();
    session
        .check(at)
        .map_err(|dead| ApiError::Unauthenticated(dead.message().into()))?;
    if touch && session.needs_touch(at) {
        // At most one write a minute per session, not one per request.
        let id = session.id.clone();
        db.write(move |c| session::touch(c, &id, at)).await?;
    }
    Ok(Checked {
        user,
        claims,
        session,
        mfa_enabled,
    })
}

/// A token that passed [`check_token`]: its user, claims and server-side
/// session, and whether the user has a confirmed second factor (read in the
/// same query).
pub struct Checked {
    /// The token's user, active and on the token's epoch and role.
    pub user: store::User,
    /// The verified claims.
    pub claims: token::Claims,
    /// The live server-side session.
    pub session: session::AuthSession,
    /// Whether a second factor is confirmed.
    pub mfa_enabled: bool,
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        Box::pin(authenticate(req.clone(), token))
    }
}

/// The caller of `req` presenting `token` (the `Authorization` header's, or
/// the one the real-time channel reads from its subprotocol header), by
/// the same rules as every request.
pub async fn authenticate(req: HttpRequest, token: Option<String>) -> Result<AuthUser, ApiError> {
    let ctx = req.app_data::<web::Data<AuthContext>>().cloned();
    let db = req.app_data::<web::Data<Db>>().cloned();
    let (Some(ctx), Some(db)) = (ctx, db) else {
        return Err(ApiError::Internal(anyhow::anyhow!("auth context missing")));
    };
    let token =
        token.ok_or_else(|| ApiError::Unauthenticated("a bearer token is required".into()))?;
    let Checked {
        user,
        claims,
        session,
        mfa_enabled,
    } = check_token(&ctx, &db, &token, true).await?;
    if user.must_change_password && !allowed_before_password_change(req.path()) {
        return Err(ApiError::Forbidden(
            "change your password first (POST …/auth/password)".into(),
        ));
    }
    if ctx.mfa_required_for(&user.role) && !allowed_before_mfa(req.path()) && !mfa_enabled {
        return Err(ApiError::Forbidden(
            "your role needs a second factor: enrol first (POST …/auth/mfa/totp/setup)".into(),
        ));
    }
    // The live policy of the caller's tenant: a permission removed since
    // the token was issued no longer works.
    let policy = ctx.policy.current(&db, &user.tenant_id).await?;
    let user = AuthUser {
        id: user.id,
        username: user.username,
        role: user.role,
        tenant_id: user.tenant_id,
        jti: claims.jti,
        expires_at: claims.exp,
        session_id: session.id,
        policy,
    };
    // For the middleware: a refusal after this is raised as a security event.
    actix_web::HttpMessage::extensions_mut(&req).insert(user.clone());
    Ok(user)
}
