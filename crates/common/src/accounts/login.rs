//! `POST …/auth/login`.
//!
//! What an answer may not tell an attacker: whether the name exists, in how
//! many tenants, or whether the account is locked or inactive. So every
//! failure is the same 401, and every attempt, whatever the outcome, costs
//! exactly one bcrypt verification (against a stand-in hash when there is
//! no account) before anything is decided.
//!
//! Guessing is paced as NIST 800-63B 5.2.2 asks, without handing anyone a
//! tool to lock others out:
//! - per client address, across accounts ([`PerAddress`](crate::http::ratelimit::PerAddress));
//! - per (account, address): after `lockout_threshold` failures that
//!   address is refused for that account for `lockout_minutes`;
//! - per account, from anywhere: from the threshold on, each failure delays
//!   the next attempt by a doubling delay capped at `account_delay_max_secs`,
//!   so the owner, from another address, gets in after at most that.
//!
//! Failures are counted atomically in the database (concurrent guesses each
//! count), audited and raised as security events; reaching the threshold
//! is raised at critical severity.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::store::{self, User};
use crate::audit::{self, Event, Origin, Severity};
use crate::auth::{mfa, session, AuthContext, TenantRule};
use crate::db::{now, Db, DbConn};
use crate::error::{ApiError, ApiResult};
use crate::http::ratelimit::client_key;
use crate::response;
use crate::security::{self, NewEvent};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginRequest {
    #[schema(min_length = 1, max_length = 254)]
    username: String,
    #[schema(min_length = 1, max_length = 1024)]
    password: String,
    #[schema(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    tenant_id: Option<String>,
}

/// The one answer to every failed login.
pub const BAD_LOGIN: &str = "invalid username or password";

/// Why a login failed (audit detail only; the client never sees it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    UnknownUser,
    BadPassword,
    /// Refused by the per-account delay or the per-(account, address) block.
    Locked,
    Inactive,
    /// A wrong or replayed MFA code (counts like a wrong password).
    BadCode,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::UnknownUser => "unknown_user",
            Failure::BadPassword => "bad_password",
            Failure::Locked => "locked",
            Failure::Inactive => "inactive",
            Failure::BadCode => "bad_mfa_code",
        }
    }
}

#[utoipa::path(post, path = "/auth/login", tag = "auth", summary = "Log in: a bearer token for the other routes",
    description = "`tenant_id` is required on a hosted hospital server and refused elsewhere. Every failed login answers the same 401. With MFA on, the answer is instead `{mfa_required: true, mfa_token, expires_in}`: finish at `POST /auth/mfa/verify`.",
    responses((status = 200, description = "Logged in", body = super::openapi::LoginReply),
        (status = 401, description = "Wrong username or password, or the account is locked or inactive"),
        (status = 429, description = "Too many attempts from this address")))]
pub(super) async fn login(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    origin: Origin,
    body: web::Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let LoginRequest {
        username,
        password,
        tenant_id,
    } = body.into_inner();
    let done = match authenticate(&ctx, &db, origin, username, password, tenant_id).await? {
        Authenticated::Done(done) => *done,
        Authenticated::MfaRequired { mfa_token } => {
            return Ok(response::ok(json!({
                "mfa_required": true,
                "mfa_token": mfa_token,
                "expires_in": crate::auth::mfa::MFA_TOKEN_SECS,
            })))
        }
    };
    Ok(response::ok(logged_in_json(&ctx, done)))
}

/// The answer to a completed login (password, and code if MFA is on).
pub(super) fn logged_in_json(ctx: &AuthContext, done: LoggedIn) -> serde_json::Value {
    let user = done.user;
    let mut user_json = json!({ "id": user.id, "username": user.username, "role": user.role });
    if !user.tenant_id.is_empty() {
        user_json["tenant_id"] = json!(user.tenant_id);
    }
    json!({
        "access_token": done.token,
        "token_type": "Bearer",
        "expires_in": ctx.keys.ttl_secs(),
        "refresh_token": done.refresh_token,
        "session_id": done.session.id,
        "session_expires_at": done.session.expires_at,
        "user": user_json,
        "must_change_password": user.must_change_password,
    })
}

/// The password step's result: logged in, or a code is still needed.
pub enum Authenticated {
    /// Logged in.
    Done(Box<LoggedIn>),
    /// MFA is on: the password was right; `POST …/auth/mfa/verify` with this
    /// token (not an access token) and a code finishes the login.
    MfaRequired {
        /// The short-lived, single-purpose MFA token.
        mfa_token: String,
    },
}

/// A successful login: the token issued, its claims, and the account.
pub struct LoggedIn {
    /// The bearer token.
    pub token: String,
    /// Its claims (the web session keeps the jti, epoch and sid).
    pub claims: crate::auth::token::Claims,
    /// The session's first refresh token (`POST …/auth/refresh`).
    pub refresh_token: String,
    /// The server-side session opened.
    pub session: session::AuthSession,
    /// The account as it was read for the login.
    pub user: User,
}

/// Every rule of a login (pacing, lockout, one bcrypt per attempt, audit,
/// security events), shared by the API and the web login form.
pub async fn authenticate(
    ctx: &web::Data<AuthContext>,
    db: &Db,
    origin: Origin,
    username: String,
    password: String,
    tenant_id: Option<String>,
) -> ApiResult<Authenticated> {
    let client = client_key(origin.ip.as_deref().unwrap_or("unknown"));
    pace_address(ctx, &client)?;
    if username.is_empty() || username.len() > 254 {
        return Err(ApiError::field("username", "must be 1 to 254 characters"));
    }
    if password.is_empty() || password.len() > 1024 {
        return Err(ApiError::field("password", "must be 1 to 1024 characters"));
    }
    let tenant = login_tenant(&ctx.tenants, tenant_id)?;
    let user = match tenant.clone() {
        Some(t) => {
            let name = username.clone();
            db.run(move |c| store::find_for_login(c, &name, &t)).await?
        }
        None => None,
    };
    let throttled = user.as_ref().is_some_and(|u| {
        u.locked_until.is_some_and(|t| t > now()) || ctx.pair_throttle.is_blocked(&u.id, &client)
    });
    // The one bcrypt verification, on every path.
    let verifier = ctx.verifier.clone();
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let matches = web::block(move || verifier.verify(&password, stored.as_deref())).await?;
    let failure = match &user {
        None => Some(Failure::UnknownUser),
        Some(_) if throttled => Some(Failure::Locked),
        Some(_) if !matches => Some(Failure::BadPassword),
        Some(u) if !u.active => Some(Failure::Inactive),
        Some(_) => None,
    };
    match (user, failure) {
        (Some(user), None) => {
            let uid = user.id.clone();
            if db.run(move |c| mfa::is_enabled(c, &uid)).await? {
                let (mfa_token, _) = ctx.mfa.token.issue(
                    &user.id,
                    &user.role,
                    Some(&user.tenant_id),
                    user.session_epoch,
                )?;
                return Ok(Authenticated::MfaRequired { mfa_token });
            }
            succeed(ctx, db, user, &client, origin)
                .await
                .map(|done| Authenticated::Done(Box::new(done)))
        }
        (user, Some(failure)) => {
            let attempt = Attempt {
                actor: match &user {
                    Some(u) => u.id.clone(),
                    None => ctx.login_name_tag(&username),
                },
                tenant: user
                    .as_ref()
                    .map_or(tenant.unwrap_or_default(), |u| u.tenant_id.clone()),
                user_id: user.map(|u| u.id),
                client,
            };
            record_failure(ctx, db, attempt, failure, origin).await?;
            Err(ApiError::Unauthenticated(BAD_LOGIN.into()))
        }
        (None, None) => Err(ApiError::Unauthenticated(BAD_LOGIN.into())),
    }
}

/// Refuse an address that is over the login pace.
pub(super) fn pace_address(ctx: &AuthContext, client: &str) -> ApiResult<()> {
    if let Some(limiter) = &ctx.login_limiter {
        if !limiter.allow(client) {
            tracing::warn!(client, "login rate limit reached");
            return Err(ApiError::RateLimited(
                "too many attempts from this address; wait a minute".into(),
            ));
        }
    }
    Ok(())
}

/// The tenant a login is looked up in (None: nobody can match). On a
/// hosted server the login must name its tenant, so a name is never looked
/// up across tenants (whose answer would tell in how many it exists).
fn login_tenant(rule: &TenantRule, asked: Option<String>) -> ApiResult<Option<String>> {
    match (rule, asked) {
        (TenantRule::None, Some(_)) => {
            Err(ApiError::field("tenant_id", "this server has no tenants"))
        }
        (TenantRule::None, None) => Ok(Some(String::new())),
        // Another tenant on an on-site server finds nobody: the same 401,
        // after the same one verification.
        (TenantRule::Pinned(t), Some(asked)) if &asked != t => Ok(None),
        (TenantRule::Pinned(t), _) => Ok(Some(t.clone())),
        // A tenant id is a UUID; anything else would land in the audit row.
        (TenantRule::Hosted, Some(asked)) if uuid::Uuid::parse_str(&asked).is_err() => {
            Err(ApiError::field("tenant_id", "must be a UUID"))
        }
        (TenantRule::Hosted, Some(asked)) => Ok(Some(asked)),
        (TenantRule::Hosted, None) => Err(ApiError::field(
            "tenant_id",
            "is required on this server (accounts are per tenant)",
        )),
    }
}

/// Who failed to log in, from where.
pub(super) struct Attempt {
    /// The user id, or a keyed tag of the typed name (never the name).
    pub(super) actor: String,
    pub(super) tenant: String,
    /// The account, when the name matched one.
    pub(super) user_id: Option<String>,
    pub(super) client: String,
}

/// Count, audit and raise one failed login; delay the account and block
/// the address when they reach the threshold.
pub(super) async fn record_failure(
    ctx: &web::Data<AuthContext>,
    db: &Db,
    attempt: Attempt,
    failure: Failure,
    origin: Origin,
) -> ApiResult<()> {
    // Only guesses that were checked count: a refused attempt while throttled
    // must not let anyone extend the owner's delay.
    let counts = matches!(failure, Failure::BadPassword | Failure::BadCode);
    let pair_blocked = match (&attempt.user_id, counts) {
        (Some(id), true) => ctx.pair_throttle.fail(id, &attempt.client),
        _ => false,
    };
    let ctx = ctx.clone();
    db.write(move |c| {
        let mut delay_secs = None;
        if let (Some(id), true) = (&attempt.user_id, counts) {
            delay_secs = Some(count_account_failure(c, &ctx, id)?);
        }
        let tenant = Some(attempt.tenant.as_str()).filter(|t| !t.is_empty());
        let event = Event::new(&attempt.actor, "anonymous", "auth.login", "session")
            .outcome("failure")
            .severity(Severity::Warning)
            .tenant(tenant)
            .details(json!({ "reason": failure.as_str() }));
        audit::append(c, &event, &origin)?;
        let ip = json!(origin.ip);
        security::record(
            c,
            &NewEvent::new(
                "auth.login_failed",
                Severity::Warning,
                &attempt.actor,
                tenant,
                json!({ "reason": failure.as_str(), "ip": ip }),
            ),
        )?;
        // Each is raised once: the address block by the one request whose
        // failure reached the threshold for that address (in memory, under
        // a lock), the account delay by the one whose atomic count reached it.
        if pair_blocked {
            let details = json!({ "minutes": ctx.lockout_minutes, "client": attempt.client });
            alert(c, &attempt, tenant, "auth.lockout", details, &origin)?;
        }
        if let Some((n, secs)) = delay_secs.filter(|(n, _)| *n == ctx.lockout_threshold) {
            let details = json!({ "failures": n, "delay_secs": secs });
            alert(
                c,
                &attempt,
                tenant,
                "auth.account_delayed",
                details,
                &origin,
            )?;
        }
        Ok(())
    })
    .await
}

/// Record and raise, at critical severity, a throttle that just engaged.
fn alert(
    conn: &mut DbConn,
    attempt: &Attempt,
    tenant: Option<&str>,
    action: &str,
    details: serde_json::Value,
    origin: &Origin,
) -> ApiResult<()> {
    let event = Event::new(&attempt.actor, "anonymous", action, "session")
        .outcome("failure")
        .severity(Severity::Critical)
        .tenant(tenant)
        .details(details.clone());
    audit::append(conn, &event, origin)?;
    let mut raised = details;
    raised["ip"] = json!(origin.ip);
    security::record(
        conn,
        &NewEvent::new(action, Severity::Critical, &attempt.actor, tenant, raised),
    )?;
    Ok(())
}

/// Count a checked failure of an account (atomically) and, from the
/// threshold on, delay its next login by a doubling delay. Returns the count
/// and the delay set in seconds (0: none).
pub(super) fn count_account_failure(
    conn: &mut DbConn,
    ctx: &AuthContext,
    user_id: &str,
) -> ApiResult<(i32, i64)> {
    let failures = store::count_failure(conn, user_id)?;
    if failures < ctx.lockout_threshold {
        return Ok((failures, 0));
    }
    let doublings = u32::try_from(failures - ctx.lockout_threshold).unwrap_or(0);
    let secs = 1_i64
        .checked_shl(doublings.min(30))
        .unwrap_or(i64::MAX)
        .min(ctx.account_delay_max_secs);
    store::delay_logins(conn, user_id, now() + chrono::TimeDelta::seconds(secs))?;
    Ok((failures, secs))
}

/// Open a server-side session, issue its access and refresh tokens, reset
/// the counts and audit the login.
pub(super) async fn succeed(
    ctx: &AuthContext,
    db: &Db,
    user: User,
    client: &str,
    origin: Origin,
) -> ApiResult<LoggedIn> {
    if let Some(gate) = ctx.gate {
        let t = user.tenant_id.clone();
        if let Err(refused) = db.run(move |c| gate.check_login(c, &t)).await {
            let (uid, role, tenant) = (user.id.clone(), user.role.clone(), user.tenant_id.clone());
            let reason = refused.code();
            db.write(move |c| {
                let event = Event::new(&uid, &role, "auth.login", "session")
                    .tenant(Some(&tenant))
                    .outcome("failure")
                    .details(json!({ "reason": reason }));
                audit::append(c, &event, &origin)?;
                Ok(())
            })
            .await?;
            return Err(refused);
        }
    }
    ctx.pair_throttle.succeed(&user.id, client);
    let (uid, role, tenant) = (user.id.clone(), user.role.clone(), user.tenant_id.clone());
    let at = ctx.clock.now();
    let (absolute_secs, idle_secs) = (ctx.session_absolute_secs, ctx.idle_secs_for(&role));
    let (session, refresh_token) = db
        .write(move |c| {
            store::record_success(c, &uid)?;
            let opened = session::open(
                c,
                &session::Opening {
                    user_id: &uid,
                    tenant_id: &tenant,
                    at,
                    absolute_secs,
                    idle_secs,
                    address: origin.ip.as_deref(),
                    user_agent: origin.user_agent.as_deref(),
                },
            )?;
            let event = Event::new(&uid, &role, "auth.login", "session")
                .tenant(Some(&tenant))
                .details(json!({ "sid": opened.0.id }));
            audit::append(c, &event, &origin)?;
            Ok(opened)
        })
        .await?;
    let (token, claims) = ctx.keys.issue_in_session(
        &user.id,
        &user.role,
        Some(&user.tenant_id),
        user.session_epoch,
        Some(&session.id),
    )?;
    Ok(LoggedIn {
        token,
        claims,
        refresh_token,
        session,
        user,
    })
}
