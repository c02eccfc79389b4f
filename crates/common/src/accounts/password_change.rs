//! `POST …/auth/password`: a user changes their own password.
//!
//! The change ends every session issued before it (including the one that
//! asked: a fresh token comes back in the answer), so a token obtained with
//! the old password, by whoever knew it, stops working. A wrong current
//! password counts as a failed login: a stolen token is not an unthrottled
//! oracle for guessing the password.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::login::count_account_failure;
use super::store;
use crate::audit::{self, Event, Origin, Severity};
use crate::auth::{password, session, AuthContext, AuthUser};
use crate::db::{now, Db};
use crate::error::{ApiError, ApiResult};
use crate::http::ratelimit::client_key;
use crate::response;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangePassword {
    current_password: String,
    new_password: String,
}

#[utoipa::path(post, path = "/auth/password", tag = "auth", security(("bearer" = [])),
    summary = "Change one's own password (every other session ends)",
    responses((status = 200, description = "Changed; a new token", body = super::openapi::PasswordChanged),
        (status = 429, description = "Too many wrong current passwords")))]
pub(super) async fn change_password(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    hub: web::Data<crate::realtime::Hub>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<ChangePassword>,
) -> ApiResult<HttpResponse> {
    let body = body.into_inner();
    let (token, _, refresh_token) = change(&ctx, &db, &user, origin, body).await?;
    // Every other session ended: their open sockets close now.
    hub.recheck_user(&user.id);
    Ok(response::ok(json!({
        "changed": true,
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ctx.keys.ttl_secs(),
        "refresh_token": refresh_token,
    })))
}

/// A token, its claims and the refresh token of the new session.
pub type Reissued = (String, crate::auth::token::Claims, String);

/// Change `user`'s own password with every rule of the API (policy,
/// throttling, counting a wrong current password, audit), end every
/// session and open a fresh one for the caller (a token under the new
/// session epoch, and its refresh token). Shared with the web form.
pub async fn change_own(
    ctx: &web::Data<AuthContext>,
    db: &Db,
    user: &AuthUser,
    origin: Origin,
    current_password: String,
    new_password: String,
) -> ApiResult<Reissued> {
    let body = ChangePassword {
        current_password,
        new_password,
    };
    change(ctx, db, user, origin, body).await
}

async fn change(
    ctx: &web::Data<AuthContext>,
    db: &Db,
    user: &AuthUser,
    origin: Origin,
    body: ChangePassword,
) -> ApiResult<Reissued> {
    if body.current_password.len() > 1024 {
        return Err(ApiError::field("current_password", "is wrong"));
    }
    password::check_policy(&body.new_password, &user.username)?;
    if body.new_password == body.current_password {
        return Err(ApiError::field(
            "new_password",
            "must differ from the current one",
        ));
    }
    let client = client_key(origin.ip.as_deref().unwrap_or("unknown"));
    let (uid, tenant) = (user.id.clone(), user.tenant_id.clone());
    let stored = db
        .run(move |c| store::get_in_tenant(c, &tenant, &uid))
        .await?;
    let delayed = stored.locked_until.is_some_and(|t| t > now());
    if delayed || ctx.pair_throttle.is_blocked(&user.id, &client) {
        return Err(ApiError::RateLimited(
            "too many wrong passwords; wait and try again".into(),
        ));
    }
    let verifier = ctx.verifier.clone();
    let (current, hash) = (body.current_password, stored.password_hash);
    if !web::block(move || verifier.verify(&current, Some(&hash))).await? {
        record_wrong_password(ctx, db, user, &client, origin).await?;
        return Err(ApiError::field("current_password", "is wrong"));
    }
    let cost = ctx.bcrypt_cost;
    let new = body.new_password;
    let new_hash = web::block(move || password::hash(&new, cost)).await??;
    let who = user.clone();
    let at = ctx.clock.now();
    let (absolute_secs, idle_secs) = (ctx.session_absolute_secs, ctx.idle_secs_for(&user.role));
    let (epoch, sid, refresh_token) = db
        .write(move |c| {
            let epoch = store::set_password(c, &who.id, &new_hash, "password_change")?;
            let (opened, refresh_token) = session::open(
                c,
                &session::Opening {
                    user_id: &who.id,
                    tenant_id: &who.tenant_id,
                    at,
                    absolute_secs,
                    idle_secs,
                    address: origin.ip.as_deref(),
                    user_agent: origin.user_agent.as_deref(),
                },
            )?;
            let event = Event::new(
                &who.id,
                &who.role,
                "auth.password_change",
                &format!("user:{}", who.id),
            )
            .tenant(who.tenant())
            .details(json!({ "sessions_ended": true, "sid": opened.id }));
            audit::append(c, &event, &origin)?;
            Ok((epoch, opened.id, refresh_token))
        })
        .await?;
    let (token, claims) =
        ctx.keys
            .issue_in_session(&user.id, &user.role, user.tenant(), epoch, Some(&sid))?;
    Ok((token, claims, refresh_token))
}

/// Count a wrong current password against the account and the address,
/// and audit it.
async fn record_wrong_password(
    ctx: &web::Data<AuthContext>,
    db: &Db,
    user: &AuthUser,
    client: &str,
    origin: Origin,
) -> ApiResult<()> {
    let blocked = ctx.pair_throttle.fail(&user.id, client);
    let (ctx, user) = (ctx.clone(), user.clone());
    db.write(move |c| {
        let counted = count_account_failure(c, &ctx, &user.id)?;
        let event = Event::new(
            &user.id,
            &user.role,
            "auth.password_change",
            &format!("user:{}", user.id),
        )
        .outcome("failure")
        .severity(if blocked {
            Severity::Critical
        } else {
            Severity::Warning
        })
        .tenant(user.tenant())
        .details(json!({
            "reason": "wrong_current_password",
            "failures": counted.0,
            "address_blocked": blocked,
        }));
        audit::append(c, &event, &origin)?;
        Ok(())
    })
    .await
}
