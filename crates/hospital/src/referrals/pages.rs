//! The referral pages: a patient's referrals with the doctor's referral
//! form (`/patients/{id}/referrals`) and the doctor's inbox (`/referrals`:
//! incoming referrals to accept or decline, outgoing ones to cancel). Each
//! goes through the API's functions (same scope, checks, audit rows).

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use common::accounts::store as users;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::render::html_status;
use common::web::{redirect, Layout, PageResult};
use common::ApiError;
use serde::Deserialize;

use super::http::{
    accept_referral, cancel_referral, decline_referral, list_referrals, refer, ReferralListQuery,
    ReferralRequest,
};
use super::model::{ReferralDirection, ReferralStatus, ReferralView};
use super::scope;
use crate::appointments::model::check_id;
use crate::departments::store as departments;
use crate::pages::PageCtx;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/patients/{id}/referrals", web::get().to(of_patient))
        .route("/patients/{id}/referrals", web::post().to(write))
        .route("/referrals", web::get().to(inbox))
        .route("/referrals/{id}/{action}", web::post().to(act));
}

/// One referral as shown.
struct Row {
    id: String,
    patient_id: String,
    to: String,
    by: String,
    status: String,
    reason: String,
    decline_reason: String,
    created: String,
    /// The caller may accept or decline it.
    decidable: bool,
    /// The caller may cancel it.
    cancellable: bool,
}

#[derive(Template)]
#[template(path = "referrals.html")]
struct ReferralsPage {
    layout: Layout,
    /// The patient whose referrals these are ("" for the inbox).
    patient_id: String,
    incoming: Vec<Row>,
    outgoing: Vec<Row>,
    pager: Pager,
    can_refer: bool,
    departments: Vec<(String, String)>,
    error: Option<String>,
    form: ReferForm,
}

#[derive(Deserialize)]
struct ListParams {
    page: Option<i64>,
}

#[derive(Deserialize, Default)]
struct ReferForm {
    #[serde(default)]
    csrf: String,
    /// The doctor's username (or empty for a department).
    #[serde(default)]
    doctor: String,
    /// The department's id (or empty for a doctor).
    #[serde(default)]
    department_id: String,
    #[serde(default)]
    reason: String,
}

fn row(v: &ReferralView, me: &str, can_receive: bool, can_write: bool) -> Row {
    let pending = v.status == ReferralStatus::Pending;
    Row {
        id: v.id.clone(),
        patient_id: v.patient_id.clone(),
        to: match (&v.to_doctor_id, &v.to_department_id) {
            (Some(d), _) => format!("doctor {d}"),
            (None, Some(d)) => format!("department {d}"),
            _ => String::new(),
        },
        by: v.referred_by.clone(),
        status: v.status.as_str().to_string(),
        reason: v.reason.clone(),
        decline_reason: v.decline_reason.clone().unwrap_or_default(),
        created: v.created_at.format("%Y-%m-%d %H:%M").to_string(),
        decidable: pending
            && can_receive
            && match &v.to_doctor_id {
                Some(d) => d == me,
                None => v.referred_by != me,
            },
        cancellable: pending && can_write && v.referred_by == me,
    }
}

async fn render(
    db: &Db,
    p: PageCtx,
    patient_id: Option<String>,
    page: Page,
    status: StatusCode,
    error: Option<String>,
    form: ReferForm,
) -> PageResult {
    let me = p.ctx.user.id.clone();
    let can_receive = scope::require_receiver(&p.ctx.user).is_ok();
    let can_write = scope::require_referrer(&p.ctx.user).is_ok();
    let mut total = 0;
    let mut incoming = Vec::new();
    let mut outgoing = Vec::new();
    for direction in [ReferralDirection::Incoming, ReferralDirection::Outgoing] {
        let q = ReferralListQuery {
            direction: Some(direction),
            patient_id: patient_id.clone(),
            page: Some(page.page),
            ..Default::default()
        };
        let (views, n) = list_referrals(db, p.ctx.clone(), &q, page).await?;
        total = total.max(n);
        let rows = views
            .iter()
            .map(|v| row(v, &me, can_receive, can_write))
            .collect();
        match direction {
            ReferralDirection::Incoming => incoming = rows,
            ReferralDirection::Outgoing => outgoing = rows,
        }
    }
    let can_refer = patient_id.is_some() && can_write;
    let departments = if can_refer {
        let tenant = p.ctx.tenant.clone();
        db.run(move |c| departments::list(c, &tenant, false, &Page::of(None, Some(100))?))
            .await?
            .0
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect()
    } else {
        Vec::new()
    };
    let title = if patient_id.is_some() {
        "Referrals of the patient"
    } else {
        "Referrals"
    };
    html_status(
        status,
        &ReferralsPage {
            layout: p.web.layout(title),
            pager: Pager::new(&page, total, |n| format!("page={n}")),
            can_refer,
            departments,
            patient_id: patient_id.unwrap_or_default(),
            incoming,
            outgoing,
            error,
            form,
        },
    )
}

async fn of_patient(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    q: web::Query<ListParams>,
) -> PageResult {
    let id = id.into_inner();
    check_id("patient_id", &id)?;
    let page = Page::of(q.page, None)?;
    render(
        &db,
        p,
        Some(id),
        page,
        StatusCode::OK,
        None,
        ReferForm::default(),
    )
    .await
}

async fn inbox(db: web::Data<Db>, p: PageCtx, q: web::Query<ListParams>) -> PageResult {
    let page = Page::of(q.page, None)?;
    render(
        &db,
        p,
        None,
        page,
        StatusCode::OK,
        None,
        ReferForm::default(),
    )
    .await
}

/// A refused form: the page again with its error (bad input 400, a
/// conflict 409); anything else the usual error page.
async fn again(
    db: &Db,
    p: PageCtx,
    patient_id: Option<String>,
    e: ApiError,
    form: ReferForm,
) -> PageResult {
    match e {
        ApiError::Validation { .. } | ApiError::Conflict(_) => {
            let status = if matches!(e, ApiError::Validation { .. }) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::CONFLICT
            };
            let page = Page::of(None, None)?;
            render(db, p, patient_id, page, status, Some(e.to_string()), form).await
        }
        e => Err(e.into()),
    }
}

async fn write(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<ReferForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let patient = id.into_inner();
    let form = form.into_inner();
    let attempt = async {
        let doctor = form.doctor.trim().to_string();
        let to_doctor_id = if doctor.is_empty() {
            None
        } else {
            if doctor.len() > 254 {
                return Err(ApiError::field("doctor", "give the doctor's username"));
            }
            let tenant = p.ctx.tenant.clone();
            let user = db
                .run(move |c| users::find_for_login(c, &doctor, &tenant))
                .await?
                .ok_or_else(|| ApiError::field("doctor", "no such doctor in this hospital"))?;
            Some(user.id)
        };
        let req = ReferralRequest {
            patient_id: patient.clone(),
            to_doctor_id,
            to_department_id: Some(form.department_id.clone()),
            reason: form.reason.clone(),
        };
        refer(&db, p.ctx.clone(), req).await
    };
    match attempt.await {
        Ok(_) => Ok(redirect(&format!("/patients/{patient}/referrals"))),
        Err(e) => again(&db, p, Some(patient), e, form).await,
    }
}

#[derive(Deserialize)]
struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn act(
    db: web::Data<Db>,
    p: PageCtx,
    path: web::Path<(String, String)>,
    form: web::Form<ActForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let (id, action) = path.into_inner();
    check_id("id", &id)?;
    let ctx = p.ctx.clone();
    let done = match action.as_str() {
        "accept" => accept_referral(&db, ctx, id).await,
        "decline" => decline_referral(&db, ctx, id, form.into_inner().reason).await,
        "cancel" => cancel_referral(&db, ctx, id).await,
        _ => return Err(ApiError::NotFound("no such page".into()).into()),
    };
    match done {
        Ok(_) => Ok(redirect("/referrals")),
        Err(e) => again(&db, p, None, e, ReferForm::default()).await,
    }
}
