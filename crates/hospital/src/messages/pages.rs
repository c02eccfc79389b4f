//! The messages page: the caller's inbox (each listed message audited as
//! read, as on the API) and a form to write to a colleague or to a
//! patient's care team. Both go through the API's functions.

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::render::html_status;
use common::web::{Layout, PageResult};
use common::ApiError;
use serde::Deserialize;

use super::http::{inbox, send_message, NewMessage, To};
use crate::pages::PageCtx;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/messages", web::get().to(show))
        .route("/messages", web::post().to(send));
}

/// One message as shown.
struct Row {
    from: String,
    patient_id: String,
    body: String,
    sent_at: String,
}

#[derive(Template)]
#[template(path = "messages.html")]
struct MessagesPage {
    layout: Layout,
    rows: Vec<Row>,
    pager: Pager,
    /// May write to a colleague.
    to_staff: bool,
    /// May write to a care team (a patient: their own).
    to_care_team: bool,
    error: Option<String>,
    notice: Option<String>,
    form: SendForm,
}

#[derive(Deserialize)]
struct ListParams {
    page: Option<i64>,
}

#[derive(Deserialize, Default)]
struct SendForm {
    #[serde(default)]
    csrf: String,
    /// `user` or `care_team`.
    #[serde(default)]
    to_kind: String,
    #[serde(default)]
    to_id: String,
    #[serde(default)]
    body: String,
}

async fn render(
    db: &Db,
    p: PageCtx,
    page: Page,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
    form: SendForm,
) -> PageResult {
    // `inbox` holds the rule (messages.read) and the audit rows.
    let (views, total) = inbox(db, p.ctx.clone(), page).await?;
    let rows = views
        .into_iter()
        .map(|m| Row {
            from: m.from,
            patient_id: m.patient_id.unwrap_or_default(),
            body: m.body,
            sent_at: m.sent_at.format("%Y-%m-%d %H:%M").to_string(),
        })
        .collect();
    html_status(
        status,
        &MessagesPage {
            layout: p.web.layout("Messages"),
            rows,
            pager: Pager::new(&page, total, |n| format!("page={n}")),
            to_staff: p.ctx.can(P::MessagesSendStaff),
            to_care_team: p.ctx.can(P::MessagesSendCareTeam),
            error,
            notice,
            form,
        },
    )
}

async fn show(db: web::Data<Db>, p: PageCtx, q: web::Query<ListParams>) -> PageResult {
    let page = Page::of(q.page, None)?;
    render(
        &db,
        p,
        page,
        StatusCode::OK,
        None,
        None,
        SendForm::default(),
    )
    .await
}

async fn send(db: web::Data<Db>, p: PageCtx, form: web::Form<SendForm>) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let to = match form.to_kind.as_str() {
        "user" => Ok(To::User(form.to_id.trim().to_string())),
        "care_team" => Ok(To::CareTeam(form.to_id.trim().to_string())),
        _ => Err(ApiError::field(
            "to_kind",
            "choose a colleague or a care team",
        )),
    };
    let attempt = match to {
        Ok(to) => {
            let m = NewMessage {
                to,
                body: form.body.clone(),
            };
            send_message(&db, p.ctx.clone(), m).await
        }
        Err(e) => Err(e),
    };
    let page = Page::of(None, None)?;
    match attempt {
        Ok(sent) => {
            let notice = format!("Sent to {} recipient(s).", sent.recipients);
            render(
                &db,
                p,
                page,
                StatusCode::OK,
                None,
                Some(notice),
                SendForm::default(),
            )
            .await
        }
        Err(e @ (ApiError::Validation { .. } | ApiError::Conflict(_) | ApiError::NotFound(_))) => {
            let status = match e {
                ApiError::Validation { .. } => StatusCode::BAD_REQUEST,
                ApiError::Conflict(_) => StatusCode::CONFLICT,
                _ => StatusCode::NOT_FOUND,
            };
            render(&db, p, page, status, Some(e.to_string()), None, form).await
        }
        Err(e) => Err(e.into()),
    }
}
