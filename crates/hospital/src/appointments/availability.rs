//! A doctor's availability: the working week (`doctor_schedules`, or the
//! default week when none is set), time off, and the slots these give.
//! Hours are in the hospital's time zone (`[clinical] time_zone`); stored
//! and answered times are UTC.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;
use common::accounts::store as users;
use common::auth::AuthUser;
use common::db::{now, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::{appointment_granules, doctor_schedules, doctor_time_off};
use crate::HospitalPermission as P;

/// The size of the granules overlaps are checked on; every slot length and
/// working-hour bound is a multiple of it.
pub const GRANULE_MINUTES: i64 = 5;

/// Weekday names, ISO order (index + 1 is the stored weekday).
pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// One worked weekday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = doctor_schedules)]
pub struct WorkDay {
    /// ISO weekday, 1 = Monday.
    pub weekday: i32,
    /// Minutes after local midnight.
    pub start_minute: i32,
    /// Minutes after local midnight (exclusive).
    pub end_minute: i32,
    /// Length of one appointment.
    pub slot_minutes: i32,
}

/// The week of a doctor who has none set: Monday to Friday, 09:00-17:00,
/// 30-minute slots.
pub fn default_week() -> Vec<WorkDay> {
    (1..=5)
        .map(|weekday| WorkDay {
            weekday,
            start_minute: 9 * 60,
            end_minute: 17 * 60,
            slot_minutes: 30,
        })
        .collect()
}

/// The doctor's week and whether it is the default one.
pub fn week(conn: &mut DbConn, tenant: &str, doctor: &str) -> ApiResult<(Vec<WorkDay>, bool)> {
    let rows: Vec<WorkDay> = doctor_schedules::table
        .filter(doctor_schedules::tenant_id.eq(tenant))
        .filter(doctor_schedules::doctor_id.eq(doctor))
        .order(doctor_schedules::weekday.asc())
        .select(WorkDay::as_select())
        .load(conn)?;
    if rows.is_empty() {
        Ok((default_week(), true))
    } else {
        Ok((rows, false))
    }
}

/// Replace the doctor's week (inside a write).
pub fn replace_week(
    conn: &mut DbConn,
    tenant: &str,
    doctor: &str,
    days: &[WorkDay],
    by: &str,
) -> ApiResult<()> {
    diesel::delete(
        doctor_schedules::table
            .filter(doctor_schedules::tenant_id.eq(tenant))
            .filter(doctor_schedules::doctor_id.eq(doctor)),
    )
    .execute(conn)?;
    let t = now();
    for d in days {
        diesel::insert_into(doctor_schedules::table)
            .values((
                doctor_schedules::tenant_id.eq(tenant),
                doctor_schedules::doctor_id.eq(doctor),
                doctor_schedules::weekday.eq(d.weekday),
                doctor_schedules::start_minute.eq(d.start_minute),
                doctor_schedules::end_minute.eq(d.end_minute),
                doctor_schedules::slot_minutes.eq(d.slot_minutes),
                doctor_schedules::updated_by.eq(by),
                doctor_schedules::updated_at.eq(t),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A period of time off.
#[derive(utoipa::ToSchema, Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = doctor_time_off)]
pub struct TimeOff {
    /// UUID.
    pub id: String,
    /// Tenant.
    #[serde(skip)]
    pub tenant_id: String,
    /// The doctor.
    pub doctor_id: String,
    /// From (UTC).
    pub starts_at: NaiveDateTime,
    /// Until (UTC, exclusive).
    pub ends_at: NaiveDateTime,
    /// Why (about the doctor; no patient data).
    pub reason: String,
    /// Entered by.
    pub created_by: String,
    /// Entered at.
    pub created_at: NaiveDateTime,
}

/// Record time off (inside a write).
pub fn add_time_off(conn: &mut DbConn, t: &TimeOff) -> ApiResult<()> {
    diesel::insert_into(doctor_time_off::table)
        .values((
            doctor_time_off::id.eq(&t.id),
            doctor_time_off::tenant_id.eq(&t.tenant_id),
            doctor_time_off::doctor_id.eq(&t.doctor_id),
            doctor_time_off::starts_at.eq(t.starts_at),
            doctor_time_off::ends_at.eq(t.ends_at),
            doctor_time_off::reason.eq(&t.reason),
            doctor_time_off::created_by.eq(&t.created_by),
            doctor_time_off::created_at.eq(t.created_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Delete a period of time off; false if there was none.
pub fn remove_time_off(conn: &mut DbConn, tenant: &str, doctor: &str, id: &str) -> ApiResult<bool> {
    let n = diesel::delete(
        doctor_time_off::table
            .filter(doctor_time_off::tenant_id.eq(tenant))
            .filter(doctor_time_off::doctor_id.eq(doctor))
            .filter(doctor_time_off::id.eq(id)),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// The doctor's time off that ends after `from`, soonest first (at most 500).
pub fn time_off_from(
    conn: &mut DbConn,
    tenant: &str,
    doctor: &str,
    from: NaiveDateTime,
) -> ApiResult<Vec<TimeOff>> {
    Ok(doctor_time_off::table
        .filter(doctor_time_off::tenant_id.eq(tenant))
        .filter(doctor_time_off::doctor_id.eq(doctor))
        .filter(doctor_time_off::ends_at.gt(from))
        .order(doctor_time_off::starts_at.asc())
        .limit(500)
        .select(TimeOff::as_select())
        .load(conn)?)
}

/// Whether time off overlaps `[start, end)`.
fn is_off(
    conn: &mut DbConn,
    tenant: &str,
    doctor: &str,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> ApiResult<bool> {
    let n: i64 = doctor_time_off::table
        .filter(doctor_time_off::tenant_id.eq(tenant))
        .filter(doctor_time_off::doctor_id.eq(doctor))
        .filter(doctor_time_off::starts_at.lt(end))
        .filter(doctor_time_off::ends_at.gt(start))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Check that `doctor_id` names an active doctor of the tenant: a user
/// whose role completes appointments. Anything else (a nurse, another
/// tenant's doctor, nobody) is a validation error on `field`.
pub fn require_doctor(
    conn: &mut DbConn,
    caller: &AuthUser,
    tenant: &str,
    field: &str,
    doctor_id: &str,
) -> ApiResult<()> {
    let user = users::get_in_tenant(conn, tenant, doctor_id)
        .map_err(|_| ApiError::field(field, "no such doctor in this hospital"))?;
    if !user.active || !caller.role_can(&user.role, P::AppointmentsComplete) {
        return Err(ApiError::field(
            field,
            "not an active doctor of this hospital",
        ));
    }
    Ok(())
}

/// The end of the slot starting at `start` (UTC), after checking it is a
/// slot of the doctor: on a slot boundary of a worked day, within the
/// working hours, not in the past, not during time off.
pub fn check_slot(
    conn: &mut DbConn,
    tz: Tz,
    tenant: &str,
    doctor: &str,
    start: NaiveDateTime,
) -> ApiResult<NaiveDateTime> {
    if start <= now() {
        return Err(ApiError::field("starts_at", "must be in the future"));
    }
    let local = tz.from_utc_datetime(&start);
    let weekday = local.weekday().number_from_monday() as i32;
    let minute = (local.hour() * 60 + local.minute()) as i32;
    let (days, _) = week(conn, tenant, doctor)?;
    let day = days
        .iter()
        .find(|d| d.weekday == weekday)
        .ok_or_else(|| ApiError::field("starts_at", "the doctor does not work on that day"))?;
    if minute < day.start_minute || minute + day.slot_minutes > day.end_minute {
        return Err(ApiError::field(
            "starts_at",
            "outside the doctor's working hours",
        ));
    }
    if (minute - day.start_minute) % day.slot_minutes != 0 {
        return Err(ApiError::field(
            "starts_at",
            format!(
                "must start on a slot boundary ({} minutes)",
                day.slot_minutes
            ),
        ));
    }
    let end = start + Duration::minutes(i64::from(day.slot_minutes));
    if is_off(conn, tenant, doctor, start, end)? {
        return Err(ApiError::field(
            "starts_at",
            "the doctor is off at that time",
        ));
    }
    Ok(end)
}

/// A free slot.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct FreeSlot {
    /// Start (UTC).
    pub starts_at: chrono::DateTime<chrono::Utc>,
    /// End (UTC, exclusive).
    pub ends_at: chrono::DateTime<chrono::Utc>,
}

/// The bounds, in UTC, of local day `date`.
pub fn day_bounds(tz: Tz, date: NaiveDate) -> (NaiveDateTime, NaiveDateTime) {
    let at = |d: NaiveDate| {
        let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        tz.from_local_datetime(&midnight)
            .earliest()
            .map(|t| t.naive_utc())
            // A day starting in a gap (midnight skipped): its first hour.
            .unwrap_or(midnight)
    };
    (at(date), at(date.succ_opt().unwrap_or(date)))
}

/// The doctor's free slots on local day `date`: in the working hours, in
/// the future, not during time off, not overlapping a held appointment.
pub fn free_slots(
    conn: &mut DbConn,
    tz: Tz,
    tenant: &str,
    doctor: &str,
    date: NaiveDate,
) -> ApiResult<Vec<FreeSlot>> {
    let (days, _) = week(conn, tenant, doctor)?;
    let weekday = date.weekday().number_from_monday() as i32;
    let Some(day) = days.into_iter().find(|d| d.weekday == weekday) else {
        return Ok(Vec::new());
    };
    let (from, to) = day_bounds(tz, date);
    let held: std::collections::HashSet<NaiveDateTime> = appointment_granules::table
        .filter(appointment_granules::tenant_id.eq(tenant))
        .filter(appointment_granules::holder.eq(format!("doctor:{doctor}")))
        .filter(appointment_granules::granule_start.ge(from - Duration::hours(1)))
        .filter(appointment_granules::granule_start.lt(to + Duration::hours(1)))
        .select(appointment_granules::granule_start)
        .load::<NaiveDateTime>(conn)?
        .into_iter()
        .collect();
    let off = time_off_from(conn, tenant, doctor, from)?;
    let t0 = now();
    let mut out = Vec::new();
    let mut m = day.start_minute;
    while m + day.slot_minutes <= day.end_minute {
        let local = date.and_hms_opt(0, 0, 0).unwrap_or_default() + Duration::minutes(i64::from(m));
        m += day.slot_minutes;
        // A local time skipped by a clock change is no slot.
        let Some(start) = tz
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.naive_utc())
        else {
            continue;
        };
        let end = start + Duration::minutes(i64::from(day.slot_minutes));
        if start <= t0
            || off.iter().any(|o| o.starts_at < end && o.ends_at > start)
            || granules(start, end).iter().any(|g| held.contains(g))
        {
            continue;
        }
        out.push(FreeSlot {
            starts_at: super::model::utc(start),
            ends_at: super::model::utc(end),
        });
    }
    Ok(out)
}

/// The granules `[start, end)` covers: every 5-minute step from `start`
/// rounded down. Two intervals that overlap share at least one.
pub fn granules(start: NaiveDateTime, end: NaiveDateTime) -> Vec<NaiveDateTime> {
    let step = GRANULE_MINUTES * 60;
    let secs = start.and_utc().timestamp();
    let first = secs - secs.rem_euclid(step);
    let mut out = Vec::new();
    let mut t = first;
    let end = end.and_utc().timestamp();
    while t < end {
        if let Some(g) = chrono::DateTime::from_timestamp(t, 0) {
            out.push(g.naive_utc());
        }
        t += step;
    }
    out
}
