//! `…/auth/mfa/*`: TOTP enrolment, the second login step, disabling, and
//! the admin's reset. The rules live in [`crate::auth::mfa`]; the second
//! login step is paced and counted exactly like a password (a wrong code is
//! a failed login of the account, from that address).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::login::{self, Attempt, Failure};
use super::store;
use crate::audit::{self, Event, Origin, Severity};
use crate::auth::{mfa, AuthContext, AuthUser};
use crate::db::{now, Db};
use crate::error::{ApiError, ApiResult};
use crate::http::ratelimit::client_key;
use crate::rbac::CorePermission;
use crate::response;
use crate::security::{self, NewEvent};

/// The one answer to a failed second step.
const BAD_CODE: &str = "invalid or expired code";

/// Mount the MFA routes (inside the server's API scope).
pub fn routes(cfg: &mut web::ServiceConfig) {
    use crate::http::resource;
    cfg.service(resource("/auth/mfa/totp/setup").route(web::post().to(setup)))
        .service(resource("/auth/mfa/totp/confirm").route(web::post().to(confirm)))
        .service(resource("/auth/mfa/verify").route(web::post().to(verify)))
        .service(resource("/auth/mfa/disable").route(web::post().to(disable)))
        .service(resource("/users/{id}/mfa/reset").route(web::post().to(reset)));
}

/// A code: six digits from the app, or a backup code.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CodeRequest {
    #[schema(min_length = 6, max_length = 32)]
    code: String,
}

/// The second login step.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct VerifyRequest {
    /// The `mfa_token` the password step returned.
    #[schema(min_length = 1, max_length = 4096)]
    mfa_token: String,
    #[schema(min_length = 6, max_length = 32)]
    code: String,
}

fn check_length(code: &str) -> ApiResult<()> {
    if code.is_empty() || code.len() > 32 {
        return Err(ApiError::field("code", "must be 6 to 32 characters"));
    }
    Ok(())
}

#[utoipa::path(post, path = "/auth/mfa/totp/setup", tag = "auth", security(("bearer" = [])),
    summary = "Start TOTP enrolment: a new secret, its otpauth URI and that as an SVG QR code (shown once)",
    responses((status = 200, description = "The secret to add to an authenticator app"),
        (status = 409, description = "MFA is already on")))]
async fn setup(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
) -> ApiResult<HttpResponse> {
    let who = Enroller::of(&user);
    let enrolment = begin_enrolment(&ctx, &db, who, origin).await?;
    Ok(response::ok(json!({
        "secret": enrolment.secret_base32,
        "otpauth_uri": enrolment.otpauth_uri,
        "qr_svg": enrolment.qr_svg,
    })))
}

/// Who enrols: what the audit row and the otpauth label need.
#[derive(Clone)]
pub struct Enroller {
    /// User id.
    pub id: String,
    /// Login name (the authenticator's label).
    pub username: String,
    /// Role (audit).
    pub role: String,
    /// Tenant, if any (audit).
    pub tenant: Option<String>,
}

impl Enroller {
    /// The caller of an API request.
    pub fn of(user: &AuthUser) -> Self {
        Self {
            id: user.id.clone(),
            username: user.username.clone(),
            role: user.role.clone(),
            tenant: user.tenant().map(str::to_string),
        }
    }

    /// An account as stored.
    pub fn of_account(user: &store::User) -> Self {
        Self {
            id: user.id.clone(),
            username: user.username.clone(),
            role: user.role.clone(),
            tenant: Some(user.tenant_id.clone()).filter(|t| !t.is_empty()),
        }
    }
}

/// Start (or restart) TOTP enrolment: a new secret, audited (shared by the
/// API and the web sign-in).
pub async fn begin_enrolment(
    ctx: &web::Data<AuthContext>,
    db: &Db,
    who: Enroller,
    origin: Origin,
) -> ApiResult<mfa::Enrolment> {
    let ctx = ctx.clone();
    db.write(move |c| {
        let e = mfa::begin(c, &ctx.mfa, &who.id, &who.username)?;
        let event =
            Event::new(&who.id, &who.role, "auth.mfa_setup", "mfa").tenant(who.tenant.as_deref());
        audit::append(c, &event, &origin)?;
        Ok(e)
    })
    .await
}

/// Turn TOTP on with a current code: the 10 backup codes, audited (shared
/// by the API and the web sign-in).
pub async fn confirm_enrolment(
    ctx: &web::Data<AuthContext>,
    db: &Db,
    who: Enroller,
    origin: Origin,
    code: String,
) -> ApiResult<Vec<String>> {
    check_length(&code)?;
    let ctx = ctx.clone();
    db.write(move |c| {
        let row = mfa::find(c, &who.id)?
            .filter(|r| !r.enabled)
            .ok_or_else(|| {
                ApiError::Conflict("no enrolment in progress (POST …/auth/mfa/totp/setup)".into())
            })?;
        if mfa::check_and_consume(c, &ctx.mfa, &row, &code, false)?.is_none() {
            return Err(ApiError::field(
                "code",
                "is not the current code of the app",
            ));
        }
        let codes = mfa::enable(c, &ctx.mfa, &who.id)?;
        let event = Event::new(&who.id, &who.role, "auth.mfa_enabled", "mfa")
            .severity(Severity::Warning)
            .tenant(who.tenant.as_deref());
        audit::append(c, &event, &origin)?;
        Ok(codes)
    })
    .await
}

#[utoipa::path(post, path = "/auth/mfa/totp/confirm", tag = "auth", security(("bearer" = [])),
    summary = "Turn TOTP on with a code from the app; returns 10 single-use backup codes (shown once)",
    request_body = CodeRequest,
    responses((status = 200, description = "MFA is on"),
        (status = 400, description = "Wrong code"),
        (status = 409, description = "No enrolment started, or MFA is already on")))]
async fn confirm(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<CodeRequest>,
) -> ApiResult<HttpResponse> {
    let codes = confirm_enrolment(
        &ctx,
        &db,
        Enroller::of(&user),
        origin,
        body.into_inner().code,
    )
    .await?;
    Ok(response::ok(
        json!({ "enabled": true, "backup_codes": codes }),
    ))
}

#[utoipa::path(post, path = "/auth/mfa/verify", tag = "auth",
    summary = "Second login step: the MFA token and a TOTP or backup code give the access token",
    request_body = VerifyRequest,
    responses((status = 200, description = "Logged in", body = super::openapi::LoginReply),
        (status = 401, description = "Wrong, replayed or expired code or token"),
        (status = 429, description = "Too many attempts from this address")))]
async fn verify(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    origin: Origin,
    body: web::Json<VerifyRequest>,
) -> ApiResult<HttpResponse> {
    let VerifyRequest { mfa_token, code } = body.into_inner();
    let done = second_step(&ctx, &db, origin, &mfa_token, code).await?;
    Ok(response::ok(login::logged_in_json(&ctx, done)))
}

/// The second login step (API and web): check the MFA token, pace and
/// throttle like a password, check and consume the code, then log in.
pub async fn second_step(
    ctx: &web::Data<AuthContext>,
    db: &Db,
    origin: Origin,
    mfa_token: &str,
    code: String,
) -> ApiResult<login::LoggedIn> {
    let client = client_key(origin.ip.as_deref().unwrap_or("unknown"));
    login::pace_address(ctx, &client)?;
    check_length(&code)?;
    let claims = ctx
        .mfa
        .token
        .verify(mfa_token)
        .map_err(|_| ApiError::Unauthenticated(BAD_CODE.into()))?;
    let sub = claims.sub.clone();
    let user = db
        .run(move |c| store::find_for_token(c, &sub, "", None))
        .await?
        .map(|(u, _, _)| u)
        .filter(|u| {
            u.active
                && u.session_epoch == claims.sep
                && u.role == claims.role
                && claims.tenant_id.as_deref().unwrap_or("") == u.tenant_id
        })
        .ok_or_else(|| ApiError::Unauthenticated(BAD_CODE.into()))?;
    let throttled = user.locked_until.is_some_and(|t| t > now())
        || ctx.pair_throttle.is_blocked(&user.id, &client);
    let accepted = if throttled {
        None
    } else {
        let keys = ctx.clone();
        let uid = user.id.clone();
        db.write(move |c| match mfa::find(c, &uid)?.filter(|r| r.enabled) {
            Some(row) => mfa::check_and_consume(c, &keys.mfa, &row, &code, true),
            None => Ok(None),
        })
        .await?
    };
    let Some(accepted) = accepted else {
        let attempt = Attempt {
            actor: user.id.clone(),
            tenant: user.tenant_id.clone(),
            user_id: Some(user.id.clone()),
            client,
        };
        let failure = if throttled {
            Failure::Locked
        } else {
            Failure::BadCode
        };
        login::record_failure(ctx, db, attempt, failure, origin).await?;
        return Err(ApiError::Unauthenticated(BAD_CODE.into()));
    };
    if accepted == mfa::Accepted::Backup {
        let (uid, role, tenant, o) = (
            user.id.clone(),
            user.role.clone(),
            user.tenant_id.clone(),
            origin.clone(),
        );
        db.write(move |c| {
            let event = Event::new(&uid, &role, "auth.mfa_backup_code_used", "mfa")
                .severity(Severity::Warning)
                .tenant(Some(&tenant));
            audit::append(c, &event, &o)
        })
        .await?;
    }
    login::succeed(ctx, db, user, &client, origin).await
}

#[utoipa::path(post, path = "/auth/mfa/disable", tag = "auth", security(("bearer" = [])),
    summary = "Turn MFA off (needs a current code or a backup code)",
    request_body = CodeRequest,
    responses((status = 200, description = "MFA is off"),
        (status = 400, description = "Wrong code"),
        (status = 409, description = "MFA is not on")))]
async fn disable(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<CodeRequest>,
) -> ApiResult<HttpResponse> {
    let code = body.into_inner().code;
    check_length(&code)?;
    let (keys, u, o) = (ctx.clone(), user.clone(), origin.clone());
    let ok = db
        .write(move |c| {
            let row = mfa::find(c, &u.id)?
                .filter(|r| r.enabled)
                .ok_or_else(|| ApiError::Conflict("MFA is not on".into()))?;
            if mfa::check_and_consume(c, &keys.mfa, &row, &code, true)?.is_none() {
                // A stolen access token must not get unlimited guesses.
                login::count_account_failure(c, &keys, &u.id)?;
                return Ok(false);
            }
            mfa::remove(c, &u.id)?;
            let event = Event::new(&u.id, &u.role, "auth.mfa_disabled", "mfa")
                .severity(Severity::Warning)
                .tenant(u.tenant());
            audit::append(c, &event, &o)?;
            Ok(true)
        })
        .await?;
    if !ok {
        return Err(ApiError::field("code", "is not a current or backup code"));
    }
    Ok(response::ok(json!({ "enabled": false })))
}

#[utoipa::path(post, path = "/users/{id}/mfa/reset", tag = "users", security(("bearer" = [])),
    summary = "Remove a user's MFA and end their sessions (users.manage; audited as critical)",
    responses((status = 200, description = "MFA removed"),
        (status = 404, description = "No such user")))]
async fn reset(
    db: web::Data<Db>,
    admin: AuthUser,
    origin: Origin,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    admin.require(CorePermission::UsersManage)?;
    let id = id.into_inner();
    let removed = db
        .write(move |c| {
            // Another tenant's user is "not found", like a missing one.
            let target = store::get_in_tenant(c, &admin.tenant_id, &id)?;
            let removed = mfa::remove(c, &target.id)?;
            // Whoever is signed in as the user (perhaps with the lost
            // device's codes) signs in again, with the new factor.
            store::end_sessions(c, &target.id, "mfa_reset")?;
            let details =
                json!({ "user_id": target.id, "had_mfa": removed, "sessions_ended": true });
            let resource = format!("user:{}", target.id);
            let event = Event::new(&admin.id, &admin.role, "auth.mfa_reset", &resource)
                .severity(Severity::Critical)
                .tenant(admin.tenant())
                .details(details.clone());
            audit::append(c, &event, &origin)?;
            security::record(
                c,
                &NewEvent::new(
                    "auth.mfa_reset",
                    Severity::Critical,
                    &admin.id,
                    admin.tenant(),
                    details,
                ),
            )?;
            Ok(removed)
        })
        .await?;
    Ok(response::ok(json!({ "reset": true, "had_mfa": removed })))
}
