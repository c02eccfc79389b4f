//! `POST|GET …/appointments`, `GET …/appointments/{id}`,
//! `POST …/appointments/{id}/{reschedule,cancel,check-in,complete,no-show}`.

use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use common::db::{now, Db};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::json;

use super::availability;
use super::model::{
    check_id, check_text, parse_date, parse_start, AppointmentStatus, AppointmentType,
    AppointmentView,
};
use super::scope::{self, Change};
use super::store::{self, Appointment, Changes, ListFilter};
use crate::context::Ctx;
use crate::departments::store as departments;
use crate::settings::ClinicalSection;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/appointments")
            .route(web::get().to(list))
            .route(web::post().to(book)),
    )
    .service(resource("/appointments/{id}").route(web::get().to(get)))
    .service(resource("/appointments/{id}/reschedule").route(web::post().to(reschedule)))
    .service(resource("/appointments/{id}/cancel").route(web::post().to(cancel)))
    .service(resource("/appointments/{id}/check-in").route(web::post().to(check_in)))
    .service(resource("/appointments/{id}/complete").route(web::post().to(complete)))
    .service(resource("/appointments/{id}/no-show").route(web::post().to(no_show)));
}

/// How many upcoming booked appointments a patient may hold when booking
/// for themself (staff book beyond it).
pub const MAX_UPCOMING_OWN: i64 = 5;

/// A booking.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct AppointmentRequest {
    /// The patient.
    #[schema(min_length = 1, max_length = 64)]
    pub patient_id: String,
    /// The doctor (a user whose role completes appointments).
    #[schema(min_length = 1, max_length = 64)]
    pub doctor_id: String,
    /// The department.
    #[schema(min_length = 1, max_length = 64)]
    pub department_id: String,
    /// Start, RFC 3339 with offset, on a slot of the doctor.
    pub starts_at: String,
    /// Kind of visit.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub kind: AppointmentType,
    /// Why the patient comes (clinical; sealed).
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/appointments", tag = "appointments", security(("bearer" = [])),
    summary = "Book an appointment (appointments.manage; a doctor for a patient on their care team; a patient for themself); the insurer is asked about the patient's insurance and its answer kept (insurance_eligibility; never an error: unverified when it cannot answer)",
    request_body = AppointmentRequest,
    responses((status = 201, description = "Booked", body = AppointmentView),
        (status = 409, description = "The doctor or the patient already has an appointment then")))]
async fn book(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    ctx: Ctx,
    body: web::Json<AppointmentRequest>,
) -> ApiResult<HttpResponse> {
    let view = book_appointment(&db, &clinical, ctx, body.into_inner()).await?;
    Ok(response::created(view))
}

/// Book, with the API's checks and audit row (shared with the pages).
pub(crate) async fn book_appointment(
    db: &Db,
    clinical: &ClinicalSection,
    ctx: Ctx,
    req: AppointmentRequest,
) -> ApiResult<AppointmentView> {
    if !(ctx.can(P::AppointmentsManage)
        || ctx.can(P::AppointmentsBookAssigned)
        || ctx.can(P::AppointmentsBookOwn))
    {
        return Err(ApiError::Forbidden(
            "your role may not book appointments".into(),
        ));
    }
    check_id("patient_id", &req.patient_id)?;
    check_id("doctor_id", &req.doctor_id)?;
    check_id("department_id", &req.department_id)?;
    let start = parse_start("starts_at", &req.starts_at)?;
    let reason = match &req.reason {
        Some(r) if !r.trim().is_empty() => Some(check_text("reason", r, 1, 1000)?),
        _ => None,
    };
    let tz = clinical.tz();
    // The insurer is asked before the write transaction (never inside
    // it), and only about a patient the caller may book for; whatever it
    // does, the booking goes on (`unverified` when it cannot answer).
    let (c, patient) = (ctx.clone(), req.patient_id.clone());
    let insurance = db
        .run(move |conn| {
            scope::require_booker(conn, &c.user, &c.tenant, &patient)?;
            crate::patients::store::insurance_of(conn, &c.keyring, &c.tenant, &patient)
        })
        .await?;
    let checked = ctx.insurance.eligibility(insurance.as_ref()).await;
    let c = ctx.clone();
    let a = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            scope::require_booker(conn, user, tenant, &req.patient_id)?;
            availability::require_doctor(conn, user, tenant, "doctor_id", &req.doctor_id)?;
            let dept = departments::get(conn, tenant, &req.department_id)
                .map_err(|_| ApiError::field("department_id", "no such department"))?;
            if !dept.active {
                return Err(ApiError::field(
                    "department_id",
                    "the department is not in use",
                ));
            }
            let end = availability::check_slot(conn, tz, tenant, &req.doctor_id, start)?;
            if !user.can(P::AppointmentsManage) && !user.can(P::AppointmentsBookAssigned) {
                // A portal account cannot take a clinic's whole week.
                let upcoming = store::upcoming_booked(conn, tenant, &req.patient_id)?;
                if upcoming >= MAX_UPCOMING_OWN {
                    return Err(ApiError::Conflict(format!(
                        "at most {MAX_UPCOMING_OWN} upcoming appointments may be booked through the portal"
                    )));
                }
            }
            let id = uuid::Uuid::new_v4().to_string();
            let reason_json = serde_json::to_string(&reason)
                .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
            let t = now();
            let a = Appointment {
                reason_enc: store::seal(conn, &c.keyring, tenant, &id, "reason", &reason_json)?,
                id,
                tenant_id: tenant.clone(),
                patient_id: req.patient_id.clone(),
                doctor_id: req.doctor_id.clone(),
                department_id: req.department_id.clone(),
                kind: <&str>::from(req.kind).to_string(),
                status: AppointmentStatus::Booked.as_str().to_string(),
                starts_at: start,
                ends_at: end,
                notes_enc: None,
                cancel_reason_enc: None,
                created_by: user.id.clone(),
                created_at: t,
                updated_by: user.id.clone(),
                updated_at: t,
                insurance_eligibility: checked.eligibility.as_str().to_string(),
                insurance_checked_at: checked.at,
            };
            store::insert(conn, &a)?;
            if checked.eligibility.is_answer() {
                // The patient's record keeps the insurer's latest answer.
                crate::patients::store::set_eligibility(conn, tenant, &a.patient_id, &checked)?;
            }
            let event = c
                .patient_event("appointment.book", &a.patient_id)
                .details(json!({
                    "appointment": a.id, "doctor_id": a.doctor_id, "starts_at": a.starts_at,
                }));
            c.audit(conn, &event)?;
            Ok(a)
        })
        .await?;
    crate::messages::notify::appointment_booked(
        db,
        &ctx,
        &a.id,
        &a.patient_id,
        &a.doctor_id,
        a.starts_at,
    )
    .await?;
    let (keyring, view) = (ctx.keyring.clone(), ctx.view);
    db.run(move |conn| store::to_view(conn, &keyring, &a, view))
        .await
}

#[utoipa::path(get, path = "/appointments/{id}", tag = "appointments", security(("bearer" = [])),
    summary = "One appointment (written to the patient's access log)",
    responses((status = 200, description = "The appointment", body = AppointmentView)))]
async fn get(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let view = read_appointment(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(view))
}

/// One appointment, with its access-log row (shared with the pages).
pub(crate) async fn read_appointment(db: &Db, ctx: Ctx, id: String) -> ApiResult<AppointmentView> {
    scope::require_reader(&ctx.user)?;
    let c = ctx.clone();
    let view = db
        .run(move |conn| {
            let a = store::find_visible(conn, scope::visible(&c.user, &c.tenant)?, &id)?
                .ok_or_else(scope::not_found)?;
            store::to_view(conn, &c.keyring, &a, c.view)
        })
        .await?;
    ctx.record(db, vec![read_event(&ctx, &view)]).await?;
    Ok(view)
}

fn read_event(ctx: &Ctx, v: &AppointmentView) -> common::audit::Event {
    ctx.patient_event("appointment.read", &v.patient_id)
        .details(json!({ "appointment": v.id }))
}

/// The list's filters and page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// One doctor's appointments.
    pub doctor_id: Option<String>,
    /// One patient's appointments.
    pub patient_id: Option<String>,
    /// One department's appointments.
    pub department_id: Option<String>,
    /// Only in this status.
    pub status: Option<AppointmentStatus>,
    /// Only those starting on this day (YYYY-MM-DD, the hospital's time zone).
    pub date: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/appointments", tag = "appointments", security(("bearer" = [])),
    summary = "Appointments the caller may see, by doctor, patient, department, status and day (each shown is written to its patient's access log)",
    params(ListQuery), responses((status = 200, description = "A page of appointments, soonest first", body = Vec<AppointmentView>)))]
async fn list(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    ctx: Ctx,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (views, total) = list_appointments(&db, &clinical, ctx, &q, page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of appointments, with one access-log row per appointment shown
/// (shared with the pages).
pub(crate) async fn list_appointments(
    db: &Db,
    clinical: &ClinicalSection,
    ctx: Ctx,
    q: &ListQuery,
    page: Page,
) -> ApiResult<(Vec<AppointmentView>, i64)> {
    scope::require_reader(&ctx.user)?;
    for (field, v) in [
        ("doctor_id", &q.doctor_id),
        ("patient_id", &q.patient_id),
        ("department_id", &q.department_id),
    ] {
        if let Some(v) = v {
            check_id(field, v)?;
        }
    }
    let between = match &q.date {
        Some(d) => Some(availability::day_bounds(
            clinical.tz(),
            parse_date("date", d)?,
        )),
        None => None,
    };
    let filter = ListFilter {
        doctor_id: q.doctor_id.clone(),
        patient_id: q.patient_id.clone(),
        department_id: q.department_id.clone(),
        status: q.status,
        between,
    };
    let c = ctx.clone();
    let (views, total) = db
        .run(move |conn| {
            let (rows, total) =
                store::list(conn, || scope::visible(&c.user, &c.tenant), &filter, &page)?;
            let views = rows
                .iter()
                .map(|a| store::to_view(conn, &c.keyring, a, c.view))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((views, total))
        })
        .await?;
    let events = views.iter().map(|v| read_event(&ctx, v)).collect();
    ctx.record(db, events).await?;
    Ok((views, total))
}

/// A change of an existing appointment, as the API and the pages ask it.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Move to the slot starting then.
    Reschedule(NaiveDateTime),
    /// Cancel, with a reason.
    Cancel(String),
    /// The patient arrived.
    CheckIn,
    /// Seen, with optional notes.
    Complete(Option<String>),
    /// The patient did not come.
    NoShow,
}

impl Op {
    fn change(&self) -> Change {
        match self {
            Self::Reschedule(_) => Change::Reschedule,
            Self::Cancel(_) => Change::Cancel,
            Self::CheckIn => Change::CheckIn,
            Self::Complete(_) => Change::Complete,
            Self::NoShow => Change::NoShow,
        }
    }

    fn action(&self) -> &'static str {
        match self {
            Self::Reschedule(_) => "appointment.reschedule",
            Self::Cancel(_) => "appointment.cancel",
            Self::CheckIn => "appointment.check_in",
            Self::Complete(_) => "appointment.complete",
            Self::NoShow => "appointment.no_show",
        }
    }

    /// The status it may start from, and the one it leads to.
    fn transition(&self) -> (AppointmentStatus, AppointmentStatus) {
        use AppointmentStatus as S;
        match self {
            Self::Reschedule(_) => (S::Booked, S::Booked),
            Self::Cancel(_) => (S::Booked, S::Cancelled),
            Self::CheckIn => (S::Booked, S::CheckedIn),
            Self::Complete(_) => (S::CheckedIn, S::Completed),
            Self::NoShow => (S::Booked, S::NoShow),
        }
    }
}

/// Change an appointment, with the API's checks and audit row, in one
/// write (a reschedule gives back the old time and holds the new one
/// atomically) (shared with the pages).
pub(crate) async fn change_appointment(
    db: &Db,
    clinical: &ClinicalSection,
    ctx: Ctx,
    id: String,
    op: Op,
) -> ApiResult<AppointmentView> {
    scope::require_change_permission(&ctx.user, op.change())?;
    let tz = clinical.tz();
    let c = ctx.clone();
    let a = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            let a = store::find_visible(conn, scope::visible(user, tenant)?, &id)?
                .ok_or_else(scope::not_found)?;
            scope::require_change(user, op.change(), &a.doctor_id)?;
            let (from, to) = op.transition();
            let status = a.status()?;
            if status != from {
                return Err(ApiError::Conflict(format!(
                    "the appointment is {}",
                    status.as_str().replace('_', " ")
                )));
            }
            let mut changes = Changes {
                status: Some(to),
                ..Default::default()
            };
            let mut details = json!({ "appointment": a.id });
            match &op {
                Op::Reschedule(start) => {
                    let end = availability::check_slot(conn, tz, tenant, &a.doctor_id, *start)?;
                    changes.times = Some((*start, end));
                    details["from"] = json!(a.starts_at);
                    details["to"] = json!(start);
                }
                Op::Cancel(reason) => {
                    changes.cancel_reason_enc = Some(store::seal(
                        conn,
                        &c.keyring,
                        tenant,
                        &a.id,
                        "cancel_reason",
                        reason,
                    )?);
                }
                Op::Complete(Some(notes)) => {
                    changes.notes_enc = Some(store::seal(
                        conn, &c.keyring, tenant, &a.id, "notes", notes,
                    )?);
                }
                Op::Complete(None) | Op::CheckIn | Op::NoShow => {}
            }
            let times = changes.times;
            if !store::update(conn, &a, changes, &user.id)? {
                return Err(ApiError::Conflict(
                    "the appointment was changed meanwhile; read it again".into(),
                ));
            }
            if !to.holds_time() || times.is_some() {
                store::release(conn, tenant, &a.id)?;
            }
            let a = store::find_visible(conn, scope::visible(user, tenant)?, &a.id)?
                .ok_or_else(scope::not_found)?;
            if times.is_some() {
                store::hold(conn, &a)?;
            }
            let event = c.patient_event(op.action(), &a.patient_id).details(details);
            c.audit(conn, &event)?;
            Ok(a)
        })
        .await?;
    let (keyring, view) = (ctx.keyring.clone(), ctx.view);
    db.run(move |conn| store::to_view(conn, &keyring, &a, view))
        .await
}

/// A new slot.
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct RescheduleRequest {
    /// The new start, RFC 3339 with offset, on a slot of the same doctor.
    starts_at: String,
}

/// Why an appointment is cancelled.
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelRequest {
    /// 3 to 500 characters (sealed).
    #[schema(min_length = 3, max_length = 500)]
    reason: String,
}

/// The doctor's notes at completion.
#[derive(utoipa::ToSchema, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CompleteRequest {
    /// At most 5000 characters (sealed).
    #[schema(max_length = 5000)]
    notes: Option<String>,
}

#[utoipa::path(post, path = "/appointments/{id}/reschedule", tag = "appointments", security(("bearer" = [])),
    summary = "Move a booked appointment to another slot of its doctor (appointments.manage)",
    request_body = RescheduleRequest,
    responses((status = 200, description = "Moved", body = AppointmentView),
        (status = 409, description = "Not booked, or the new slot is taken")))]
async fn reschedule(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<RescheduleRequest>,
) -> ApiResult<HttpResponse> {
    scope::require_change_permission(&ctx.user, Change::Reschedule)?;
    let start = parse_start("starts_at", &body.starts_at)?;
    let view =
        change_appointment(&db, &clinical, ctx, id.into_inner(), Op::Reschedule(start)).await?;
    Ok(response::ok(view))
}

/// Check a cancellation's reason.
pub(crate) fn cancel_reason(reason: &str) -> ApiResult<String> {
    check_text("reason", reason, 3, 500)
}

#[utoipa::path(post, path = "/appointments/{id}/cancel", tag = "appointments", security(("bearer" = [])),
    summary = "Cancel a booked appointment with a reason (appointments.manage; a patient their own)",
    request_body = CancelRequest,
    responses((status = 200, description = "Cancelled", body = AppointmentView),
        (status = 409, description = "Not booked")))]
async fn cancel(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<CancelRequest>,
) -> ApiResult<HttpResponse> {
    scope::require_change_permission(&ctx.user, Change::Cancel)?;
    let reason = cancel_reason(&body.reason)?;
    let view = change_appointment(&db, &clinical, ctx, id.into_inner(), Op::Cancel(reason)).await?;
    Ok(response::ok(view))
}

#[utoipa::path(post, path = "/appointments/{id}/check-in", tag = "appointments", security(("bearer" = [])),
    summary = "The patient has arrived (appointments.manage)",
    responses((status = 200, description = "Checked in", body = AppointmentView),
        (status = 409, description = "Not booked")))]
async fn check_in(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    ctx: Ctx,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let view = change_appointment(&db, &clinical, ctx, id.into_inner(), Op::CheckIn).await?;
    Ok(response::ok(view))
}

#[utoipa::path(post, path = "/appointments/{id}/complete", tag = "appointments", security(("bearer" = [])),
    summary = "The doctor saw the patient, with optional notes (appointments.complete, the appointment's doctor)",
    request_body(content = CompleteRequest, description = "Optional notes"),
    responses((status = 200, description = "Completed", body = AppointmentView),
        (status = 409, description = "Not checked in")))]
async fn complete(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    scope::require_change_permission(&ctx.user, Change::Complete)?;
    // The body is optional: none at all means no notes.
    let body: CompleteRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CompleteRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|_| ApiError::validation("the body must be {\"notes\": \"…\"} or empty"))?
    };
    let notes = match body.notes {
        Some(n) if !n.trim().is_empty() => Some(check_text("notes", &n, 1, 5000)?),
        _ => None,
    };
    let view =
        change_appointment(&db, &clinical, ctx, id.into_inner(), Op::Complete(notes)).await?;
    Ok(response::ok(view))
}

#[utoipa::path(post, path = "/appointments/{id}/no-show", tag = "appointments", security(("bearer" = [])),
    summary = "The patient did not come (appointments.manage)",
    responses((status = 200, description = "Marked", body = AppointmentView),
        (status = 409, description = "Not booked")))]
async fn no_show(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    ctx: Ctx,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let view = change_appointment(&db, &clinical, ctx, id.into_inner(), Op::NoShow).await?;
    Ok(response::ok(view))
}
