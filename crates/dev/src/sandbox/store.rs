//! Queries on the sandbox tables: the reset (every row replaced in one
//! transaction), the summary, and the read-only lists.

use chrono::NaiveDateTime;
use common::db::{now, DbConn};
use common::response::Page;
use common::ApiResult;
use diesel::prelude::*;
use serde::Serialize;

use super::generate::{self, Plan};
use crate::schema::{
    sandbox_hospitals, sandbox_patients, sandbox_records, sandbox_staff, sandbox_state,
};

/// Rows per INSERT (SQLite allows 32,766 bound values; a patient row has 9).
const BATCH: usize = 500;

/// What the sandbox holds, as `GET /sandbox` tells it.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = sandbox_state)]
#[schema(as = SandboxSummary)]
pub struct Summary {
    /// The seed it was generated from.
    pub seed: i64,
    /// Hospitals.
    pub hospitals: i64,
    /// Staff members.
    pub staff: i64,
    /// Patients.
    pub patients: i64,
    /// Clinical records.
    pub records: i64,
    /// Who generated it (a user id, or `cli`).
    pub generated_by: String,
    /// When.
    pub generated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = sandbox_patients)]
struct PatientRow<'a> {
    id: &'a str,
    hospital_id: &'a str,
    mrn: &'a str,
    given_name: &'a str,
    family_name: &'a str,
    sex: &'a str,
    birth_date: String,
    department: &'a str,
    doctor_id: &'a str,
}

#[derive(Insertable)]
#[diesel(table_name = sandbox_records)]
struct RecordRow<'a> {
    id: &'a str,
    patient_id: &'a str,
    kind: &'a str,
    recorded_on: String,
    code: &'a str,
    summary: &'a str,
}

/// Replace everything in the sandbox with what `plan` generates, in the
/// caller's transaction; the summary of what is there now.
pub fn reset(conn: &mut DbConn, plan: &Plan, by: &str) -> ApiResult<Summary> {
    diesel::delete(sandbox_records::table).execute(conn)?;
    diesel::delete(sandbox_patients::table).execute(conn)?;
    diesel::delete(sandbox_staff::table).execute(conn)?;
    diesel::delete(sandbox_hospitals::table).execute(conn)?;
    diesel::delete(sandbox_state::table).execute(conn)?;

    let hospitals = generate::hospitals(plan);
    let rows: Vec<_> = hospitals
        .iter()
        .map(|h| {
            (
                sandbox_hospitals::id.eq(&h.id),
                sandbox_hospitals::name.eq(&h.name),
                sandbox_hospitals::city.eq(&h.city),
            )
        })
        .collect();
    common::on_backend!(conn, |c| diesel::insert_into(sandbox_hospitals::table)
        .values(&rows)
        .execute(c))?;
    let staff = generate::staff(plan);
    for chunk in staff.chunks(BATCH) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|s| {
                (
                    sandbox_staff::id.eq(&s.id),
                    sandbox_staff::hospital_id.eq(&s.hospital_id),
                    sandbox_staff::name.eq(&s.name),
                    sandbox_staff::role.eq(s.role),
                    sandbox_staff::department.eq(s.department),
                )
            })
            .collect();
        common::on_backend!(conn, |c| diesel::insert_into(sandbox_staff::table)
            .values(&rows)
            .execute(c))?;
    }

    let mut records_total: i64 = 0;
    let mut start = 1;
    while start <= plan.patients {
        let end = (start + BATCH as u32 - 1).min(plan.patients);
        let made: Vec<_> = (start..=end).map(|n| generate::patient(plan, n)).collect();
        let patients: Vec<PatientRow> = made
            .iter()
            .map(|(p, _)| PatientRow {
                id: &p.id,
                hospital_id: &p.hospital_id,
                mrn: &p.mrn,
                given_name: p.given_name,
                family_name: p.family_name,
                sex: p.sex,
                birth_date: p.birth_date.to_string(),
                department: p.department,
                doctor_id: &p.doctor_id,
            })
            .collect();
        common::on_backend!(conn, |c| diesel::insert_into(sandbox_patients::table)
            .values(&patients)
            .execute(c))?;
        let records: Vec<RecordRow> = made
            .iter()
            .flat_map(|(_, rs)| rs.iter())
            .map(|r| RecordRow {
                id: &r.id,
                patient_id: &r.patient_id,
                kind: r.kind,
                recorded_on: r.recorded_on.to_string(),
                code: r.code,
                summary: &r.summary,
            })
            .collect();
        for chunk in records.chunks(BATCH) {
            common::on_backend!(conn, |c| diesel::insert_into(sandbox_records::table)
                .values(chunk)
                .execute(c))?;
        }
        records_total += records.len() as i64;
        start = end + 1;
    }
    let summary = Summary {
        seed: plan.seed as i64,
        hospitals: i64::from(plan.hospitals),
        staff: staff.len() as i64,
        patients: i64::from(plan.patients),
        records: records_total,
        generated_by: by.to_string(),
        generated_at: now(),
    };
    diesel::insert_into(sandbox_state::table)
        .values((
            sandbox_state::id.eq(1),
            sandbox_state::seed.eq(summary.seed),
            sandbox_state::hospitals.eq(summary.hospitals),
            sandbox_state::staff.eq(summary.staff),
            sandbox_state::patients.eq(summary.patients),
            sandbox_state::records.eq(summary.records),
            sandbox_state::generated_by.eq(&summary.generated_by),
            sandbox_state::generated_at.eq(summary.generated_at),
        ))
        .execute(conn)?;
    Ok(summary)
}

/// What the sandbox holds (`None` before its first generation).
pub fn summary(conn: &mut DbConn) -> ApiResult<Option<Summary>> {
    Ok(sandbox_state::table
        .select(Summary::as_select())
        .first(conn)
        .optional()?)
}

/// A synthetic hospital.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = sandbox_hospitals)]
#[schema(as = SandboxHospital)]
pub struct HospitalView {
    /// `SYN-H-…`.
    pub id: String,
    /// Its invented name.
    pub name: String,
    /// Its invented town.
    pub city: String,
}

/// Every synthetic hospital, by id.
pub fn hospitals(conn: &mut DbConn) -> ApiResult<Vec<HospitalView>> {
    Ok(sandbox_hospitals::table
        .order(sandbox_hospitals::id.asc())
        .select(HospitalView::as_select())
        .load(conn)?)
}

/// A synthetic staff member.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = sandbox_staff)]
#[schema(as = SandboxStaff)]
pub struct StaffView {
    /// `SYN-S-…`.
    pub id: String,
    /// Their hospital.
    pub hospital_id: String,
    /// Their invented name.
    pub name: String,
    /// Their role.
    pub role: String,
    /// Their department.
    pub department: String,
}

/// A page of staff, optionally of one hospital and role.
pub fn staff(
    conn: &mut DbConn,
    hospital: Option<&str>,
    role: Option<&str>,
    page: &Page,
) -> ApiResult<(Vec<StaffView>, i64)> {
    let q = || {
        let mut q = sandbox_staff::table.into_boxed();
        if let Some(h) = hospital {
            q = q.filter(sandbox_staff::hospital_id.eq(h.to_string()));
        }
        if let Some(r) = role {
            q = q.filter(sandbox_staff::role.eq(r.to_string()));
        }
        q
    };
    let total = q().count().get_result(conn)?;
    let rows = q()
        .order(sandbox_staff::id.asc())
        .limit(page.page_size)
        .offset(page.offset())
        .select(StaffView::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// A synthetic patient.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = sandbox_patients)]
#[schema(as = SandboxPatient)]
pub struct PatientView {
    /// `SYN-P-…`.
    pub id: String,
    /// Their hospital.
    pub hospital_id: String,
    /// `SYN-MRN-…`.
    pub mrn: String,
    /// Invented.
    pub given_name: String,
    /// Invented.
    pub family_name: String,
    /// female or male.
    pub sex: String,
    /// YYYY-MM-DD.
    pub birth_date: String,
    /// Their department.
    pub department: String,
    /// Their doctor (a staff id).
    pub doctor_id: String,
}

/// The patient filters (all optional, all combined).
#[derive(Debug, Clone, Default)]
pub struct PatientFilter {
    /// One hospital.
    pub hospital_id: Option<String>,
    /// female or male.
    pub sex: Option<String>,
    /// One department.
    pub department: Option<String>,
    /// Family names starting with this.
    pub family_name: Option<String>,
    /// Born on or after (YYYY-MM-DD).
    pub born_from: Option<String>,
    /// Born on or before (YYYY-MM-DD).
    pub born_to: Option<String>,
}

type Patients = sandbox_patients::BoxedQuery<'static, common::db::DbBackend>;

fn filtered(f: &PatientFilter) -> Patients {
    let mut q = sandbox_patients::table.into_boxed();
    if let Some(v) = &f.hospital_id {
        q = q.filter(sandbox_patients::hospital_id.eq(v.clone()));
    }
    if let Some(v) = &f.sex {
        q = q.filter(sandbox_patients::sex.eq(v.clone()));
    }
    if let Some(v) = &f.department {
        q = q.filter(sandbox_patients::department.eq(v.clone()));
    }
    if let Some(v) = &f.family_name {
        // The filter's characters are checked (letters only), so no LIKE
        // wildcard can come from the caller.
        q = q.filter(sandbox_patients::family_name.like(format!("{v}%")));
    }
    if let Some(v) = &f.born_from {
        q = q.filter(sandbox_patients::birth_date.ge(v.clone()));
    }
    if let Some(v) = &f.born_to {
        q = q.filter(sandbox_patients::birth_date.le(v.clone()));
    }
    q
}

/// A page of patients by id, and how many match.
pub fn patients(
    conn: &mut DbConn,
    f: &PatientFilter,
    page: &Page,
) -> ApiResult<(Vec<PatientView>, i64)> {
    let total = filtered(f).count().get_result(conn)?;
    let rows = filtered(f)
        .order(sandbox_patients::id.asc())
        .limit(page.page_size)
        .offset(page.offset())
        .select(PatientView::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Up to `limit` matching patients after id `after` (the export's cursor).
pub fn patients_after(
    conn: &mut DbConn,
    f: &PatientFilter,
    after: &str,
    limit: i64,
) -> ApiResult<Vec<PatientView>> {
    Ok(filtered(f)
        .filter(sandbox_patients::id.gt(after.to_string()))
        .order(sandbox_patients::id.asc())
        .limit(limit)
        .select(PatientView::as_select())
        .load(conn)?)
}

/// One patient.
pub fn patient(conn: &mut DbConn, id: &str) -> ApiResult<Option<PatientView>> {
    Ok(sandbox_patients::table
        .find(id)
        .select(PatientView::as_select())
        .first(conn)
        .optional()?)
}

/// A synthetic clinical record.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = sandbox_records)]
#[schema(as = SandboxRecord)]
pub struct RecordView {
    /// `SYN-R-…`.
    pub id: String,
    /// The patient.
    pub patient_id: String,
    /// encounter, diagnosis, lab_result or prescription.
    pub kind: String,
    /// YYYY-MM-DD.
    pub recorded_on: String,
    /// Its code.
    pub code: String,
    /// Its synthetic text.
    pub summary: String,
}

/// A page of records, optionally of one patient and kind, oldest first.
pub fn records(
    conn: &mut DbConn,
    patient: Option<&str>,
    kind: Option<&str>,
    page: &Page,
) -> ApiResult<(Vec<RecordView>, i64)> {
    let q = || {
        let mut q = sandbox_records::table.into_boxed();
        if let Some(p) = patient {
            q = q.filter(sandbox_records::patient_id.eq(p.to_string()));
        }
        if let Some(k) = kind {
            q = q.filter(sandbox_records::kind.eq(k.to_string()));
        }
        q
    };
    let total = q().count().get_result(conn)?;
    let rows = q()
        .order((
            sandbox_records::recorded_on.asc(),
            sandbox_records::id.asc(),
        ))
        .limit(page.page_size)
        .offset(page.offset())
        .select(RecordView::as_select())
        .load(conn)?;
    Ok((rows, total))
}
