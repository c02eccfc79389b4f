//! A doctor's availability: `GET|PUT …/doctors/{id}/schedule`,
//! `GET|POST …/doctors/{id}/time-off`, `DELETE …/doctors/{id}/time-off/{time_off_id}`,
//! `GET …/doctors/{id}/slots?date=`.

use actix_web::{web, HttpResponse};
use common::db::{now, Db, DbConn};
use common::http::resource;
use common::response::{self, Page, PageQuery};
use common::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::availability::{self, FreeSlot, TimeOff, WorkDay, GRANULE_MINUTES, WEEKDAYS};
use super::model::{check_text, parse_date, parse_start};
use super::scope;
use crate::context::Ctx;
use crate::schema::{appointments, doctor_time_off};
use crate::settings::ClinicalSection;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/doctors/{id}/schedule")
            .route(web::get().to(get_schedule))
            .route(web::put().to(put_schedule)),
    )
    .service(
        resource("/doctors/{id}/time-off")
            .route(web::get().to(list_time_off))
            .route(web::post().to(add_time_off)),
    )
    .service(
        resource("/doctors/{id}/time-off/{time_off_id}").route(web::delete().to(remove_time_off)),
    )
    .service(resource("/doctors/{id}/slots").route(web::get().to(slots)));
}

/// One worked weekday, as clients write it.
#[derive(utoipa::ToSchema, Deserialize, Serialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDay {
    /// `monday` … `sunday`.
    pub weekday: String,
    /// First slot, `HH:MM` local time (a multiple of 5 minutes).
    pub start: String,
    /// End of the last slot, `HH:MM` (up to `24:00`).
    pub end: String,
    /// Length of an appointment, 5 to 240 minutes, a multiple of 5.
    pub slot_minutes: i32,
}

/// A doctor's week.
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct DoctorSchedule {
    /// The doctor.
    pub doctor_id: String,
    /// The hospital's time zone the hours are in.
    pub time_zone: String,
    /// Whether this is the default week (none set for the doctor).
    pub default: bool,
    /// The worked days.
    pub days: Vec<ScheduleDay>,
}

/// A new week.
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleRequest {
    /// 1 to 7 days, each weekday at most once.
    days: Vec<ScheduleDay>,
}

fn hhmm(minute: i32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn parse_hhmm(field: &str, v: &str) -> ApiResult<i32> {
    let bad = || {
        ApiError::field(
            field,
            "must be HH:MM on a multiple of 5 minutes, 00:00 to 24:00",
        )
    };
    let (h, m) = v.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let minute = h * 60 + m;
    if !(0..24).contains(&h) && minute != 24 * 60
        || !(0..60).contains(&m)
        || i64::from(m) % GRANULE_MINUTES != 0
    {
        return Err(bad());
    }
    Ok(minute)
}

fn to_work_day(d: &ScheduleDay) -> ApiResult<WorkDay> {
    let weekday = WEEKDAYS
        .iter()
        .position(|w| *w == d.weekday)
        .ok_or_else(|| ApiError::field("weekday", "must be monday … sunday"))?;
    let start = parse_hhmm("start", &d.start)?;
    let end = parse_hhmm("end", &d.end)?;
    if !(5..=240).contains(&d.slot_minutes) || i64::from(d.slot_minutes) % GRANULE_MINUTES != 0 {
        return Err(ApiError::field(
            "slot_minutes",
            "must be 5 to 240, a multiple of 5",
        ));
    }
    if end - start < d.slot_minutes {
        return Err(ApiError::field(
            "end",
            "must leave room for at least one slot after start",
        ));
    }
    Ok(WorkDay {
        weekday: weekday as i32 + 1,
        start_minute: start,
        end_minute: end,
        slot_minutes: d.slot_minutes,
    })
}

/// Refuse unless the caller may see doctors' availability (anyone who
/// reads appointments), and the doctor is one of the tenant (404 if not).
fn require_doctor_path(conn: &mut DbConn, ctx: &Ctx, doctor: &str) -> ApiResult<()> {
    availability::require_doctor(conn, &ctx.user, &ctx.tenant, "id", doctor)
        .map_err(|_| ApiError::NotFound("no such doctor".into()))
}

#[utoipa::path(get, path = "/doctors/{id}/schedule", tag = "appointments", security(("bearer" = [])),
    summary = "A doctor's working week (anyone who reads appointments)",
    responses((status = 200, description = "The week", body = DoctorSchedule)))]
async fn get_schedule(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    ctx: Ctx,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let schedule = read_schedule(&db, &clinical, ctx, id.into_inner()).await?;
    Ok(response::ok(schedule))
}

/// A doctor's week (shared with the pages).
pub(crate) async fn read_schedule(
    db: &Db,
    clinical: &ClinicalSection,
    ctx: Ctx,
    doctor: String,
) -> ApiResult<DoctorSchedule> {
    scope::require_reader(&ctx.user)?;
    let time_zone = clinical.time_zone.clone();
    db.run(move |conn| {
        require_doctor_path(conn, &ctx, &doctor)?;
        let (days, default) = availability::week(conn, &ctx.tenant, &doctor)?;
        Ok(DoctorSchedule {
            doctor_id: doctor,
            time_zone,
            default,
            days: days
                .iter()
                .map(|d| ScheduleDay {
                    weekday: WEEKDAYS[(d.weekday - 1).clamp(0, 6) as usize].to_string(),
                    start: hhmm(d.start_minute),
                    end: hhmm(d.end_minute),
                    slot_minutes: d.slot_minutes,
                })
                .collect(),
        })
    })
    .await
}

#[utoipa::path(put, path = "/doctors/{id}/schedule", tag = "appointments", security(("bearer" = [])),
    summary = "Set a doctor's working week (schedules.manage); booked appointments stay as they are",
    request_body = ScheduleRequest,
    responses((status = 200, description = "The new week", body = DoctorSchedule)))]
async fn put_schedule(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<ScheduleRequest>,
) -> ApiResult<HttpResponse> {
    ctx.require(P::SchedulesManage)?;
    let body = body.into_inner();
    if body.days.is_empty() || body.days.len() > 7 {
        return Err(ApiError::field(
            "days",
            "give 1 to 7 worked days (time off covers absences)",
        ));
    }
    let days = body
        .days
        .iter()
        .map(to_work_day)
        .collect::<ApiResult<Vec<_>>>()?;
    let mut seen: Vec<i32> = days.iter().map(|d| d.weekday).collect();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != days.len() {
        return Err(ApiError::field("days", "each weekday at most once"));
    }
    let (c, doctor) = (ctx.clone(), id.into_inner());
    let d = doctor.clone();
    db.write(move |conn| {
        require_doctor_path(conn, &c, &d)?;
        availability::replace_week(conn, &c.tenant, &d, &days, &c.user.id)?;
        let event = c
            .event("schedule.update", &format!("user:{d}"))
            .details(json!({ "days": body.days }));
        c.audit(conn, &event)
    })
    .await?;
    let schedule = read_schedule(&db, &clinical, ctx, doctor).await?;
    Ok(response::ok(schedule))
}

/// Refuse unless the caller may see a doctor's time off: schedule
/// managers, appointment managers, and the doctor themself.
fn require_time_off_reader(ctx: &Ctx, doctor: &str) -> ApiResult<()> {
    if ctx.can(P::SchedulesManage) || ctx.can(P::AppointmentsManage) || ctx.user.id == doctor {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "your role may not read doctors' time off".into(),
        ))
    }
}

#[utoipa::path(get, path = "/doctors/{id}/time-off", tag = "appointments", security(("bearer" = [])),
    summary = "A doctor's time off, latest first (schedules.manage, appointments.manage, the doctor)",
    params(PageQuery), responses((status = 200, description = "A page of time off", body = Vec<TimeOff>)))]
async fn list_time_off(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    q: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let page = Page::from_query(&q)?;
    let doctor = id.into_inner();
    require_time_off_reader(&ctx, &doctor)?;
    let (rows, total) = db
        .run(move |conn| {
            require_doctor_path(conn, &ctx, &doctor)?;
            let q = || {
                doctor_time_off::table
                    .filter(doctor_time_off::tenant_id.eq(ctx.tenant.clone()))
                    .filter(doctor_time_off::doctor_id.eq(doctor.clone()))
            };
            let total: i64 = q().count().get_result(conn)?;
            let rows = q()
                .order((doctor_time_off::starts_at.desc(), doctor_time_off::id.asc()))
                .limit(page.page_size)
                .offset(page.offset())
                .select(TimeOff::as_select())
                .load(conn)?;
            Ok((rows, total))
        })
        .await?;
    Ok(response::page(rows, &page, total))
}

/// A period of time off.
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeOffRequest {
    /// From, RFC 3339 with offset.
    starts_at: String,
    /// Until (exclusive), RFC 3339 with offset; at most a year after the start.
    ends_at: String,
    /// 1 to 200 characters, about the doctor (no patient data).
    #[schema(min_length = 1, max_length = 200)]
    reason: String,
}

#[utoipa::path(post, path = "/doctors/{id}/time-off", tag = "appointments", security(("bearer" = [])),
    summary = "Record a doctor's time off (schedules.manage); refused while appointments are booked in it",
    request_body = TimeOffRequest,
    responses((status = 201, description = "Recorded", body = TimeOff),
        (status = 409, description = "Appointments are booked in that period")))]
async fn add_time_off(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<TimeOffRequest>,
) -> ApiResult<HttpResponse> {
    ctx.require(P::SchedulesManage)?;
    let starts_at = parse_start("starts_at", &body.starts_at)?;
    let ends_at = parse_start("ends_at", &body.ends_at)?;
    if ends_at <= starts_at || ends_at - starts_at > chrono::Duration::days(366) {
        return Err(ApiError::field(
            "ends_at",
            "must be after starts_at, at most a year later",
        ));
    }
    if ends_at <= now() {
        return Err(ApiError::field("ends_at", "must be in the future"));
    }
    let reason = check_text("reason", &body.reason, 1, 200)?;
    let doctor = id.into_inner();
    let c = ctx.clone();
    let t = db
        .write(move |conn| {
            require_doctor_path(conn, &c, &doctor)?;
            let booked: i64 = appointments::table
                .filter(appointments::tenant_id.eq(&c.tenant))
                .filter(appointments::doctor_id.eq(&doctor))
                .filter(appointments::status.eq_any(["booked", "checked_in"]))
                .filter(appointments::starts_at.lt(ends_at))
                .filter(appointments::ends_at.gt(starts_at))
                .count()
                .get_result(conn)?;
            if booked > 0 {
                return Err(ApiError::Conflict(format!(
                    "{booked} appointment(s) are booked in that period: move or cancel them first"
                )));
            }
            let t = TimeOff {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: c.tenant.clone(),
                doctor_id: doctor.clone(),
                starts_at,
                ends_at,
                reason,
                created_by: c.user.id.clone(),
                created_at: now(),
            };
            availability::add_time_off(conn, &t)?;
            let event = c
                .event("schedule.time_off.add", &format!("user:{doctor}"))
                .details(json!({ "time_off": t.id, "starts_at": starts_at, "ends_at": ends_at }));
            c.audit(conn, &event)?;
            Ok(t)
        })
        .await?;
    Ok(response::created(t))
}

#[utoipa::path(delete, path = "/doctors/{id}/time-off/{time_off_id}", tag = "appointments", security(("bearer" = [])),
    summary = "Delete a period of time off (schedules.manage)",
    responses((status = 200, description = "Deleted", body = crate::openapi::Deleted)))]
async fn remove_time_off(
    db: web::Data<Db>,
    ctx: Ctx,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    ctx.require(P::SchedulesManage)?;
    let (doctor, time_off) = path.into_inner();
    db.write(move |conn| {
        require_doctor_path(conn, &ctx, &doctor)?;
        if !availability::remove_time_off(conn, &ctx.tenant, &doctor, &time_off)? {
            return Err(ApiError::NotFound("no such time off".into()));
        }
        let event = ctx
            .event("schedule.time_off.remove", &format!("user:{doctor}"))
            .details(json!({ "time_off": time_off }));
        ctx.audit(conn, &event)
    })
    .await?;
    Ok(response::ok(json!({ "deleted": true })))
}

/// The day to list.
#[derive(utoipa::IntoParams, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotsQuery {
    /// YYYY-MM-DD in the hospital's time zone.
    date: String,
}

#[utoipa::path(get, path = "/doctors/{id}/slots", tag = "appointments", security(("bearer" = [])),
    summary = "A doctor's free slots on a day (anyone who reads appointments)",
    params(SlotsQuery), responses((status = 200, description = "The free slots, in order", body = Vec<FreeSlot>)))]
async fn slots(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    ctx: Ctx,
    id: web::Path<String>,
    q: web::Query<SlotsQuery>,
) -> ApiResult<HttpResponse> {
    let date = parse_date("date", &q.date)?;
    let free = free_slots(&db, &clinical, ctx, id.into_inner(), date).await?;
    Ok(response::ok(free))
}

/// A doctor's free slots on a day (shared with the pages).
pub(crate) async fn free_slots(
    db: &Db,
    clinical: &ClinicalSection,
    ctx: Ctx,
    doctor: String,
    date: chrono::NaiveDate,
) -> ApiResult<Vec<FreeSlot>> {
    scope::require_reader(&ctx.user)?;
    let tz = clinical.tz();
    db.run(move |conn| {
        require_doctor_path(conn, &ctx, &doctor)?;
        availability::free_slots(conn, tz, &ctx.tenant, &doctor, date)
    })
    .await
}
