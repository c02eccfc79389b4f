//! `deid_reports`: the outbox of de-identified reports, byte for byte.

use chrono::NaiveDateTime;
use common::db::{now, DbConn};
use common::response::Page;
use common::ApiResult;
use diesel::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::schema::deid_reports;

/// Statuses.
pub mod status {
    /// Stored, not yet accepted by company.
    pub const PENDING: &str = "pending";
    /// Company accepted it (or already held the same bytes).
    pub const SENT: &str = "sent";
    /// Company refused it for good (its code in `last_error`).
    pub const REFUSED: &str = "refused";
}

/// A stored report.
#[derive(Queryable, Selectable, Insertable, Debug, Clone)]
#[diesel(table_name = deid_reports)]
pub struct ReportRow {
    /// The report id (the wire's `report_id`).
    pub id: String,
    /// The tenant reported on.
    pub tenant_id: String,
    /// First ISO week.
    pub period_from: String,
    /// Last ISO week.
    pub period_to: String,
    /// The exact JSON sent.
    pub body: String,
    /// Its SHA-256 (hex).
    pub sha256: String,
    /// Cells.
    pub cells: i64,
    /// Suppressed cells.
    pub suppressed: i64,
    /// `schedule` or `admin`.
    pub origin: String,
    /// `pending`, `sent`, `refused`.
    pub status: String,
    /// The admin's user id, or `system`.
    pub created_by: String,
    /// When computed (UTC).
    pub created_at: NaiveDateTime,
    /// When company accepted it.
    pub sent_at: Option<NaiveDateTime>,
    /// Delivery attempts.
    pub attempts: i64,
    /// Company's refusal code, or the last transport error (no PHI: a report holds none).
    pub last_error: Option<String>,
}

/// A report as listed (everything but the bytes, which `GET /reports/{id}` serves).
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
#[schema(as = SentReport)]
pub struct ReportView {
    /// The report id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// First ISO week (`2026-W46`).
    pub period_from: String,
    /// Last ISO week.
    pub period_to: String,
    /// SHA-256 of the exact bytes sent.
    pub sha256: String,
    /// Size of the bytes.
    pub bytes: usize,
    /// Cells in it.
    pub cells: i64,
    /// Of which suppressed.
    pub suppressed: i64,
    /// `schedule` or `admin`.
    pub origin: String,
    /// `pending`, `sent`, `refused`.
    pub status: String,
    /// Who asked for it (`system` for the schedule).
    pub created_by: String,
    /// When computed (UTC).
    pub created_at: NaiveDateTime,
    /// When company accepted it (UTC).
    pub sent_at: Option<NaiveDateTime>,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Why the last attempt failed, or company's refusal code.
    pub last_error: Option<String>,
}

impl From<ReportRow> for ReportView {
    fn from(r: ReportRow) -> Self {
        Self {
            bytes: r.body.len(),
            id: r.id,
            tenant_id: r.tenant_id,
            period_from: r.period_from,
            period_to: r.period_to,
            sha256: r.sha256,
            cells: r.cells,
            suppressed: r.suppressed,
            origin: r.origin,
            status: r.status,
            created_by: r.created_by,
            created_at: r.created_at,
            sent_at: r.sent_at,
            attempts: r.attempts,
            last_error: r.last_error,
        }
    }
}

/// Hex SHA-256 of `body`.
pub fn sha256(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

/// Store a computed report as pending.
pub fn insert(conn: &mut DbConn, row: &ReportRow) -> ApiResult<()> {
    diesel::insert_into(deid_reports::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A page of the tenant's reports, newest first (their bytes' size read
/// by the database, not the bytes: the body is ASCII JSON, so its length
/// in characters is its length in bytes).
pub fn list(conn: &mut DbConn, tenant: &str, page: &Page) -> ApiResult<(Vec<ReportView>, i64)> {
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    let total = deid_reports::table
        .filter(deid_reports::tenant_id.eq(tenant))
        .count()
        .get_result(conn)?;
    type Listed = (
        (
            String,
            String,
            String,
            String,
            String,
            i64,
            i64,
            String,
            String,
        ),
        (
            String,
            NaiveDateTime,
            Option<NaiveDateTime>,
            i64,
            Option<String>,
            i64,
        ),
    );
    let rows: Vec<Listed> = deid_reports::table
        .filter(deid_reports::tenant_id.eq(tenant))
        .order((deid_reports::created_at.desc(), deid_reports::id.desc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select((
            (
                deid_reports::id,
                deid_reports::tenant_id,
                deid_reports::period_from,
                deid_reports::period_to,
                deid_reports::sha256,
                deid_reports::cells,
                deid_reports::suppressed,
                deid_reports::origin,
                deid_reports::status,
            ),
            (
                deid_reports::created_by,
                deid_reports::created_at,
                deid_reports::sent_at,
                deid_reports::attempts,
                deid_reports::last_error,
                sql::<BigInt>("CAST(LENGTH(body) AS BIGINT)"),
            ),
        ))
        .load(conn)?;
    let views = rows
        .into_iter()
        .map(
            |(
                (id, tenant_id, from, to, sha256, cells, suppressed, origin, status),
                (created_by, created_at, sent_at, attempts, last_error, bytes),
            )| ReportView {
                id,
                tenant_id,
                period_from: from,
                period_to: to,
                sha256,
                bytes: usize::try_from(bytes).unwrap_or(0),
                cells,
                suppressed,
                origin,
                status,
                created_by,
                created_at,
                sent_at,
                attempts,
                last_error,
            },
        )
        .collect();
    Ok((views, total))
}

/// One of the tenant's reports (404 for another tenant's).
pub fn find(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<ReportRow> {
    Ok(deid_reports::table
        .filter(deid_reports::tenant_id.eq(tenant))
        .filter(deid_reports::id.eq(id))
        .select(ReportRow::as_select())
        .first(conn)?)
}

/// The tenant's pending reports, oldest first.
pub fn pending(conn: &mut DbConn, tenant: &str, limit: i64) -> ApiResult<Vec<ReportRow>> {
    Ok(deid_reports::table
        .filter(deid_reports::tenant_id.eq(tenant))
        .filter(deid_reports::status.eq(status::PENDING))
        .order((deid_reports::created_at.asc(), deid_reports::id.asc()))
        .limit(limit)
        .select(ReportRow::as_select())
        .load(conn)?)
}

/// Company took it.
pub fn mark_sent(conn: &mut DbConn, id: &str) -> ApiResult<()> {
    diesel::update(deid_reports::table.filter(deid_reports::id.eq(id)))
        .set((
            deid_reports::status.eq(status::SENT),
            deid_reports::sent_at.eq(Some(now())),
            deid_reports::attempts.eq(deid_reports::attempts + 1),
            deid_reports::last_error.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Company refused it for good.
pub fn mark_refused(conn: &mut DbConn, id: &str, why: &str) -> ApiResult<()> {
    diesel::update(deid_reports::table.filter(deid_reports::id.eq(id)))
        .set((
            deid_reports::status.eq(status::REFUSED),
            deid_reports::attempts.eq(deid_reports::attempts + 1),
            deid_reports::last_error.eq(Some(why)),
        ))
        .execute(conn)?;
    Ok(())
}

/// An attempt that will be retried.
pub fn mark_attempt(conn: &mut DbConn, id: &str, why: &str) -> ApiResult<()> {
    diesel::update(deid_reports::table.filter(deid_reports::id.eq(id)))
        .set((
            deid_reports::attempts.eq(deid_reports::attempts + 1),
            deid_reports::last_error.eq(Some(why)),
        ))
        .execute(conn)?;
    Ok(())
}
