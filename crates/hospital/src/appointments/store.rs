//! Queries on `appointments` and `appointment_granules`. Clinical text is
//! sealed with the tenant's data key, bound to tenant, table, column and
//! row; each sealed column is written once.

use chrono::NaiveDateTime;
use common::crypto::{Aad, Keyring};
use common::db::{now, DbConn, Page};
use common::{ApiError, ApiResult};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::availability::granules;
use super::model::{utc, AppointmentStatus, AppointmentType, AppointmentView};
use super::scope::Visible;
use crate::patients::scope::View;
use crate::schema::{appointment_granules, appointments};

/// An appointment as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = appointments)]
pub struct Appointment {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The patient.
    pub patient_id: String,
    /// The doctor.
    pub doctor_id: String,
    /// The department.
    pub department_id: String,
    /// `AppointmentType`, stored by name.
    pub kind: String,
    /// `AppointmentStatus`, stored by name.
    pub status: String,
    /// Start (UTC).
    pub starts_at: NaiveDateTime,
    /// End (UTC, exclusive).
    pub ends_at: NaiveDateTime,
    /// Sealed JSON: the reason (a string or null).
    pub reason_enc: String,
    /// Sealed notes, once completed with notes.
    pub notes_enc: Option<String>,
    /// Sealed cancellation reason, once cancelled.
    pub cancel_reason_enc: Option<String>,
    /// Booked by.
    pub created_by: String,
    /// Booked at.
    pub created_at: NaiveDateTime,
    /// Last changed by.
    pub updated_by: String,
    /// Last changed at.
    pub updated_at: NaiveDateTime,
    /// `InsuranceEligibility` at booking, stored by name.
    pub insurance_eligibility: String,
    /// When the insurer was asked.
    pub insurance_checked_at: Option<NaiveDateTime>,
}

impl Appointment {
    /// The stored status.
    pub fn status(&self) -> ApiResult<AppointmentStatus> {
        self.status
            .parse()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown appointment status")))
    }
}

/// The associated data of a sealed column of appointment `id`.
pub fn aad(tenant: &str, column: &str, id: &str) -> Aad {
    Aad::new(tenant, "appointments", column, id)
}

/// Seal `value` into `column` of appointment `a`.
pub fn seal(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    id: &str,
    column: &str,
    value: &str,
) -> ApiResult<String> {
    keyring.encrypt(conn, tenant, value, &aad(tenant, column, id))
}

/// Insert a new appointment and hold its time.
pub fn insert(conn: &mut DbConn, a: &Appointment) -> ApiResult<()> {
    diesel::insert_into(appointments::table)
        .values(a)
        .execute(conn)?;
    hold(conn, a)
}

/// Hold `a`'s time for its doctor and its patient: one granule row each per
/// 5 minutes. The primary key of `appointment_granules` is what refuses an
/// overlap, also between concurrent writers and server instances; the
/// violation becomes 409 (and the caller's write rolls back whole).
pub fn hold(conn: &mut DbConn, a: &Appointment) -> ApiResult<()> {
    let slots = granules(a.starts_at, a.ends_at);
    for (holder, clash) in [
        (
            format!("doctor:{}", a.doctor_id),
            "the doctor already has an appointment at that time",
        ),
        (
            format!("patient:{}", a.patient_id),
            "the patient already has an appointment at that time",
        ),
    ] {
        for g in &slots {
            let r = diesel::insert_into(appointment_granules::table)
                .values((
                    appointment_granules::tenant_id.eq(&a.tenant_id),
                    appointment_granules::holder.eq(&holder),
                    appointment_granules::granule_start.eq(g),
                    appointment_granules::appointment_id.eq(&a.id),
                ))
                .execute(conn);
            match r {
                Ok(_) => {}
                Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                    return Err(ApiError::Conflict(clash.into()))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Give back the time appointment `id` holds.
pub fn release(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<()> {
    diesel::delete(
        appointment_granules::table
            .filter(appointment_granules::tenant_id.eq(tenant))
            .filter(appointment_granules::appointment_id.eq(id)),
    )
    .execute(conn)?;
    Ok(())
}

/// The appointment `id` among those `visible`.
pub fn find_visible(
    conn: &mut DbConn,
    visible: Visible,
    id: &str,
) -> ApiResult<Option<Appointment>> {
    Ok(visible
        .filter(appointments::id.eq(id.to_string()))
        .select(Appointment::as_select())
        .first(conn)
        .optional()?)
}

/// The fields a state change sets.
#[derive(Debug, Default)]
pub struct Changes {
    /// New status.
    pub status: Option<AppointmentStatus>,
    /// New times.
    pub times: Option<(NaiveDateTime, NaiveDateTime)>,
    /// Sealed notes.
    pub notes_enc: Option<String>,
    /// Sealed cancellation reason.
    pub cancel_reason_enc: Option<String>,
}

/// Apply `changes` to `a` if it is still in the status it was read in;
/// false if someone changed it meanwhile.
pub fn update(conn: &mut DbConn, a: &Appointment, changes: Changes, by: &str) -> ApiResult<bool> {
    let target = appointments::table
        .filter(appointments::tenant_id.eq(&a.tenant_id))
        .filter(appointments::id.eq(&a.id))
        .filter(appointments::status.eq(&a.status))
        .filter(appointments::starts_at.eq(a.starts_at));
    let status = changes
        .status
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|| a.status.clone());
    let (starts_at, ends_at) = changes.times.unwrap_or((a.starts_at, a.ends_at));
    let n = diesel::update(target)
        .set((
            appointments::status.eq(status),
            appointments::starts_at.eq(starts_at),
            appointments::ends_at.eq(ends_at),
            appointments::notes_enc.eq(changes.notes_enc.or_else(|| a.notes_enc.clone())),
            appointments::cancel_reason_enc.eq(changes
                .cancel_reason_enc
                .or_else(|| a.cancel_reason_enc.clone())),
            appointments::updated_by.eq(by),
            appointments::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// A list's filters (all optional, combined with AND).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// One doctor.
    pub doctor_id: Option<String>,
    /// One patient.
    pub patient_id: Option<String>,
    /// One department.
    pub department_id: Option<String>,
    /// One status.
    pub status: Option<AppointmentStatus>,
    /// Starting in `[from, to)` (UTC), e.g. one local day.
    pub between: Option<(NaiveDateTime, NaiveDateTime)>,
}

/// The one query behind the lists, built afresh for the count and the page.
fn filtered(visible: Visible, f: &ListFilter) -> Visible {
    let mut q = visible;
    if let Some(v) = &f.doctor_id {
        q = q.filter(appointments::doctor_id.eq(v.clone()));
    }
    if let Some(v) = &f.patient_id {
        q = q.filter(appointments::patient_id.eq(v.clone()));
    }
    if let Some(v) = &f.department_id {
        q = q.filter(appointments::department_id.eq(v.clone()));
    }
    if let Some(v) = f.status {
        q = q.filter(appointments::status.eq(v.as_str().to_string()));
    }
    if let Some((from, to)) = f.between {
        q = q
            .filter(appointments::starts_at.ge(from))
            .filter(appointments::starts_at.lt(to));
    }
    q
}

/// A page of appointments, soonest first, and their total. `visible` is
/// called twice (a boxed query is consumed by running it).
pub fn list(
    conn: &mut DbConn,
    visible: impl Fn() -> ApiResult<Visible>,
    f: &ListFilter,
    page: &Page,
) -> ApiResult<(Vec<Appointment>, i64)> {
    let total = filtered(visible()?, f).count().get_result(conn)?;
    let rows = filtered(visible()?, f)
        .order((appointments::starts_at.asc(), appointments::id.asc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Appointment::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Decrypt what `view` shows.
pub fn to_view(
    conn: &mut DbConn,
    keyring: &Keyring,
    a: &Appointment,
    view: View,
) -> ApiResult<AppointmentView> {
    let open =
        |conn: &mut DbConn, column: &str, stored: &Option<String>| -> ApiResult<Option<String>> {
            match stored {
                Some(s) if view == View::Full => Ok(Some(keyring.decrypt(
                    conn,
                    &a.tenant_id,
                    s,
                    &aad(&a.tenant_id, column, &a.id),
                )?)),
                _ => Ok(None),
            }
        };
    let reason = match open(conn, "reason", &Some(a.reason_enc.clone()))? {
        Some(json) => serde_json::from_str::<Option<String>>(&json)
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("a sealed reason is not JSON")))?,
        None => None,
    };
    Ok(AppointmentView {
        id: a.id.clone(),
        patient_id: a.patient_id.clone(),
        doctor_id: a.doctor_id.clone(),
        department_id: a.department_id.clone(),
        kind: a
            .kind
            .parse::<AppointmentType>()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown appointment type")))?,
        status: a.status()?,
        starts_at: utc(a.starts_at),
        ends_at: utc(a.ends_at),
        reason,
        notes: open(conn, "notes", &a.notes_enc)?,
        cancel_reason: open(conn, "cancel_reason", &a.cancel_reason_enc)?,
        created_by: a.created_by.clone(),
        created_at: utc(a.created_at),
        updated_at: utc(a.updated_at),
        insurance_eligibility: crate::insurance::InsuranceEligibility::parse(
            &a.insurance_eligibility,
        ),
        insurance_checked_at: a.insurance_checked_at.map(utc),
    })
}

/// The reason sealed into the appointments a patient's deletion cancels.
pub const DELETED_PATIENT: &str = "cancelled because the patient's record was deleted";

/// Cancel every booked or checked-in appointment of `patient` (inside the
/// write that soft-deletes the record: a hidden appointment must not hold a
/// doctor's time nobody can free). Returns the ids cancelled.
pub fn cancel_for_deleted_patient(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    patient: &str,
    by: &str,
) -> ApiResult<Vec<String>> {
    let open: Vec<Appointment> = appointments::table
        .filter(appointments::tenant_id.eq(tenant))
        .filter(appointments::patient_id.eq(patient))
        .filter(appointments::status.eq_any([
            AppointmentStatus::Booked.as_str(),
            AppointmentStatus::CheckedIn.as_str(),
        ]))
        .select(Appointment::as_select())
        .load(conn)?;
    let mut ids = Vec::with_capacity(open.len());
    for a in &open {
        let changes = Changes {
            status: Some(AppointmentStatus::Cancelled),
            cancel_reason_enc: Some(seal(
                conn,
                keyring,
                tenant,
                &a.id,
                "cancel_reason",
                DELETED_PATIENT,
            )?),
            ..Default::default()
        };
        if update(conn, a, changes, by)? {
            release(conn, tenant, &a.id)?;
            ids.push(a.id.clone());
        }
    }
    Ok(ids)
}

/// How many booked appointments of `patient` start in the future.
pub fn upcoming_booked(conn: &mut DbConn, tenant: &str, patient: &str) -> ApiResult<i64> {
    Ok(appointments::table
        .filter(appointments::tenant_id.eq(tenant))
        .filter(appointments::patient_id.eq(patient))
        .filter(appointments::status.eq(AppointmentStatus::Booked.as_str()))
        .filter(appointments::starts_at.gt(now()))
        .count()
        .get_result(conn)?)
}
