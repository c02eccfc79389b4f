//! Queries on `rooms`, `beds` and `admissions`. The admission reason is
//! sealed with the tenant's data key, bound to tenant, table, column and
//! row.

use chrono::NaiveDateTime;
use common::crypto::{Aad, Keyring};
use common::db::{now, DbBackend, DbConn, Page};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use super::model::{AdmissionStatus, AdmissionView, RoomKind, WardBedView, WardRoomView};
use super::scope::Visible;
use crate::appointments::model::utc;
use crate::schema::{admissions, beds, departments, rooms};

/// The table whose column is sealed.
pub const TABLE: &str = "admissions";

/// A room as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = rooms)]
pub struct Room {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The department.
    pub department_id: String,
    /// Name.
    pub name: String,
    /// `RoomKind`, stored by name.
    pub kind: String,
    /// In use.
    pub active: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Changed.
    pub updated_at: NaiveDateTime,
}

/// A bed as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = beds)]
pub struct Bed {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The room.
    pub room_id: String,
    /// Label.
    pub label: String,
    /// Created.
    pub created_at: NaiveDateTime,
}

/// An admission as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admissions)]
pub struct Admission {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The patient.
    pub patient_id: String,
    /// The (current) bed.
    pub bed_id: String,
    /// `AdmissionStatus`, stored by name.
    pub status: String,
    /// Sealed reason.
    pub reason_enc: String,
    /// Who admitted.
    pub admitted_by: String,
    /// When.
    pub admitted_at: NaiveDateTime,
    /// How many transfers.
    pub transfers: i64,
    /// Who discharged.
    pub discharged_by: Option<String>,
    /// When.
    pub discharged_at: Option<NaiveDateTime>,
    /// The discharge summary note.
    pub discharge_note_id: Option<String>,
    /// Last changed by.
    pub updated_by: String,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl Admission {
    /// The stored status.
    pub fn status(&self) -> ApiResult<AdmissionStatus> {
        self.status
            .parse()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown admission status")))
    }
}

const ACTIVE: &str = "active";

/// The associated data of the sealed reason of admission `id`.
pub fn aad(tenant: &str, id: &str) -> Aad {
    Aad::new(tenant, TABLE, "reason", id)
}

// ---- rooms and beds ----

/// Insert a room (409 if the name is taken).
pub fn insert_room(conn: &mut DbConn, r: &Room) -> ApiResult<()> {
    diesel::insert_into(rooms::table)
        .values(r)
        .execute(conn)
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict("a room of that name exists".into()),
            other => other,
        })?;
    Ok(())
}

/// Room `id` of `tenant`.
pub fn room(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<Option<Room>> {
    Ok(rooms::table
        .filter(rooms::tenant_id.eq(tenant))
        .filter(rooms::id.eq(id))
        .select(Room::as_select())
        .first(conn)
        .optional()?)
}

/// Rename and/or (de)activate a room (409 if the name is taken).
pub fn update_room(
    conn: &mut DbConn,
    r: &Room,
    name: Option<&str>,
    active: Option<bool>,
) -> ApiResult<()> {
    diesel::update(
        rooms::table
            .filter(rooms::tenant_id.eq(&r.tenant_id))
            .filter(rooms::id.eq(&r.id)),
    )
    .set((
        rooms::name.eq(name.unwrap_or(&r.name)),
        rooms::active.eq(active.unwrap_or(r.active)),
        rooms::updated_at.eq(now()),
    ))
    .execute(conn)
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict("a room of that name exists".into()),
        other => other,
    })?;
    Ok(())
}

/// How many patients lie in the beds of room `room`.
pub fn occupied_in_room(conn: &mut DbConn, tenant: &str, room: &str) -> ApiResult<i64> {
    let room_beds = beds::table
        .filter(beds::tenant_id.eq(tenant.to_string()))
        .filter(beds::room_id.eq(room.to_string()))
        .select(beds::id);
    Ok(admissions::table
        .filter(admissions::tenant_id.eq(tenant))
        .filter(admissions::status.eq(ACTIVE))
        .filter(admissions::bed_id.eq_any(room_beds))
        .count()
        .get_result(conn)?)
}

fn rooms_filtered(
    tenant: &str,
    department: Option<&str>,
    include_inactive: bool,
) -> rooms::BoxedQuery<'static, DbBackend> {
    let mut q = rooms::table
        .filter(rooms::tenant_id.eq(tenant.to_string()))
        .into_boxed();
    if let Some(d) = department {
        q = q.filter(rooms::department_id.eq(d.to_string()));
    }
    if !include_inactive {
        q = q.filter(rooms::active.eq(true));
    }
    q
}

/// A page of rooms by name, with their bed counts, and their total.
pub fn list_rooms(
    conn: &mut DbConn,
    tenant: &str,
    department: Option<&str>,
    include_inactive: bool,
    page: &Page,
) -> ApiResult<(Vec<WardRoomView>, i64)> {
    let total = rooms_filtered(tenant, department, include_inactive)
        .count()
        .get_result(conn)?;
    let rows: Vec<Room> = rooms_filtered(tenant, department, include_inactive)
        .order((rooms::name.asc(), rooms::id.asc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Room::as_select())
        .load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(room_view(conn, r)?);
    }
    Ok((out, total))
}

/// A room as shown, with its bed count.
pub fn room_view(conn: &mut DbConn, r: Room) -> ApiResult<WardRoomView> {
    let n: i64 = beds::table
        .filter(beds::tenant_id.eq(&r.tenant_id))
        .filter(beds::room_id.eq(&r.id))
        .count()
        .get_result(conn)?;
    let kind: RoomKind = r
        .kind
        .parse()
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown room kind")))?;
    Ok(WardRoomView {
        id: r.id,
        department_id: r.department_id,
        name: r.name,
        kind,
        active: r.active,
        beds: n,
        created_at: utc(r.created_at),
        updated_at: utc(r.updated_at),
    })
}

/// Insert a bed (409 if the label is taken in the room).
pub fn insert_bed(conn: &mut DbConn, b: &Bed) -> ApiResult<()> {
    diesel::insert_into(beds::table)
        .values(b)
        .execute(conn)
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => {
                ApiError::Conflict("a bed of that label exists in the room".into())
            }
            other => other,
        })?;
    Ok(())
}

/// Bed `id` of `tenant` with its room.
pub fn bed(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<Option<(Bed, Room)>> {
    Ok(beds::table
        .inner_join(rooms::table)
        .filter(beds::tenant_id.eq(tenant))
        .filter(beds::id.eq(id))
        .select((Bed::as_select(), Room::as_select()))
        .first(conn)
        .optional()?)
}

/// Whether a patient lies in bed `id`.
pub fn bed_taken(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<bool> {
    let n: i64 = admissions::table
        .filter(admissions::tenant_id.eq(tenant))
        .filter(admissions::bed_id.eq(id))
        .filter(admissions::status.eq(ACTIVE))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The ids of the beds taken in `tenant`.
fn taken(tenant: &str) -> admissions::BoxedQuery<'static, DbBackend, diesel::sql_types::Text> {
    admissions::table
        .filter(admissions::tenant_id.eq(tenant.to_string()))
        .filter(admissions::status.eq(ACTIVE))
        .select(admissions::bed_id)
        .into_boxed()
}

/// A page of the beds of rooms in use (one department's; free ones only),
/// by room and label, and their total.
pub fn list_beds(
    conn: &mut DbConn,
    tenant: &str,
    department: Option<&str>,
    free: bool,
    page: &Page,
) -> ApiResult<(Vec<WardBedView>, i64)> {
    let base = || {
        let mut q = beds::table
            .inner_join(rooms::table)
            .filter(beds::tenant_id.eq(tenant.to_string()))
            .filter(rooms::active.eq(true))
            .into_boxed();
        if let Some(d) = department {
            q = q.filter(rooms::department_id.eq(d.to_string()));
        }
        q
    };
    let taken_ids: Vec<String> = taken(tenant).load(conn)?;
    let (total, rows): (i64, Vec<(Bed, Room)>) = if free {
        let total = base()
            .filter(diesel::dsl::not(beds::id.eq_any(taken_ids.clone())))
            .count()
            .get_result(conn)?;
        let rows = base()
            .filter(diesel::dsl::not(beds::id.eq_any(taken_ids.clone())))
            .order((rooms::name.asc(), beds::label.asc(), beds::id.asc()))
            .limit(page.page_size)
            .offset(page.offset())
            .select((Bed::as_select(), Room::as_select()))
            .load(conn)?;
        (total, rows)
    } else {
        let total = base().count().get_result(conn)?;
        let rows = base()
            .order((rooms::name.asc(), beds::label.asc(), beds::id.asc()))
            .limit(page.page_size)
            .offset(page.offset())
            .select((Bed::as_select(), Room::as_select()))
            .load(conn)?;
        (total, rows)
    };
    let views = rows
        .into_iter()
        .map(|(b, r)| WardBedView {
            occupied: taken_ids.contains(&b.id),
            id: b.id,
            room_id: r.id,
            room_name: r.name,
            department_id: r.department_id,
            label: b.label,
        })
        .collect();
    Ok((views, total))
}

/// Per department with beds in rooms in use: (id, name, beds, occupied).
pub fn occupancy(conn: &mut DbConn, tenant: &str) -> ApiResult<Vec<(String, String, i64, i64)>> {
    let all: Vec<(String, String, String)> = beds::table
        .inner_join(rooms::table.inner_join(departments::table))
        .filter(beds::tenant_id.eq(tenant))
        .filter(rooms::active.eq(true))
        .order((departments::name.asc(), departments::id.asc()))
        .select((beds::id, departments::id, departments::name))
        .load(conn)?;
    let taken_ids: Vec<String> = taken(tenant).load(conn)?;
    let mut out: Vec<(String, String, i64, i64)> = Vec::new();
    for (bed, dept, name) in all {
        let occupied = i64::from(taken_ids.contains(&bed));
        match out.last_mut() {
            Some(last) if last.0 == dept => {
                last.2 += 1;
                last.3 += occupied;
            }
            _ => out.push((dept, name, 1, occupied)),
        }
    }
    Ok(out)
}

// ---- admissions ----

/// Insert an admission; the database refuses a second active admission of
/// the bed or of the patient (409).
pub fn insert(conn: &mut DbConn, a: &Admission) -> ApiResult<()> {
    diesel::insert_into(admissions::table)
        .values(a)
        .execute(conn)
        .map_err(occupied)?;
    Ok(())
}

fn occupied(e: diesel::result::Error) -> ApiError {
    match ApiError::from(e) {
        ApiError::Conflict(_) => {
            ApiError::Conflict("the bed is occupied or the patient is already admitted".into())
        }
        other => other,
    }
}

/// The active admission of `patient`, if any.
pub fn active_of_patient(
    conn: &mut DbConn,
    tenant: &str,
    patient: &str,
) -> ApiResult<Option<Admission>> {
    Ok(admissions::table
        .filter(admissions::tenant_id.eq(tenant))
        .filter(admissions::patient_id.eq(patient))
        .filter(admissions::status.eq(ACTIVE))
        .select(Admission::as_select())
        .first(conn)
        .optional()?)
}

/// The admission `id` among those `visible`.
pub fn find_visible(conn: &mut DbConn, visible: Visible, id: &str) -> ApiResult<Option<Admission>> {
    Ok(visible
        .filter(admissions::id.eq(id.to_string()))
        .select(Admission::as_select())
        .first(conn)
        .optional()?)
}

/// Move an active admission to bed `to`: false if it is no longer active;
/// the database refuses an occupied bed (409).
pub fn transfer(conn: &mut DbConn, a: &Admission, to: &str, by: &str) -> ApiResult<bool> {
    let changed = diesel::update(
        admissions::table
            .filter(admissions::tenant_id.eq(&a.tenant_id))
            .filter(admissions::id.eq(&a.id))
            .filter(admissions::status.eq(ACTIVE)),
    )
    .set((
        admissions::bed_id.eq(to),
        admissions::transfers.eq(admissions::transfers + 1),
        admissions::updated_by.eq(by),
        admissions::updated_at.eq(now()),
    ))
    .execute(conn)
    .map_err(occupied)?;
    Ok(changed == 1)
}

/// Discharge an active admission with its summary note: false if it is no
/// longer active.
pub fn discharge(conn: &mut DbConn, a: &Admission, note: &str, by: &str) -> ApiResult<bool> {
    let t = now();
    let changed = diesel::update(
        admissions::table
            .filter(admissions::tenant_id.eq(&a.tenant_id))
            .filter(admissions::id.eq(&a.id))
            .filter(admissions::status.eq(ACTIVE)),
    )
    .set((
        admissions::status.eq(AdmissionStatus::Discharged.as_str()),
        admissions::discharged_by.eq(by),
        admissions::discharged_at.eq(t),
        admissions::discharge_note_id.eq(note),
        admissions::updated_by.eq(by),
        admissions::updated_at.eq(t),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// A list's filters.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only active (true) or discharged (false).
    pub active: Option<bool>,
    /// The beds of one department's rooms.
    pub department_id: Option<String>,
    /// One patient.
    pub patient_id: Option<String>,
}

fn filtered(visible: Visible, f: &ListFilter) -> Visible {
    let mut q = visible;
    match f.active {
        Some(true) => q = q.filter(admissions::status.eq(ACTIVE)),
        Some(false) => q = q.filter(admissions::status.ne(ACTIVE)),
        None => {}
    }
    if let Some(d) = &f.department_id {
        let dept_rooms = rooms::table
            .filter(rooms::department_id.eq(d.clone()))
            .select(rooms::id);
        let dept_beds = beds::table
            .filter(beds::room_id.eq_any(dept_rooms))
            .select(beds::id);
        q = q.filter(admissions::bed_id.eq_any(dept_beds));
    }
    if let Some(p) = &f.patient_id {
        q = q.filter(admissions::patient_id.eq(p.clone()));
    }
    q
}

/// A page of admissions, newest first, and their total.
pub fn list(
    conn: &mut DbConn,
    visible: impl Fn() -> ApiResult<Visible>,
    f: &ListFilter,
    page: &Page,
) -> ApiResult<(Vec<Admission>, i64)> {
    let total = filtered(visible()?, f).count().get_result(conn)?;
    let rows = filtered(visible()?, f)
        .order((admissions::admitted_at.desc(), admissions::id.desc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Admission::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// An admission as shown; the reason decrypted only for `clinical`.
pub fn to_view(
    conn: &mut DbConn,
    keyring: &Keyring,
    a: &Admission,
    clinical: bool,
) -> ApiResult<AdmissionView> {
    let reason = if clinical {
        Some(keyring.decrypt(conn, &a.tenant_id, &a.reason_enc, &aad(&a.tenant_id, &a.id))?)
    } else {
        None
    };
    Ok(AdmissionView {
        id: a.id.clone(),
        patient_id: a.patient_id.clone(),
        bed_id: a.bed_id.clone(),
        status: a.status()?,
        reason,
        admitted_by: a.admitted_by.clone(),
        admitted_at: utc(a.admitted_at),
        transfers: a.transfers,
        discharged_by: a.discharged_by.clone(),
        discharged_at: a.discharged_at.map(utc),
        discharge_note_id: a.discharge_note_id.clone(),
        updated_at: utc(a.updated_at),
    })
}
