//! The portal's way in, as pages: staff give a patient an enrolment code
//! from the chart, and the patient redeems it at `/enrol`, choosing their
//! password. Both through the API's functions (checks, pacing, audit rows).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use common::audit::Origin;
use common::auth::AuthContext;
use common::db::Db;
use common::web::login::{public_form_ok, public_form_token};
use common::web::render::{html_status, Layout};
use common::web::{html, PageResult, WebSettings};
use common::ApiError;
use serde::Deserialize;

use super::portal::{issue_code, redeem_code, Redeem};
use crate::pages::PageCtx;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/patients/{id}/portal-code", web::post().to(issue))
        .route("/enrol", web::get().to(enrol_form))
        .route("/enrol", web::post().to(enrol));
}

#[derive(Template)]
#[template(path = "portal_code.html")]
struct CodePage {
    layout: Layout,
    id: String,
    code: String,
    expires_at: String,
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn issue(
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    let issued = issue_code(&ctx, &db, p.ctx.clone(), id.clone()).await?;
    html(&CodePage {
        layout: p.web.layout("Portal enrolment code"),
        id,
        code: issued.code,
        expires_at: issued.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
    })
}

#[derive(Template)]
#[template(path = "enrol.html")]
struct EnrolPage {
    layout: Layout,
    error: Option<String>,
    done: Option<String>,
}

fn enrol_page(
    ctx: &AuthContext,
    settings: &WebSettings,
    status: StatusCode,
    error: Option<String>,
    done: Option<String>,
) -> PageResult {
    let (token, cookie) = public_form_token(settings);
    let page = EnrolPage {
        layout: Layout::public("Open your patient portal account", ctx.service, token),
        error,
        done,
    };
    let mut res = html_status(status, &page)?;
    res.add_cookie(&cookie)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("setting a cookie: {e}")))?;
    Ok(res)
}

async fn enrol_form(ctx: web::Data<AuthContext>, settings: web::Data<WebSettings>) -> PageResult {
    enrol_page(&ctx, &settings, StatusCode::OK, None, None)
}

#[derive(Deserialize)]
struct EnrolForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm_password: String,
}

async fn enrol(
    req: HttpRequest,
    ctx: web::Data<AuthContext>,
    db: web::Data<Db>,
    settings: web::Data<WebSettings>,
    origin: Origin,
    form: web::Form<EnrolForm>,
) -> PageResult {
    let form = form.into_inner();
    if !public_form_ok(&req, &settings, &form.csrf) {
        let msg = "this form has expired; please try again".to_string();
        return enrol_page(&ctx, &settings, StatusCode::FORBIDDEN, Some(msg), None);
    }
    if form.password != form.confirm_password {
        let msg = "the password and its confirmation differ".to_string();
        return enrol_page(&ctx, &settings, StatusCode::BAD_REQUEST, Some(msg), None);
    }
    let body = Redeem {
        code: form.code.trim().to_string(),
        password: form.password,
        username: Some(form.username.trim().to_string()).filter(|u| !u.is_empty()),
    };
    match redeem_code(&ctx, &db, origin, body).await {
        Ok(user) => enrol_page(
            &ctx,
            &settings,
            StatusCode::CREATED,
            None,
            Some(user.username),
        ),
        Err(
            e @ (ApiError::Validation { .. } | ApiError::Conflict(_) | ApiError::RateLimited(_)),
        ) => {
            let status = actix_web::ResponseError::status_code(&e);
            enrol_page(&ctx, &settings, status, Some(e.to_string()), None)
        }
        Err(e) => Err(e.into()),
    }
}
