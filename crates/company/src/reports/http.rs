//! `GET /reports` (received reports), `GET /analytics/series` (weekly
//! series and totals, JSON for charts), `GET /analytics/export.csv` (the
//! cells, streamed). All `reports.read`; all read only what company holds.
//!
//! A dimension left out of a series query selects the hospital's own
//! published total over it (never a sum company makes of finer cells), so
//! nothing is counted twice. Sums company makes — across weeks, across
//! tenants — are given as the visible sum with `complete: false` and a
//! label "at least N (some cells suppressed)" when any cell in them is
//! suppressed; a suppressed cell is never filled in by subtraction.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use common::audit::{self, Event, Origin};
use common::auth::AuthUser;
use common::db::Db;
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use contracts::report::{is_slug, is_uuid, AgeBand, IsoWeek, Measure, Sex};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::scope;
use super::store::{self, CellFilter, CellRow, ReceivedReport};

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/reports").route(web::get().to(list)))
        .service(resource("/analytics/series").route(web::get().to(series)))
        .service(resource("/analytics/export.csv").route(web::get().to(export)));
}

/// The list's filter and page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ReportListQuery {
    /// One tenant's reports.
    pub tenant: Option<String>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

fn check_tenant(t: &Option<String>) -> ApiResult<Option<String>> {
    match t.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if is_uuid(&t.to_ascii_lowercase()) => Ok(Some(t.to_ascii_lowercase())),
        Some(_) => Err(ApiError::field("tenant", "a tenant id (UUID)")),
    }
}

#[utoipa::path(get, path = "/reports", tag = "reports", security(("bearer" = [])),
    summary = "De-identified reports received from hospitals, newest first (reports.read)",
    params(ReportListQuery),
    responses((status = 200, description = "A page of received reports", body = Vec<ReceivedReport>),
        (status = 400, description = "A bad filter or page"),
        (status = 401, description = "Not logged in"),
        (status = 403, description = "Not reports.read")))]
async fn list(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<ReportListQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let tenant = check_tenant(&q.tenant)?;
    let page = Page::of(q.page, q.page_size)?;
    let (rows, total) = db
        .run(move |c| store::list(c, tenant.as_deref(), &page))
        .await?;
    Ok(response::page(rows, &page, total))
}

/// A series query: one measure, optional tenant, dimension values (left
/// out: the hospital's total over that dimension), a range of weeks.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    /// `patients_registered`, `patients_active`, `appointments`,
    /// `admissions` or `break_glass` (the export: optional).
    pub measure: Option<String>,
    /// One tenant (UUID); absent: across every tenant.
    pub tenant: Option<String>,
    /// A department code (appointments, admissions); absent: all departments.
    pub department: Option<String>,
    /// An age band `0-4` … `80+` (patients_*); absent: all ages.
    pub age_band: Option<String>,
    /// `female`, `male`, `other`, `unknown` (patients_*); absent: all.
    pub sex: Option<String>,
    /// First ISO week (`2026-W40`).
    pub from: Option<String>,
    /// Last ISO week.
    pub to: Option<String>,
}

fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Check a query and turn it into the cells to read. `for_export`: the
/// measure and the dimensions may be left out (then: every cell).
pub fn filter_of(q: &SeriesQuery, for_export: bool) -> ApiResult<CellFilter> {
    let measure = match blank(&q.measure) {
        Some(m) => Some(
            Measure::parse(m)
                .ok_or_else(|| {
                    ApiError::field(
                        "measure",
                        "one of patients_registered, patients_active, appointments, admissions, break_glass",
                    )
                })?,
        ),
        None if for_export => None,
        None => return Err(ApiError::field("measure", "required")),
    };
    let department = blank(&q.department)
        .map(|d| {
            is_slug(d).then(|| d.to_string()).ok_or_else(|| {
                ApiError::field("department", "a department code (a-z, 0-9, _; 1 to 32)")
            })
        })
        .transpose()?;
    let age_band = blank(&q.age_band)
        .map(|a| {
            AgeBand::parse(a)
                .map(|b| b.as_str().to_string())
                .ok_or_else(|| {
                    ApiError::field(
                        "age_band",
                        "one of 0-4, 5-17, 18-29, 30-44, 45-64, 65-79, 80+",
                    )
                })
        })
        .transpose()?;
    let sex = blank(&q.sex)
        .map(|s| {
            Sex::parse(s)
                .map(|x| x.as_str().to_string())
                .ok_or_else(|| ApiError::field("sex", "one of female, male, other, unknown"))
        })
        .transpose()?;
    if let Some(m) = measure {
        let dims = m.measure_dims();
        if department.is_some() && !dims.0 {
            return Err(ApiError::field(
                "department",
                format!("{} is not broken down by department", m.as_str()),
            ));
        }
        if (age_band.is_some() || sex.is_some()) && !dims.1 {
            return Err(ApiError::field(
                "age_band",
                format!("{} is not broken down by age band or sex", m.as_str()),
            ));
        }
    }
    let from = blank(&q.from)
        .map(|w| {
            IsoWeek::parse(w).map_err(|_| ApiError::field("from", "an ISO week such as 2026-W40"))
        })
        .transpose()?;
    let to = blank(&q.to)
        .map(|w| {
            IsoWeek::parse(w).map_err(|_| ApiError::field("to", "an ISO week such as 2026-W49"))
        })
        .transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ApiError::field("from", "must not be after to"));
        }
    }
    // In a series a left-out dimension is the total over it (""); in the
    // export it is "any".
    let total = |v: Option<String>| {
        if for_export {
            v
        } else {
            Some(v.unwrap_or_default())
        }
    };
    Ok(CellFilter {
        measure: measure.map(|m| m.as_str().to_string()),
        tenant: check_tenant(&q.tenant)?,
        department: total(department),
        age_band: total(age_band),
        sex: total(sex),
        from: from.map(|w| w.to_string()),
        to: to.map(|w| w.to_string()),
    })
}

trait Dims {
    /// (by department, by age band and sex).
    fn measure_dims(self) -> (bool, bool);
}

impl Dims for Measure {
    fn measure_dims(self) -> (bool, bool) {
        use contracts::report::Dimension as D;
        let d = self.dimensions();
        (d.contains(&D::Department), d.contains(&D::AgeBand))
    }
}

/// A sum company made: the visible counts, and whether any cell in it was
/// suppressed.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone, Default, PartialEq, Eq)]
#[schema(as = AnalyticsTotal)]
pub struct Total {
    /// The sum of the visible counts (a lower bound when not complete).
    pub value: i64,
    /// Suppressed cells in the sum.
    pub suppressed_cells: i64,
    /// No cell in it was suppressed: `value` is exact.
    pub complete: bool,
    /// `N`, or `at least N (some cells suppressed)`.
    pub label: String,
}

impl Total {
    fn add(&mut self, v: Option<i64>) {
        match v {
            Some(n) => self.value += n,
            None => self.suppressed_cells += 1,
        }
    }

    fn done(mut self) -> Self {
        self.complete = self.suppressed_cells == 0;
        self.label = if self.complete {
            self.value.to_string()
        } else {
            format!("at least {} (some cells suppressed)", self.value)
        };
        self
    }
}

/// One week of a series.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
#[schema(as = AnalyticsWeek)]
pub struct WeekPoint {
    /// ISO week.
    pub week: String,
    /// Across the tenants selected.
    #[serde(flatten)]
    pub total: Total,
    /// Tenants with a count that week.
    pub tenants: i64,
}

/// One tenant's total over the weeks.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
#[schema(as = AnalyticsTenantTotal)]
pub struct TenantTotal {
    /// Tenant.
    pub tenant_id: String,
    /// Its total.
    #[serde(flatten)]
    pub total: Total,
}

/// A weekly series with its totals.
#[derive(utoipa::ToSchema, Serialize, Debug, Clone)]
#[schema(as = AnalyticsSeries)]
pub struct Series {
    /// The measure.
    pub measure: String,
    /// The department ("" = all).
    pub department: String,
    /// The age band ("" = all).
    pub age_band: String,
    /// Sex ("" = all).
    pub sex: String,
    /// Per week, oldest first.
    pub weeks: Vec<WeekPoint>,
    /// Per tenant, over every week.
    pub tenants: Vec<TenantTotal>,
    /// Over every week and tenant.
    pub total: Total,
}

/// Most cells a series reads.
const SERIES_LIMIT: i64 = 100_000;

/// Build the series of `f` (shared with the page).
pub(crate) async fn build_series(db: &Db, f: CellFilter) -> ApiResult<Series> {
    let q = f.clone();
    let rows: Vec<CellRow> = db
        .run(move |c| store::cells(c, &q, 0, SERIES_LIMIT))
        .await?;
    let mut weeks: BTreeMap<String, (Total, std::collections::BTreeSet<String>)> = BTreeMap::new();
    let mut tenants: BTreeMap<String, Total> = BTreeMap::new();
    let mut all = Total::default();
    for r in rows {
        let w = weeks.entry(r.week.clone()).or_default();
        w.0.add(r.value);
        w.1.insert(r.tenant_id.clone());
        tenants.entry(r.tenant_id.clone()).or_default().add(r.value);
        all.add(r.value);
    }
    Ok(Series {
        measure: f.measure.unwrap_or_default(),
        department: f.department.unwrap_or_default(),
        age_band: f.age_band.unwrap_or_default(),
        sex: f.sex.unwrap_or_default(),
        weeks: weeks
            .into_iter()
            .map(|(week, (t, ts))| WeekPoint {
                week,
                total: t.done(),
                tenants: ts.len() as i64,
            })
            .collect(),
        tenants: tenants
            .into_iter()
            .map(|(tenant_id, t)| TenantTotal {
                tenant_id,
                total: t.done(),
            })
            .collect(),
        total: all.done(),
    })
}

#[utoipa::path(get, path = "/analytics/series", tag = "reports", security(("bearer" = [])),
    summary = "A weekly series of one measure with per-tenant and overall totals; a total with a suppressed cell is 'at least' and flagged (reports.read)",
    params(SeriesQuery),
    responses((status = 200, description = "The series", body = Series),
        (status = 400, description = "A bad measure, dimension, tenant or week"),
        (status = 401, description = "Not logged in"),
        (status = 403, description = "Not reports.read")))]
async fn series(
    db: web::Data<Db>,
    user: AuthUser,
    q: web::Query<SeriesQuery>,
) -> ApiResult<HttpResponse> {
    scope::require_reader(&user)?;
    let f = filter_of(&q, false)?;
    Ok(response::ok(build_series(&db, f).await?))
}

/// Rows read per page of the export.
const EXPORT_PAGE: i64 = 1000;

fn csv_rows(rows: &[CellRow]) -> String {
    let mut out = String::new();
    for r in rows {
        let value = r
            .value
            .map_or_else(|| "suppressed".to_string(), |v| v.to_string());
        // Every field is a UUID, an ISO week, an enum or a slug: no quoting needed.
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            r.tenant_id, r.week, r.measure, r.department, r.age_band, r.sex, value
        ));
    }
    out
}

#[utoipa::path(get, path = "/analytics/export.csv", tag = "reports", security(("bearer" = [])),
    summary = "The cells matching the filters as CSV, streamed (empty department/age_band/sex = the hospital's total over it; 'suppressed' for a suppressed count) (reports.read)",
    params(SeriesQuery),
    responses((status = 200, description = "CSV: tenant_id,week,measure,department,age_band,sex,count", content_type = "text/csv"),
        (status = 400, description = "A bad measure, dimension, tenant or week"),
        (status = 401, description = "Not logged in"),
        (status = 403, description = "Not reports.read")))]
async fn export(
    db: web::Data<Db>,
    user: AuthUser,
    origin: Origin,
    q: web::Query<SeriesQuery>,
) -> ApiResult<HttpResponse> {
    export_csv(&db, &user, origin, &q).await
}

/// The streamed CSV (shared with the page's download link).
pub(crate) async fn export_csv(
    db: &web::Data<Db>,
    user: &AuthUser,
    origin: Origin,
    q: &SeriesQuery,
) -> ApiResult<HttpResponse> {
    scope::require_reader(user)?;
    let f = filter_of(q, true)?;
    let event = Event::new(&user.id, &user.role, "analytics.export", "report_cells")
        .details(json!({ "measure": f.measure, "tenant": f.tenant, "from": f.from, "to": f.to }));
    db.write(move |c| audit::append(c, &event, &origin).map(|_| ()))
        .await?;
    let db = db.get_ref().clone();
    let header = "tenant_id,week,measure,department,age_band,sex,count\n".to_string();
    // State: the next offset, or None once the last page was sent.
    let stream =
        futures_util::stream::unfold((Some(0_i64), Some(header)), move |(offset, head)| {
            let (db, f) = (db.clone(), f.clone());
            async move {
                if let Some(h) = head {
                    return Some((Ok::<_, ApiError>(web::Bytes::from(h)), (offset, None)));
                }
                let at = offset?;
                let page = db.run(move |c| store::cells(c, &f, at, EXPORT_PAGE)).await;
                match page {
                    Err(e) => Some((Err(e), (None, None))),
                    Ok(rows) if rows.is_empty() => None,
                    Ok(rows) => {
                        let next = (rows.len() as i64 == EXPORT_PAGE).then_some(at + EXPORT_PAGE);
                        Some((Ok(web::Bytes::from(csv_rows(&rows))), (next, None)))
                    }
                }
            }
        });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            "attachment; filename=\"deidentified-report-cells.csv\"",
        ))
        .streaming(stream))
}
