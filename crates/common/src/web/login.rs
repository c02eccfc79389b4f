//! `/` (sign in), `/login`, `/logout`: the API's login rules behind a
//! form, with a server-side session.
//!
//! The login form has its own CSRF token (a short-lived cookie the form
//! repeats), so nobody can sign a visitor into an account of theirs.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use super::extract::WebUser;
use super::render::{html_status, redirect, Layout, PageResult};
use super::session;
use super::WebSettings;
use crate::accounts::{login, mfa, store};
use crate::audit::{self, Event, Origin};
use crate::auth::{AuthContext, TenantRule};
use crate::db::{now, Db};
use crate::error::ApiError;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(login_page))
        .route("/login", web::post().to(login_submit))
        .route("/login/mfa", web::post().to(mfa_submit))
        .route("/login/enrol", web::post().to(enrol_submit))
        .route("/logout", web::post().to(logout));
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
    username: String,
    hosted: bool,
    tenant_id: String,
}

#[derive(Template)]
#[template(path = "login_mfa.html")]
struct MfaPage {
    layout: Layout,
    error: Option<String>,
    mfa_token: String,
}

/// The second step's form: the MFA token (signed, short-lived, good for
/// nothing but this step) rides in the form, under a fresh CSRF token.
fn mfa_form(
    ctx: &AuthContext,
    settings: &WebSettings,
    status: StatusCode,
    error: Option<String>,
    mfa_token: String,
) -> PageResult {
    let (token, cookie) = public_form_token(settings);
    let page = MfaPage {
        layout: Layout::public("Enter your code", ctx.service, token),
        error,
        mfa_token,
    };
    let mut res = html_status(status, &page)?;
    res.add_cookie(&cookie)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("setting a cookie: {e}")))?;
    Ok(res)
}

#[derive(Deserialize)]
struct MfaForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mfa_token: String,
    #[serde(default)]
    code: String,
}

async fn mfa_submit(
    req: HttpRequest,
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    settings: web::Data<WebSettings>,
    origin: Origin,
    form: web::Form<MfaForm>,
) -> PageResult {
    let form = form.into_inner();
    if !public_form_ok(&req, &settings, &form.csrf) {
        let msg = "this sign-in form has expired; please try again".to_string();
        return login_form(
            &ctx,
            &settings,
            StatusCode::FORBIDDEN,
            Some(msg),
            String::new(),
            String::new(),
        );
    }
    match mfa::second_step(&ctx, &db, origin, &form.mfa_token, form.code).await {
        Ok(done) => start_session(&db, &settings, done).await,
        Err(
            e @ (ApiError::Unauthenticated(_)
            | ApiError::RateLimited(_)
            | ApiError::Refused { .. }
            | ApiError::Validation { .. }),
        ) => {
            let status = actix_web::ResponseError::status_code(&e);
            mfa_form(&ctx, &settings, status, Some(e.to_string()), form.mfa_token)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "login_enrol.html")]
struct EnrolPage {
    layout: Layout,
    error: Option<String>,
    enrol_token: String,
    secret: String,
    qr_svg: String,
}

#[derive(Template)]
#[template(path = "login_enrolled.html")]
struct EnrolledPage {
    layout: Layout,
    backup_codes: Vec<String>,
}

/// Enrolment at sign-in, for a role that must use a second factor: the QR
/// code and secret of a new enrolment, and the form that confirms it.
fn enrol_form(
    ctx: &AuthContext,
    settings: &WebSettings,
    status: StatusCode,
    error: Option<String>,
    enrol_token: String,
    enrolment: crate::auth::mfa::Enrolment,
) -> PageResult {
    let (token, cookie) = public_form_token(settings);
    let page = EnrolPage {
        layout: Layout::public("Set up your second factor", ctx.service, token),
        error,
        enrol_token,
        secret: enrolment.secret_base32,
        // Inline in HTML: the SVG element without its XML declaration.
        qr_svg: enrolment
            .qr_svg
            .find("<svg")
            .map(|at| enrolment.qr_svg[at..].to_string())
            .unwrap_or_default(),
    };
    let mut res = html_status(status, &page)?;
    res.add_cookie(&cookie)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("setting a cookie: {e}")))?;
    Ok(res)
}

#[derive(Deserialize)]
struct EnrolForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enrol_token: String,
    #[serde(default)]
    code: String,
}

async fn enrol_submit(
    req: HttpRequest,
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    settings: web::Data<WebSettings>,
    origin: Origin,
    form: web::Form<EnrolForm>,
) -> PageResult {
    let form = form.into_inner();
    let expired = |msg: &str| {
        login_form(
            &ctx,
            &settings,
            StatusCode::FORBIDDEN,
            Some(msg.to_string()),
            String::new(),
            String::new(),
        )
    };
    if !public_form_ok(&req, &settings, &form.csrf) {
        return expired("this form has expired; please sign in again");
    }
    // The login's token, by the rules of every request (not a session).
    let user = match crate::auth::check_token(&ctx, &db, &form.enrol_token, false).await {
        Ok(checked) => checked.user,
        Err(ApiError::Unauthenticated(_)) => {
            return expired("this enrolment has expired; please sign in again")
        }
        Err(e) => return Err(e.into()),
    };
    let who = mfa::Enroller::of_account(&user);
    match mfa::confirm_enrolment(&ctx, &db, who.clone(), origin.clone(), form.code).await {
        Ok(backup_codes) => {
            let (token, cookie) = public_form_token(&settings);
            let page = EnrolledPage {
                layout: Layout::public("Your second factor is on", ctx.service, token),
                backup_codes,
            };
            let mut res = html_status(StatusCode::OK, &page)?;
            res.add_cookie(&cookie)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("setting a cookie: {e}")))?;
            Ok(res)
        }
        Err(e @ ApiError::Validation { .. }) => {
            // A wrong code: a new secret (the old one is not shown again).
            let enrolment = mfa::begin_enrolment(&ctx, &db, who, origin).await?;
            let msg = format!("{e}; scan this new code and try again");
            enrol_form(
                &ctx,
                &settings,
                StatusCode::BAD_REQUEST,
                Some(msg),
                form.enrol_token,
                enrolment,
            )
        }
        Err(ApiError::Conflict(_)) => {
            expired("this account's second factor is already on; sign in")
        }
        Err(e) => Err(e.into()),
    }
}

/// A fresh CSRF token for a form shown before sign-in (login, portal
/// enrolment), and the cookie that repeats it.
pub fn public_form_token(settings: &WebSettings) -> (String, actix_web::cookie::Cookie<'static>) {
    let token = session::random_token();
    let name = session::public_form_cookie_name(settings);
    let cookie = session::cookie(settings, name, token.clone());
    (token, cookie)
}

/// Whether a form posted before sign-in carries the token its cookie holds.
pub fn public_form_ok(req: &HttpRequest, settings: &WebSettings, sent: &str) -> bool {
    let name = session::public_form_cookie_name(settings);
    req.cookie(name)
        .is_some_and(|c| super::extract::same_token(sent, c.value()))
}

/// The login form, with a fresh login CSRF token in a cookie and the form.
fn login_form(
    ctx: &AuthContext,
    settings: &WebSettings,
    status: StatusCode,
    error: Option<String>,
    username: String,
    tenant_id: String,
) -> PageResult {
    let (token, cookie) = public_form_token(settings);
    let page = LoginPage {
        layout: Layout::public("Sign in", ctx.service, token.clone()),
        error,
        username,
        hosted: ctx.tenants == TenantRule::Hosted,
        tenant_id,
    };
    let mut res = html_status(status, &page)?;
    res.add_cookie(&cookie)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("setting a cookie: {e}")))?;
    Ok(res)
}

async fn login_page(
    ctx: web::Data<AuthContext>,
    settings: web::Data<WebSettings>,
    signed_in: Option<WebUser>,
) -> PageResult {
    // Already signed in (a valid session, not just a cookie): go home.
    if signed_in.is_some() {
        return Ok(redirect("/home"));
    }
    login_form(
        &ctx,
        &settings,
        StatusCode::OK,
        None,
        String::new(),
        String::new(),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    tenant_id: String,
}

async fn login_submit(
    req: HttpRequest,
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    settings: web::Data<WebSettings>,
    origin: Origin,
    form: web::Form<LoginForm>,
) -> PageResult {
    let form = form.into_inner();
    if !public_form_ok(&req, &settings, &form.csrf) {
        let msg = "this sign-in form has expired; please try again".to_string();
        return login_form(
            &ctx,
            &settings,
            StatusCode::FORBIDDEN,
            Some(msg),
            form.username,
            form.tenant_id,
        );
    }
    let tenant = Some(form.tenant_id.trim().to_string()).filter(|t| !t.is_empty());
    let result = login::authenticate(
        &ctx,
        &db,
        origin.clone(),
        form.username.clone(),
        form.password,
        tenant,
    )
    .await;
    let done = match result {
        Ok(login::Authenticated::Done(done)) if ctx.mfa_required_for(&done.user.role) => {
            // No web session before the second factor: the enrolment page
            // carries the login's token, which the MFA policy limits to
            // enrolment, and the account signs in again once enrolled.
            let who = mfa::Enroller::of_account(&done.user);
            let enrolment = mfa::begin_enrolment(&ctx, &db, who, origin).await?;
            return enrol_form(&ctx, &settings, StatusCode::OK, None, done.token, enrolment);
        }
        Ok(login::Authenticated::Done(done)) => *done,
        Ok(login::Authenticated::MfaRequired { mfa_token }) => {
            return mfa_form(&ctx, &settings, StatusCode::OK, None, mfa_token);
        }
        Err(
            e @ (ApiError::Unauthenticated(_)
            | ApiError::RateLimited(_)
            | ApiError::Refused { .. }
            | ApiError::Validation { .. }),
        ) => {
            let status = actix_web::ResponseError::status_code(&e);
            return login_form(
                &ctx,
                &settings,
                status,
                Some(e.to_string()),
                form.username,
                form.tenant_id,
            );
        }
        Err(e) => return Err(e.into()),
    };
    start_session(&db, &settings, done).await
}

/// A completed login becomes a web session: the cookie, and the login
/// form's CSRF cookie dropped.
async fn start_session(db: &Db, settings: &WebSettings, done: login::LoggedIn) -> PageResult {
    let expires = now() + settings.lifetime;
    let (uid, jti, epoch, sid) = (
        done.user.id.clone(),
        done.claims.jti.clone(),
        done.claims.sep,
        done.session.id.clone(),
    );
    let (value, _) = db
        .write(move |c| {
            session::purge_expired(c)?;
            session::create(c, &uid, &jti, epoch, expires, Some(&sid))
        })
        .await?;
    let to = if done.user.must_change_password {
        "/password"
    } else {
        "/home"
    };
    let mut res = redirect(to);
    let cookies = [
        session::cookie(settings, session::cookie_name(settings), value),
        session::removal(settings, session::public_form_cookie_name(settings)),
    ];
    for c in &cookies {
        res.add_cookie(c)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("setting a cookie: {e}")))?;
    }
    Ok(res)
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Sign out: revoke the session's token id (as the API's logout does),
/// delete the session, drop the cookie.
async fn logout(
    db: web::Data<Db>,
    settings: web::Data<WebSettings>,
    user: WebUser,
    origin: Origin,
    form: web::Form<CsrfOnly>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let expires = chrono::DateTime::from_timestamp(user.user.expires_at, 0)
        .map(|d| d.naive_utc())
        .unwrap_or_else(now);
    let u = user.user.clone();
    let hash = user.session_hash.clone();
    db.write(move |c| {
        store::revoke(c, &u.jti, expires)?;
        session::delete(c, &hash)?;
        crate::auth::session::end(c, &u.session_id, "logout", now())?;
        let event = Event::new(&u.id, &u.role, "auth.logout", "session")
            .tenant(u.tenant())
            .details(json!({ "jti": u.jti, "sid": u.session_id, "via": "web" }));
        audit::append(c, &event, &origin)?;
        Ok(())
    })
    .await?;
    let mut res = redirect("/");
    res.add_cookie(&session::removal(
        &settings,
        session::cookie_name(&settings),
    ))
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("setting a cookie: {e}")))?;
    Ok(res)
}
