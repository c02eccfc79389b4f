//! `/password`: a user changes their own password (forced first when the
//! account must), by the API's rules; the session moves to the new epoch.

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use serde::Deserialize;

use super::extract::WebUser;
use super::render::{html_status, redirect, Layout, PageResult};
use super::session;
use super::WebSettings;
use crate::accounts::password_change;
use crate::audit::Origin;
use crate::auth::AuthContext;
use crate::db::{now, Db};
use crate::error::ApiError;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/password", web::get().to(password_page))
        .route("/password", web::post().to(password_submit));
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    layout: Layout,
    error: Option<String>,
    forced: bool,
}

async fn password_page(user: WebUser) -> PageResult {
    let page = PasswordPage {
        layout: user.layout("Change your password"),
        error: None,
        forced: user.must_change_password,
    };
    html_status(StatusCode::OK, &page)
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// Change the password; the old session ends (its epoch is past) and a new
/// one is opened on the token the change issues.
async fn password_submit(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    settings: web::Data<WebSettings>,
    user: WebUser,
    origin: Origin,
    form: web::Form<PasswordForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let fail = |status: StatusCode, msg: String| {
        let page = PasswordPage {
            layout: user.layout("Change your password"),
            error: Some(msg),
            forced: user.must_change_password,
        };
        html_status(status, &page)
    };
    if form.new_password != form.confirm_password {
        return fail(
            StatusCode::BAD_REQUEST,
            "the new password and its confirmation differ".into(),
        );
    }
    let changed = password_change::change_own(
        &ctx,
        &db,
        &user.user,
        origin,
        form.current_password,
        form.new_password,
    )
    .await;
    let (_, claims, _) = match changed {
        Ok(done) => done,
        Err(e @ (ApiError::Validation { .. } | ApiError::RateLimited(_))) => {
            let status = actix_web::ResponseError::status_code(&e);
            return fail(status, e.to_string());
        }
        Err(e) => return Err(e.into()),
    };
    let expires = now() + settings.lifetime;
    let old = user.session_hash.clone();
    let uid = user.user.id.clone();
    let (value, _) = db
        .write(move |c| {
            session::delete(c, &old)?;
            session::create(
                c,
                &uid,
                &claims.jti,
                claims.sep,
                expires,
                claims.sid.as_deref(),
            )
        })
        .await?;
    let mut res = redirect("/home");
    res.add_cookie(&session::cookie(
        &settings,
        session::cookie_name(&settings),
        value,
    ))
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("setting a cookie: {e}")))?;
    Ok(res)
}
