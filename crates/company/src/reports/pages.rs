//! `/reports`: the analyst's page — a weekly series of one measure with
//! filters (tenant, department, age band, sex, weeks), a bar chart drawn as
//! inline SVG (no script), the totals ("at least" where a suppressed cell
//! is in them), a link to the CSV export, and the reports received.

use actix_web::web;
use askama::Template;
use common::db::Db;
use common::response::Page;
use common::web::pager::url_escape;
use common::web::{html, Layout, PageResult, WebUser};

use super::http::{build_series, filter_of, Series, SeriesQuery};
use super::scope;
use super::store::{self, ReceivedReport};

/// Mount the route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reports", web::get().to(page))
        .route("/reports/export.csv", web::get().to(export));
}

/// The CSV download for a browser session (the API's export, same checks).
async fn export(
    db: web::Data<Db>,
    user: WebUser,
    origin: common::audit::Origin,
    q: web::Query<SeriesQuery>,
) -> PageResult {
    Ok(super::http::export_csv(&db, &user.user, origin, &q).await?)
}

/// One bar of the chart.
struct Bar {
    x: i64,
    y: i64,
    height: i64,
    label: String,
    week: String,
    complete: bool,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    layout: Layout,
    q: SeriesQuery,
    measure: String,
    age_band: String,
    sex: String,
    series: Series,
    bars: Vec<Bar>,
    chart_width: i64,
    export: String,
    received: Vec<ReceivedReport>,
}

const CHART_HEIGHT: i64 = 160;
const BAR: i64 = 28;

async fn page(db: web::Data<Db>, user: WebUser, q: web::Query<SeriesQuery>) -> PageResult {
    scope::require_reader(&user.user)?;
    let mut q = q.into_inner();
    let measure = q
        .measure
        .clone()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| "appointments".into());
    q.measure = Some(measure.clone());
    let f = filter_of(&q, false)?;
    let series = build_series(&db, f).await?;
    let max = series
        .weeks
        .iter()
        .map(|w| w.total.value)
        .max()
        .unwrap_or(0)
        .max(1);
    let bars = series
        .weeks
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let height = w.total.value * (CHART_HEIGHT - 20) / max;
            Bar {
                x: i as i64 * (BAR + 6) + 4,
                y: CHART_HEIGHT - height,
                height,
                label: w.total.label.clone(),
                week: w.week.clone(),
                complete: w.total.complete,
            }
        })
        .collect::<Vec<_>>();
    let chart_width = (bars.len() as i64 * (BAR + 6) + 8).max(200);
    let opt = |v: &Option<String>| url_escape(v.as_deref().unwrap_or(""));
    let export = format!(
        "/reports/export.csv?measure={}&tenant={}&department={}&age_band={}&sex={}&from={}&to={}",
        url_escape(&measure),
        opt(&q.tenant),
        opt(&q.department),
        opt(&q.age_band),
        opt(&q.sex),
        opt(&q.from),
        opt(&q.to)
    );
    let page = Page::of(Some(1), Some(20))?;
    let (received, _) = db.run(move |c| store::list(c, None, &page)).await?;
    let age_band = q.age_band.clone().unwrap_or_default();
    let sex = q.sex.clone().unwrap_or_default();
    html(&ReportsPage {
        layout: user.layout("De-identified reports"),
        q,
        measure,
        age_band,
        sex,
        series,
        bars,
        chart_width,
        export,
        received,
    })
}
