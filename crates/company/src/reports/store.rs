//! `deid_reports` (what hospitals sent, byte for byte) and `report_cells`
//! (the newest count of every cell, what analytics reads).

use chrono::NaiveDateTime;
use common::db::{now, DbConn, Page};
use common::ApiResult;
use contracts::report::{Count, DeidentifiedReport};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::{deid_reports, report_cells};

/// A received report as listed (its bytes stay in the table).
#[derive(utoipa::ToSchema, Queryable, Selectable, Serialize, Debug, Clone)]
#[diesel(table_name = deid_reports)]
#[schema(as = ReceivedReport)]
pub struct ReceivedReport {
    /// Company's position.
    pub seq: i64,
    /// The submitting certificate's tenant.
    pub tenant_id: String,
    /// The hospital's report id.
    pub report_id: String,
    /// First ISO week.
    pub period_from: String,
    /// Last ISO week.
    pub period_to: String,
    /// The hospital's suppression threshold.
    pub suppress_below: i64,
    /// SHA-256 of the bytes received.
    pub sha256: String,
    /// Cells.
    pub cells: i64,
    /// Of which suppressed.
    pub suppressed: i64,
    /// When company received it (UTC).
    pub received_at: NaiveDateTime,
}

/// What became of a submission.
pub enum Received {
    /// Stored now.
    New,
    /// The same bytes were already held (a retry).
    Duplicate,
    /// Other bytes are held under the same id.
    Conflict,
}

/// Store `report` from `tenant` (its exact `body` and hash) and make its
/// cells the current ones for the weeks it covers — unless the same id is
/// already held.
pub fn receive(
    conn: &mut DbConn,
    tenant: &str,
    report: &DeidentifiedReport,
    body: &str,
    sha256: &str,
) -> ApiResult<Received> {
    let held: Option<String> = deid_reports::table
        .filter(deid_reports::tenant_id.eq(tenant))
        .filter(deid_reports::report_id.eq(report.report_id.as_str()))
        .select(deid_reports::sha256)
        .first(conn)
        .optional()?;
    if let Some(h) = held {
        return Ok(if h == sha256 {
            Received::Duplicate
        } else {
            Received::Conflict
        });
    }
    let suppressed = report
        .cells
        .iter()
        .filter(|c| c.count == Count::Suppressed)
        .count() as i64;
    let seq: i64 = diesel::insert_into(deid_reports::table)
        .values((
            deid_reports::tenant_id.eq(tenant),
            deid_reports::report_id.eq(report.report_id.as_str()),
            deid_reports::period_from.eq(report.from.to_string()),
            deid_reports::period_to.eq(report.to.to_string()),
            deid_reports::suppress_below.eq(i64::from(report.suppress_below)),
            deid_reports::body.eq(body),
            deid_reports::sha256.eq(sha256),
            deid_reports::cells.eq(report.cells.len() as i64),
            deid_reports::suppressed.eq(suppressed),
            deid_reports::received_at.eq(now()),
        ))
        .returning(deid_reports::seq)
        .get_result(conn)?;
    // The newest report speaks for the weeks it covers.
    diesel::delete(
        report_cells::table
            .filter(report_cells::tenant_id.eq(tenant))
            .filter(report_cells::week.ge(report.from.to_string()))
            .filter(report_cells::week.le(report.to.to_string())),
    )
    .execute(conn)?;
    for c in &report.cells {
        diesel::insert_into(report_cells::table)
            .values((
                report_cells::tenant_id.eq(tenant),
                report_cells::week.eq(c.week.to_string()),
                report_cells::measure.eq(c.measure.as_str()),
                report_cells::department.eq(c.department.as_ref().map_or("", |d| d.as_str())),
                report_cells::age_band.eq(c.age_band.map_or("", |a| a.as_str())),
                report_cells::sex.eq(c.sex.map_or("", |s| s.as_str())),
                report_cells::value.eq(match c.count {
                    Count::Value(n) => Some(i64::from(n)),
                    Count::Suppressed => None,
                }),
                report_cells::report_seq.eq(seq),
            ))
            .execute(conn)?;
    }
    Ok(Received::New)
}

/// A page of received reports, newest first (optionally one tenant's).
pub fn list(
    conn: &mut DbConn,
    tenant: Option<&str>,
    page: &Page,
) -> ApiResult<(Vec<ReceivedReport>, i64)> {
    let mut count = deid_reports::table.into_boxed();
    let mut rows = deid_reports::table.into_boxed();
    if let Some(t) = tenant {
        count = count.filter(deid_reports::tenant_id.eq(t.to_string()));
        rows = rows.filter(deid_reports::tenant_id.eq(t.to_string()));
    }
    let total = count.count().get_result(conn)?;
    let rows = rows
        .order(deid_reports::seq.desc())
        .limit(page.page_size)
        .offset(page.offset())
        .select(ReceivedReport::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Which cells to read: one measure (or every one, for the export), an
/// optional tenant, exact values of the dimensions ("" = the hospital's
/// total over that dimension; `None` = any, for the export), and a range
/// of weeks.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CellFilter {
    /// `appointments`, … (`None`: all, export only).
    pub measure: Option<String>,
    /// One tenant.
    pub tenant: Option<String>,
    /// Department code, or "" for the total.
    pub department: Option<String>,
    /// Age band, or "" for the total.
    pub age_band: Option<String>,
    /// Sex, or "" for the total.
    pub sex: Option<String>,
    /// First week.
    pub from: Option<String>,
    /// Last week.
    pub to: Option<String>,
}

/// One cell as read.
#[derive(Queryable, Debug, Clone)]
pub struct CellRow {
    /// Tenant.
    pub tenant_id: String,
    /// Week.
    pub week: String,
    /// Measure.
    pub measure: String,
    /// Department ("" = all).
    pub department: String,
    /// Age band ("" = all).
    pub age_band: String,
    /// Sex ("" = all).
    pub sex: String,
    /// Count, `None` when suppressed.
    pub value: Option<i64>,
}

fn filtered(f: &CellFilter) -> report_cells::BoxedQuery<'static, common::db::DbBackend> {
    let mut q = report_cells::table.into_boxed();
    if let Some(m) = &f.measure {
        q = q.filter(report_cells::measure.eq(m.clone()));
    }
    if let Some(t) = &f.tenant {
        q = q.filter(report_cells::tenant_id.eq(t.clone()));
    }
    if let Some(d) = &f.department {
        q = q.filter(report_cells::department.eq(d.clone()));
    }
    if let Some(a) = &f.age_band {
        q = q.filter(report_cells::age_band.eq(a.clone()));
    }
    if let Some(s) = &f.sex {
        q = q.filter(report_cells::sex.eq(s.clone()));
    }
    if let Some(w) = &f.from {
        q = q.filter(report_cells::week.ge(w.clone()));
    }
    if let Some(w) = &f.to {
        q = q.filter(report_cells::week.le(w.clone()));
    }
    q
}

/// The cells matching `f`, ordered, `limit` from `offset`.
pub fn cells(
    conn: &mut DbConn,
    f: &CellFilter,
    offset: i64,
    limit: i64,
) -> ApiResult<Vec<CellRow>> {
    Ok(filtered(f)
        .order((
            report_cells::tenant_id.asc(),
            report_cells::week.asc(),
            report_cells::measure.asc(),
            report_cells::department.asc(),
            report_cells::age_band.asc(),
            report_cells::sex.asc(),
        ))
        .limit(limit)
        .offset(offset)
        .select((
            report_cells::tenant_id,
            report_cells::week,
            report_cells::measure,
            report_cells::department,
            report_cells::age_band,
            report_cells::sex,
            report_cells::value,
        ))
        .load(conn)?)
}
