//! `/sandbox…`: the synthetic sandbox's read-only API, its export and its
//! reset.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use common::audit::{self, Origin, Severity};
use common::auth::AuthUser;
use common::db::Db;
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::generate::DEPARTMENTS;
use super::store::{
    self, HospitalView, PatientFilter, PatientView, RecordView, StaffView, Summary,
};
use super::{plan, scope, MAX_API_PATIENTS};
use crate::releases::event;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/sandbox").route(web::get().to(summary)))
        .service(resource("/sandbox/reset").route(web::post().to(reset)))
        .service(resource("/sandbox/hospitals").route(web::get().to(hospitals)))
        .service(resource("/sandbox/staff").route(web::get().to(staff)))
        .service(resource("/sandbox/patients").route(web::get().to(patients)))
        .service(resource("/sandbox/patients/{id}").route(web::get().to(patient)))
        .service(resource("/sandbox/records").route(web::get().to(records)))
        .service(resource("/sandbox/export").route(web::get().to(export)));
}

/// What the sandbox holds.
#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct SandboxStatus {
    /// Every row is synthetic (always true; said so that no export is taken
    /// for real data).
    pub synthetic: bool,
    /// The last generation (null before the first).
    pub generation: Option<Summary>,
}

#[utoipa::path(get, path = "/sandbox", tag = "sandbox", security(("bearer" = [])),
    summary = "What the synthetic sandbox holds: seed, counts, who generated it and when (sandbox.read)",
    responses((status = 200, description = "The sandbox's state", body = SandboxStatus)))]
async fn summary(db: web::Data<Db>, user: AuthUser) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let generation = db.run(store::summary).await?;
    Ok(response::ok(SandboxStatus {
        synthetic: true,
        generation,
    }))
}

/// A fresh generation.
#[derive(utoipa::ToSchema, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxReset {
    /// The seed (default 1): the same seed and counts make the same rows.
    #[serde(default = "one")]
    #[schema(minimum = 0)]
    pub seed: u64,
    /// Hospitals, 1 to 20 (default 3).
    #[serde(default = "three")]
    #[schema(minimum = 1, maximum = 20)]
    pub hospitals: u32,
    /// Patients, 0 to 5000 (default 200; `bulkhead sandbox seed` makes more).
    #[serde(default = "two_hundred")]
    #[schema(minimum = 0, maximum = 5000)]
    pub patients: u32,
}

fn one() -> u64 {
    1
}
fn three() -> u32 {
    3
}
fn two_hundred() -> u32 {
    200
}

#[utoipa::path(post, path = "/sandbox/reset", tag = "sandbox", security(("bearer" = [])),
    summary = "Replace the sandbox with a fresh synthetic generation from a seed (sandbox.reset)",
    request_body = SandboxReset,
    responses((status = 200, description = "Generated", body = SandboxStatus)))]
async fn reset(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    body: web::Json<SandboxReset>,
) -> ApiResult<HttpResponse> {
    let generation = regenerate(&db, user, origin, body.into_inner()).await?;
    Ok(response::ok(SandboxStatus {
        synthetic: true,
        generation: Some(generation),
    }))
}

/// Regenerate the sandbox, with the API's checks and audit row (shared
/// with the page).
pub(crate) async fn regenerate(
    db: &Db,
    user: AuthUser,
    origin: Origin,
    b: SandboxReset,
) -> ApiResult<Summary> {
    scope::require_resetter(&user)?;
    let plan = plan(b.seed, b.hospitals, b.patients, MAX_API_PATIENTS)?;
    db.write(move |conn| {
        let s = store::reset(conn, &plan, &user.id)?;
        let e = event(
            &user,
            "sandbox.reset",
            "sandbox",
            Severity::Info,
            json!({ "seed": s.seed, "hospitals": s.hospitals, "patients": s.patients,
                    "records": s.records }),
        );
        audit::append(conn, &e, &origin)?;
        Ok(s)
    })
    .await
}

#[utoipa::path(get, path = "/sandbox/hospitals", tag = "sandbox", security(("bearer" = [])),
    summary = "The synthetic hospitals (sandbox.read)",
    responses((status = 200, description = "Every synthetic hospital", body = Vec<HospitalView>)))]
async fn hospitals(db: web::Data<Db>, user: AuthUser) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    Ok(response::ok(db.run(store::hospitals).await?))
}

fn check_syn_id(field: &str, v: &str) -> ApiResult<()> {
    let ok = v.len() <= 40
        && v.starts_with("SYN-")
        && v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            "a synthetic id (SYN-…, at most 40 characters)",
        ))
    }
}

fn check_choice(field: &str, v: &str, from: &[&str]) -> ApiResult<()> {
    if from.contains(&v) {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            format!("one of: {}", from.join(", ")),
        ))
    }
}

fn check_date(field: &str, v: &str) -> ApiResult<String> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map(|d| d.to_string())
        .map_err(|_| ApiError::field(field, "a date, YYYY-MM-DD"))
}

/// Staff filters and page.
#[derive(utoipa::IntoParams, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffQuery {
    /// One hospital (`SYN-H-…`).
    pub hospital_id: Option<String>,
    /// doctor, nurse, lab, pharmacist or reception.
    pub role: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

const ROLES: &[&str] = &["doctor", "nurse", "lab", "pharmacist", "reception"];

#[utoipa::path(get, path = "/sandbox/staff", tag = "sandbox", security(("bearer" = [])),
    summary = "Synthetic staff, by id (sandbox.read)",
    params(StaffQuery),
    responses((status = 200, description = "A page of staff", body = Vec<StaffView>)))]
async fn staff(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<StaffQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    if let Some(h) = &q.hospital_id {
        check_syn_id("hospital_id", h)?;
    }
    if let Some(r) = &q.role {
        check_choice("role", r, ROLES)?;
    }
    let (rows, total) = db
        .run(move |c| store::staff(c, q.hospital_id.as_deref(), q.role.as_deref(), &page))
        .await?;
    Ok(response::page(rows, &page, total))
}

/// Patient filters and page (also the export's filters).
#[derive(utoipa::IntoParams, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SandboxPatientQuery {
    /// One hospital (`SYN-H-…`).
    pub hospital_id: Option<String>,
    /// female or male.
    pub sex: Option<String>,
    /// One department.
    pub department: Option<String>,
    /// Family names starting with these letters (1 to 40).
    pub family_name: Option<String>,
    /// Born on or after (YYYY-MM-DD).
    pub born_from: Option<String>,
    /// Born on or before (YYYY-MM-DD).
    pub born_to: Option<String>,
    /// 1-based page (not for the export).
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size (not for the export).
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

impl SandboxPatientQuery {
    /// The filters, each checked (400 with the field when one is wrong).
    pub(crate) fn filter_checked(&self) -> ApiResult<PatientFilter> {
        if let Some(h) = &self.hospital_id {
            check_syn_id("hospital_id", h)?;
        }
        if let Some(s) = &self.sex {
            check_choice("sex", s, &["female", "male"])?;
        }
        if let Some(d) = &self.department {
            check_choice("department", d, DEPARTMENTS)?;
        }
        if let Some(f) = &self.family_name {
            if f.is_empty() || f.chars().count() > 40 || !f.chars().all(char::is_alphabetic) {
                return Err(ApiError::field("family_name", "1 to 40 letters"));
            }
        }
        let born_from = self
            .born_from
            .as_deref()
            .map(|v| check_date("born_from", v))
            .transpose()?;
        let born_to = self
            .born_to
            .as_deref()
            .map(|v| check_date("born_to", v))
            .transpose()?;
        Ok(PatientFilter {
            hospital_id: self.hospital_id.clone(),
            sex: self.sex.clone(),
            department: self.department.clone(),
            family_name: self.family_name.clone(),
            born_from,
            born_to,
        })
    }
}

#[utoipa::path(get, path = "/sandbox/patients", tag = "sandbox", security(("bearer" = [])),
    summary = "Synthetic patients by id, filtered (sandbox.read)",
    params(SandboxPatientQuery),
    responses((status = 200, description = "A page of patients", body = Vec<PatientView>)))]
async fn patients(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<SandboxPatientQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let page = Page::of(q.page, q.page_size)?;
    let filter = q.filter_checked()?;
    let (rows, total) = db.run(move |c| store::patients(c, &filter, &page)).await?;
    Ok(response::page(rows, &page, total))
}

/// A synthetic patient with their records.
#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct SandboxPatientRecord {
    /// The patient.
    pub patient: PatientView,
    /// Their records, oldest first.
    pub records: Vec<RecordView>,
}

#[utoipa::path(get, path = "/sandbox/patients/{id}", tag = "sandbox", security(("bearer" = [])),
    summary = "One synthetic patient with their records (sandbox.read)",
    params(("id" = String, Path, description = "SYN-P-…")),
    responses((status = 200, description = "The patient", body = SandboxPatientRecord)))]
async fn patient(
    db: web::Data<Db>,
    user: AuthUser,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let id = id.into_inner();
    check_syn_id("id", &id)?;
    let found = db
        .run(move |c| {
            let Some(p) = store::patient(c, &id)? else {
                return Ok(None);
            };
            let all = Page::of(Some(1), Some(100))?;
            let (records, _) = store::records(c, Some(&p.id), None, &all)?;
            Ok(Some(SandboxPatientRecord {
                patient: p,
                records,
            }))
        })
        .await?;
    found
        .map(response::ok)
        .ok_or_else(|| ApiError::NotFound("no such synthetic patient".into()))
}

/// Record filters and page.
#[derive(utoipa::IntoParams, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxRecordQuery {
    /// One patient (`SYN-P-…`).
    pub patient_id: Option<String>,
    /// encounter, diagnosis, lab_result or prescription.
    pub kind: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

const KINDS: &[&str] = &["encounter", "diagnosis", "lab_result", "prescription"];

#[utoipa::path(get, path = "/sandbox/records", tag = "sandbox", security(("bearer" = [])),
    summary = "Synthetic clinical records, oldest first (sandbox.read)",
    params(SandboxRecordQuery),
    responses((status = 200, description = "A page of records", body = Vec<RecordView>)))]
async fn records(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<SandboxRecordQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    if let Some(p) = &q.patient_id {
        check_syn_id("patient_id", p)?;
    }
    if let Some(k) = &q.kind {
        check_choice("kind", k, KINDS)?;
    }
    let (rows, total) = db
        .run(move |c| store::records(c, q.patient_id.as_deref(), q.kind.as_deref(), &page))
        .await?;
    Ok(response::page(rows, &page, total))
}

/// Rows the export reads per query.
const EXPORT_BATCH: i64 = 1_000;

/// The CSV header of the patient export.
pub const EXPORT_HEADER: &str =
    "id,hospital_id,mrn,given_name,family_name,sex,birth_date,department,doctor_id,synthetic\n";

fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// One patient as a CSV line.
pub fn csv_line(p: &PatientView) -> String {
    let fields = [
        &p.id,
        &p.hospital_id,
        &p.mrn,
        &p.given_name,
        &p.family_name,
        &p.sex,
        &p.birth_date,
        &p.department,
        &p.doctor_id,
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str(",true\n");
    line
}

#[utoipa::path(get, path = "/sandbox/export", tag = "sandbox", security(("bearer" = [])),
    summary = "Every synthetic patient matching the filters as CSV, streamed, by id (sandbox.read)",
    params(SandboxPatientQuery),
    responses((status = 200, description = "CSV with a header line; every row's last column is synthetic=true", content_type = "text/csv")))]
async fn export(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    q: web::Query<SandboxPatientQuery>,
) -> ApiResult<HttpResponse> {
    export_csv(db, &user, origin, &q).await
}

/// The streamed CSV export, with its audit row (shared with the page).
pub(crate) async fn export_csv(
    db: web::Data<Db>,
    user: &AuthUser,
    origin: Origin,
    q: &SandboxPatientQuery,
) -> ApiResult<HttpResponse> {
    scope::require_reader(user)?;
    if q.page.is_some() || q.page_size.is_some() {
        return Err(ApiError::validation(
            "the export is not paged: it streams every matching patient",
        ));
    }
    let filter = q.filter_checked()?;
    let e = event(
        user,
        "sandbox.export",
        "sandbox",
        Severity::Info,
        json!({ "format": "csv" }),
    );
    db.write(move |conn| audit::append(conn, &e, &origin).map(|_| ()))
        .await?;
    let db = db.into_inner();
    let header = futures_util::stream::once(async {
        Ok::<_, ApiError>(bytes::Bytes::from_static(EXPORT_HEADER.as_bytes()))
    });
    let rows = futures_util::stream::unfold(Some(String::new()), move |after| {
        let (db, filter) = (db.clone(), filter.clone());
        async move {
            let after = after?;
            let batch = db
                .run(move |c| store::patients_after(c, &filter, &after, EXPORT_BATCH))
                .await;
            match batch {
                Err(e) => Some((Err(e), None)),
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let next = (rows.len() as i64 == EXPORT_BATCH)
                        .then(|| rows.last().map(|p| p.id.clone()))
                        .flatten();
                    let text: String = rows.iter().map(csv_line).collect();
                    Some((Ok(bytes::Bytes::from(text)), next))
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"sandbox-patients.csv\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(futures_util::StreamExt::chain(header, rows)))
}
