//! Appointment pages: a day's appointments (filtered by doctor), with the
//! booking form, check-in and cancellation for those who manage
//! appointments. Each goes through the API's functions (same scope,
//! checks, audit rows).

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use common::accounts::store::{self as users, UserFilter};
use common::db::Db;
use common::response::Page;
use common::web::pager::{url_escape, Pager};
use common::web::render::html_status;
use common::web::{redirect, Layout, PageResult};
use common::ApiError;
use serde::Deserialize;

use super::http::{
    book_appointment, cancel_reason, change_appointment, list_appointments, AppointmentRequest,
    ListQuery, Op,
};
use super::model::{parse_date, AppointmentType, AppointmentView};
use crate::departments::store as departments;
use crate::pages::PageCtx;
use crate::settings::ClinicalSection;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/appointments", web::get().to(day))
        .route("/appointments", web::post().to(book))
        .route("/appointments/{id}/check-in", web::post().to(check_in))
        .route("/appointments/{id}/cancel", web::post().to(cancel))
        .route("/appointments/{id}/complete", web::post().to(complete))
        .route("/my-appointments", web::get().to(mine))
        .route("/my-appointments/{id}/cancel", web::post().to(cancel_mine));
}

/// One line of the day.
struct Row {
    id: String,
    time: String,
    patient_id: String,
    doctor: String,
    kind: &'static str,
    status: String,
    booked: bool,
    /// Checked in, and the caller is its doctor: they may complete it.
    completable: bool,
}

/// A choice of a select.
struct Choice {
    id: String,
    label: String,
}

#[derive(Template)]
#[template(path = "appointments.html")]
struct DayPage {
    layout: Layout,
    date: String,
    doctor_id: String,
    time_zone: String,
    rows: Vec<Row>,
    pager: Pager,
    can_manage: bool,
    can_complete: bool,
    doctors: Vec<Choice>,
    departments: Vec<Choice>,
    error: Option<String>,
    form: BookForm,
}

#[derive(Deserialize)]
struct DayQuery {
    date: Option<String>,
    doctor_id: Option<String>,
    page: Option<i64>,
}

#[derive(Deserialize, Default)]
struct BookForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    doctor_id: String,
    #[serde(default)]
    department_id: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    reason: String,
}

fn today(clinical: &ClinicalSection) -> NaiveDate {
    Utc::now().with_timezone(&clinical.tz()).date_naive()
}

/// Render the day, with an error for the booking form if there is one.
#[allow(clippy::too_many_arguments)]
async fn render(
    db: &Db,
    clinical: &ClinicalSection,
    p: PageCtx,
    date: NaiveDate,
    doctor_id: Option<String>,
    page: Page,
    status: StatusCode,
    error: Option<String>,
    form: BookForm,
) -> PageResult {
    let can_manage = p.ctx.can(P::AppointmentsManage);
    let q = ListQuery {
        date: Some(date.to_string()),
        doctor_id: doctor_id.clone().filter(|d| !d.is_empty()),
        page: Some(page.page),
        ..Default::default()
    };
    let (views, total) = list_appointments(db, clinical, p.ctx.clone(), &q, page).await?;
    let (tenant, user) = (p.ctx.tenant.clone(), p.ctx.user.clone());
    let (doctors, departments) = db
        .run(move |conn| {
            let filter = UserFilter {
                active: Some(true),
                ..Default::default()
            };
            // Every active doctor (a role with `appointments.complete`), a
            // page of 100 staff at a time, up to 5,000 staff.
            let mut doctors = Vec::new();
            for n in 1..=50 {
                let page = Page::of(Some(n), Some(100))?;
                let (staff, total) = users::list(conn, &tenant, &filter, &page)?;
                doctors.extend(
                    staff
                        .into_iter()
                        .filter(|u| user.role_can(&u.role, P::AppointmentsComplete))
                        .map(|u| Choice {
                            id: u.id,
                            label: u.username,
                        }),
                );
                if n * 100 >= total {
                    break;
                }
            }
            let (depts, _) = departments::list(conn, &tenant, false, &Page::of(None, Some(100))?)?;
            let depts = depts
                .into_iter()
                .map(|d| Choice {
                    id: d.id,
                    label: d.name,
                })
                .collect();
            Ok((doctors, depts))
        })
        .await?;
    let tz = clinical.tz();
    let me = p.ctx.user.id.clone();
    let can_complete = p.ctx.can(P::AppointmentsComplete);
    let name_of = |id: &str| {
        doctors
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.label.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let rows = views
        .iter()
        .map(|v: &AppointmentView| Row {
            id: v.id.clone(),
            time: v.starts_at.with_timezone(&tz).format("%H:%M").to_string(),
            patient_id: v.patient_id.clone(),
            doctor: name_of(&v.doctor_id),
            kind: v.kind.into(),
            status: v.status.as_str().replace('_', " "),
            booked: v.status == super::model::AppointmentStatus::Booked,
            completable: v.status == super::model::AppointmentStatus::CheckedIn
                && v.doctor_id == me
                && can_complete,
        })
        .collect();
    let doctor = doctor_id.unwrap_or_default();
    let (d, doc) = (date.to_string(), url_escape(&doctor));
    html_status(
        status,
        &DayPage {
            layout: p.web.layout("Appointments"),
            pager: Pager::new(&page, total, |n| {
                format!("date={d}&doctor_id={doc}&page={n}")
            }),
            date: date.to_string(),
            doctor_id: doctor,
            time_zone: clinical.time_zone.clone(),
            rows,
            can_manage,
            can_complete,
            doctors,
            departments,
            error,
            form,
        },
    )
}

async fn day(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    p: PageCtx,
    q: web::Query<DayQuery>,
) -> PageResult {
    let q = q.into_inner();
    let page = Page::of(q.page, None)?;
    let date = match q.date.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => parse_date("date", d)?,
        None => today(&clinical),
    };
    render(
        &db,
        &clinical,
        p,
        date,
        q.doctor_id,
        page,
        StatusCode::OK,
        None,
        BookForm::default(),
    )
    .await
}

/// The form's local date and time, in the hospital's zone, as RFC 3339 UTC.
fn starts_at(clinical: &ClinicalSection, date: &str, time: &str) -> Result<String, ApiError> {
    let d = parse_date("date", date)?;
    let t = NaiveTime::parse_from_str(time, "%H:%M")
        .map_err(|_| ApiError::field("time", "must be a time, HH:MM"))?;
    let local = clinical
        .tz()
        .from_local_datetime(&d.and_time(t))
        .earliest()
        .ok_or_else(|| ApiError::field("time", "does not exist on that day (clock change)"))?;
    Ok(local.with_timezone(&Utc).to_rfc3339())
}

async fn book(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    p: PageCtx,
    form: web::Form<BookForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let date = parse_date("date", &form.date).unwrap_or_else(|_| today(&clinical));
    let attempt = async {
        let kind: AppointmentType = form
            .kind
            .parse()
            .map_err(|_| ApiError::field("type", "choose a type of visit"))?;
        let req = AppointmentRequest {
            patient_id: form.patient_id.trim().to_string(),
            doctor_id: form.doctor_id.clone(),
            department_id: form.department_id.clone(),
            starts_at: starts_at(&clinical, &form.date, &form.time)?,
            kind,
            reason: Some(form.reason.clone()),
        };
        book_appointment(&db, &clinical, p.ctx.clone(), req).await
    };
    match attempt.await {
        Ok(_) => Ok(redirect(&format!("/appointments?date={date}"))),
        Err(e @ (ApiError::Validation { .. } | ApiError::Conflict(_) | ApiError::NotFound(_))) => {
            let status = if matches!(e, ApiError::Conflict(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            let page = Page::of(None, None)?;
            render(
                &db,
                &clinical,
                p,
                date,
                None,
                page,
                status,
                Some(e.to_string()),
                form,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    notes: String,
}

fn back_to(clinical: &ClinicalSection, date: &str) -> String {
    let d = parse_date("date", date).unwrap_or_else(|_| today(clinical));
    format!("/appointments?date={d}")
}

async fn check_in(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    change_appointment(&db, &clinical, p.ctx, id.into_inner(), Op::CheckIn).await?;
    Ok(redirect(&back_to(&clinical, &form.date)))
}

async fn cancel(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let reason = cancel_reason(&form.reason)?;
    change_appointment(&db, &clinical, p.ctx, id.into_inner(), Op::Cancel(reason)).await?;
    Ok(redirect(&back_to(&clinical, &form.date)))
}

async fn complete(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let notes = match form.notes.trim() {
        "" => None,
        n => Some(super::model::check_text("notes", n, 1, 5000)?),
    };
    change_appointment(&db, &clinical, p.ctx, id.into_inner(), Op::Complete(notes)).await?;
    Ok(redirect(&back_to(&clinical, &form.date)))
}

/// One of a patient's own appointments.
struct OwnRow {
    id: String,
    when: String,
    doctor: String,
    kind: &'static str,
    status: String,
    reason: String,
    booked: bool,
}

#[derive(Template)]
#[template(path = "my_appointments.html")]
struct MinePage {
    layout: Layout,
    time_zone: String,
    rows: Vec<OwnRow>,
    pager: Pager,
}

#[derive(Deserialize)]
struct MineQuery {
    page: Option<i64>,
}

/// A patient's own appointments (the API's list, so the same scope and
/// access-log rows), with a cancel form on those still booked.
async fn mine(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    p: PageCtx,
    q: web::Query<MineQuery>,
) -> PageResult {
    p.ctx.require(P::AppointmentsReadOwn)?;
    let page = Page::of(q.page, None)?;
    let (views, total) =
        list_appointments(&db, &clinical, p.ctx.clone(), &ListQuery::default(), page).await?;
    let tenant = p.ctx.tenant.clone();
    let doctor_ids: Vec<String> = views.iter().map(|v| v.doctor_id.clone()).collect();
    let names = db
        .run(move |conn| {
            Ok(doctor_ids
                .iter()
                .map(|id| {
                    users::get_in_tenant(conn, &tenant, id)
                        .map(|u| u.username)
                        .unwrap_or_else(|_| "a doctor".into())
                })
                .collect::<Vec<_>>())
        })
        .await?;
    let tz = clinical.tz();
    let rows = views
        .iter()
        .zip(names)
        .map(|(v, doctor)| OwnRow {
            id: v.id.clone(),
            when: v
                .starts_at
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M")
                .to_string(),
            doctor,
            kind: v.kind.into(),
            status: v.status.as_str().replace('_', " "),
            reason: v.reason.clone().unwrap_or_default(),
            booked: v.status == super::model::AppointmentStatus::Booked,
        })
        .collect();
    html_status(
        StatusCode::OK,
        &MinePage {
            layout: p.web.layout("My appointments"),
            time_zone: clinical.time_zone.clone(),
            rows,
            pager: Pager::new(&page, total, |n| format!("page={n}")),
        },
    )
}

async fn cancel_mine(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<ActionForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let reason = cancel_reason(&form.reason)?;
    change_appointment(&db, &clinical, p.ctx, id.into_inner(), Op::Cancel(reason)).await?;
    Ok(redirect("/my-appointments"))
}
