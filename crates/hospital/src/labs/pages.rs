//! The lab pages: a patient's orders with the doctor's order form
//! (`/patients/{id}/labs`), the lab's worklist (`/lab`), one order with its
//! results, the lab's results entry, finalize and amendment forms
//! (`/lab/{id}`), and a patient's own finalized results (`/my-labs`). Each
//! goes through the API's functions (same scope, checks, audit rows).

use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use common::db::Db;
use common::response::Page;
use common::web::pager::Pager;
use common::web::render::html_status;
use common::web::{redirect, Layout, PageResult};
use common::ApiError;
use serde::Deserialize;

use super::http::{
    amend_order, cancel_order, enter_results, finalize_order, list_orders, order, read_order,
    LabAmendmentRequest, LabOrderListQuery, LabOrderRequest,
};
use super::model::{
    LabFlag, LabOrderKind, LabOrderStatus, LabOrderView, LabPriority, LabResult, LabTest,
};
use super::scope;
use crate::appointments::model::check_id;
use crate::pages::PageCtx;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/patients/{id}/labs", web::get().to(of_patient))
        .route("/patients/{id}/labs", web::post().to(write))
        .route("/lab", web::get().to(worklist))
        .route("/lab/{id}", web::get().to(one))
        .route("/lab/{id}/results", web::post().to(results))
        .route("/lab/{id}/finalize", web::post().to(finalize))
        .route("/lab/{id}/amend", web::post().to(amend))
        .route("/lab/{id}/cancel", web::post().to(cancel))
        .route("/my-labs", web::get().to(mine));
}

/// One order as shown in a list.
struct Row {
    id: String,
    patient_id: String,
    tests: String,
    kind: String,
    priority: String,
    status: String,
    abnormal: usize,
    amended: bool,
    created: String,
    /// The caller may cancel it (their own, nothing entered yet).
    cancellable: bool,
}

#[derive(Template)]
#[template(path = "labs.html")]
struct LabsPage {
    layout: Layout,
    /// The patient whose orders these are ("" for the worklist and "mine").
    patient_id: String,
    rows: Vec<Row>,
    pager: Pager,
    can_order: bool,
    worklist: bool,
    error: Option<String>,
    form: OrderForm,
}

#[derive(Deserialize)]
struct ListParams {
    page: Option<i64>,
}

#[derive(Deserialize, Default)]
struct OrderForm {
    #[serde(default)]
    csrf: String,
    /// One test a line: `CODE Name`.
    #[serde(default)]
    tests: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    notes: String,
}

const KINDS: [(&str, &str); 2] = [("lab", "Lab tests"), ("imaging", "Imaging studies")];

const PRIORITIES: [(&str, &str); 3] = [
    ("routine", "Routine"),
    ("urgent", "Urgent"),
    ("stat", "Stat (now)"),
];

const FLAGS: [(&str, &str); 6] = [
    ("normal", "Normal"),
    ("low", "Low"),
    ("high", "High"),
    ("critical_low", "Critically low"),
    ("critical_high", "Critically high"),
    ("abnormal", "Abnormal"),
];

fn words(s: &str) -> String {
    s.replace('_', " ")
}

fn row(v: &LabOrderView, me: &str, can_order: bool) -> Row {
    Row {
        id: v.id.clone(),
        patient_id: v.patient_id.clone(),
        tests: v
            .tests
            .iter()
            .map(|t| format!("{} ({})", t.name, t.code))
            .collect::<Vec<_>>()
            .join(", "),
        priority: v.priority.as_str().to_string(),
        kind: v.kind.as_str().to_string(),
        status: words(v.status.as_str()),
        abnormal: v
            .results
            .iter()
            .filter(|r| r.flag != LabFlag::Normal)
            .count(),
        amended: !v.amendments.is_empty(),
        created: v.created_at.format("%Y-%m-%d %H:%M").to_string(),
        cancellable: can_order
            && v.ordered_by == me
            && v.status == LabOrderStatus::Ordered
            && v.original_results.is_empty(),
    }
}

/// Which list a page shows.
enum Which {
    Patient(String),
    Worklist,
    Mine,
}

async fn render(
    db: &Db,
    p: PageCtx,
    which: Which,
    page: Page,
    status: StatusCode,
    error: Option<String>,
    form: OrderForm,
) -> PageResult {
    let (patient_id, open, title) = match &which {
        Which::Patient(id) => (Some(id.clone()), None, "Lab orders"),
        Which::Worklist => (None, Some(true), "Lab worklist"),
        Which::Mine => (None, None, "My lab results"),
    };
    let q = LabOrderListQuery {
        patient_id: patient_id.clone(),
        open,
        page: Some(page.page),
        ..Default::default()
    };
    let (views, total) = list_orders(db, p.ctx.clone(), &q, page).await?;
    let can_order = p.ctx.can(P::LabsOrder);
    let me = p.ctx.user.id.clone();
    html_status(
        status,
        &LabsPage {
            layout: p.web.layout(title),
            pager: Pager::new(&page, total, |n| format!("page={n}")),
            can_order: patient_id.is_some() && can_order,
            worklist: matches!(which, Which::Worklist),
            patient_id: patient_id.unwrap_or_default(),
            rows: views.iter().map(|v| row(v, &me, can_order)).collect(),
            error,
            form,
        },
    )
}

async fn of_patient(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    q: web::Query<ListParams>,
) -> PageResult {
    let id = id.into_inner();
    check_id("patient_id", &id)?;
    let page = Page::of(q.page, None)?;
    let form = OrderForm::default();
    render(&db, p, Which::Patient(id), page, StatusCode::OK, None, form).await
}

async fn worklist(db: web::Data<Db>, p: PageCtx, q: web::Query<ListParams>) -> PageResult {
    if scope::worklists(&p.ctx.user).is_empty() {
        return Err(
            ApiError::Forbidden("your role works no lab or imaging worklist".into()).into(),
        );
    }
    let page = Page::of(q.page, None)?;
    let form = OrderForm::default();
    render(&db, p, Which::Worklist, page, StatusCode::OK, None, form).await
}

async fn mine(db: web::Data<Db>, p: PageCtx, q: web::Query<ListParams>) -> PageResult {
    p.ctx.require(P::LabsReadOwn)?;
    let page = Page::of(q.page, None)?;
    let form = OrderForm::default();
    render(&db, p, Which::Mine, page, StatusCode::OK, None, form).await
}

/// The tests typed in the order form, one a line: `CODE Name` (or
/// `CODE: Name`, `CODE - Name`).
fn typed_tests(text: &str) -> Vec<LabTest> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (code, name) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
            let code = code.trim_end_matches(':');
            let name = name.trim().trim_start_matches([':', '-']).trim();
            LabTest {
                code: code.to_string(),
                name: name.to_string(),
            }
        })
        .collect()
}

async fn write(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<OrderForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let patient = id.into_inner();
    let form = form.into_inner();
    let attempt = async {
        let priority: LabPriority = form
            .priority
            .parse()
            .map_err(|_| ApiError::field("priority", "choose how soon"))?;
        let kind: LabOrderKind = match form.kind.as_str() {
            "" => LabOrderKind::Lab,
            k => k
                .parse()
                .map_err(|_| ApiError::field("kind", "choose lab tests or imaging"))?,
        };
        let req = LabOrderRequest {
            patient_id: patient.clone(),
            tests: typed_tests(&form.tests),
            kind,
            priority,
            notes: Some(form.notes.clone()),
        };
        order(&db, p.ctx.clone(), req).await
    };
    match attempt.await {
        Ok(_) => Ok(redirect(&format!("/patients/{patient}/labs"))),
        Err(e @ (ApiError::Validation { .. } | ApiError::Conflict(_))) => {
            let status = if matches!(e, ApiError::Validation { .. }) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::CONFLICT
            };
            let page = Page::of(None, None)?;
            let which = Which::Patient(patient);
            render(&db, p, which, page, status, Some(e.to_string()), form).await
        }
        Err(e) => Err(e.into()),
    }
}

/// One test's line on the order page: what was ordered, its current result
/// and the values the entry form starts from.
struct TestLine {
    code: String,
    name: String,
    value: String,
    unit: String,
    reference_range: String,
    flag: String,
    flag_label: String,
}

/// One amendment as shown.
struct AmendLine {
    by: String,
    at: String,
    reason: String,
    results: String,
}

#[derive(Template)]
#[template(path = "lab_order.html")]
struct OrderPage {
    layout: Layout,
    id: String,
    patient_id: String,
    ordered_by: String,
    priority: String,
    status: String,
    notes: String,
    finalized: String,
    lines: Vec<TestLine>,
    original: String,
    amendments: Vec<AmendLine>,
    /// The lab may enter results and finalize.
    can_enter: bool,
    /// The lab may amend.
    can_amend: bool,
    /// The ordering doctor may cancel.
    can_cancel: bool,
    error: Option<String>,
}

fn flag_label(f: LabFlag) -> &'static str {
    FLAGS
        .iter()
        .find(|(v, _)| *v == f.as_str())
        .map(|(_, l)| *l)
        .unwrap_or("")
}

fn summary(results: &[LabResult]) -> String {
    results
        .iter()
        .map(|r| {
            format!(
                "{}: {}{}{} ({})",
                r.code,
                r.value,
                if r.unit.is_empty() { "" } else { " " },
                r.unit,
                flag_label(r.flag)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

async fn render_order(
    db: &Db,
    p: PageCtx,
    id: String,
    status: StatusCode,
    error: Option<String>,
) -> PageResult {
    let v = read_order(db, p.ctx.clone(), id).await?;
    let lab = scope::results_for(&p.ctx.user, v.kind);
    let lines = v
        .tests
        .iter()
        .map(|t| {
            let r = v.results.iter().find(|r| r.code == t.code);
            TestLine {
                code: t.code.clone(),
                name: t.name.clone(),
                value: r.map(|r| r.value.clone()).unwrap_or_default(),
                unit: r.map(|r| r.unit.clone()).unwrap_or_default(),
                reference_range: r.map(|r| r.reference_range.clone()).unwrap_or_default(),
                flag: r.map(|r| r.flag.as_str()).unwrap_or("normal").to_string(),
                flag_label: r.map(|r| flag_label(r.flag)).unwrap_or("").to_string(),
            }
        })
        .collect();
    html_status(
        status,
        &OrderPage {
            layout: p.web.layout("Lab order"),
            patient_id: v.patient_id.clone(),
            ordered_by: v.ordered_by.clone(),
            priority: v.priority.as_str().to_string(),
            status: words(v.status.as_str()),
            notes: v.notes.clone().unwrap_or_default(),
            finalized: match (&v.finalized_by, v.finalized_at) {
                (Some(by), Some(at)) => format!("by {by} at {}", at.format("%Y-%m-%d %H:%M UTC")),
                _ => String::new(),
            },
            lines,
            original: if v.amendments.is_empty() {
                String::new()
            } else {
                summary(&v.original_results)
            },
            amendments: v
                .amendments
                .iter()
                .map(|a| AmendLine {
                    by: a.amended_by.clone(),
                    at: a.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    reason: a.reason.clone(),
                    results: summary(&a.results),
                })
                .collect(),
            can_enter: lab && v.status.open(),
            can_amend: lab && v.status == LabOrderStatus::Finalized,
            can_cancel: p.ctx.can(P::LabsOrder)
                && v.ordered_by == p.ctx.user.id
                && v.status == LabOrderStatus::Ordered
                && v.original_results.is_empty(),
            id: v.id,
            error,
        },
    )
}

async fn one(db: web::Data<Db>, p: PageCtx, id: web::Path<String>) -> PageResult {
    let id = id.into_inner();
    check_id("id", &id)?;
    render_order(&db, p, id, StatusCode::OK, None).await
}

/// A refused lab action: the order page again with its error.
async fn order_again(db: &Db, p: PageCtx, id: String, e: ApiError) -> PageResult {
    match e {
        ApiError::Validation { .. } | ApiError::Conflict(_) | ApiError::Warning { .. } => {
            let status = if matches!(e, ApiError::Validation { .. }) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::CONFLICT
            };
            render_order(db, p, id, status, Some(e.to_string())).await
        }
        e => Err(e.into()),
    }
}

/// The results typed in the entry (or amendment) form: `value-N`, `unit-N`,
/// `range-N`, `flag-N` for the N-th test (`code-N`); a test whose value is
/// left empty is not sent.
fn typed_results(fields: &[(String, String)]) -> Result<Vec<LabResult>, ApiError> {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(f, _)| f == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let mut out = Vec::new();
    for n in 0..super::model::MAX_TESTS {
        let code = get(&format!("code-{n}"));
        if code.is_empty() {
            continue;
        }
        let value = get(&format!("value-{n}"));
        if value.trim().is_empty() {
            continue;
        }
        let flag: LabFlag = get(&format!("flag-{n}"))
            .parse()
            .map_err(|_| ApiError::field(&format!("flag-{n}"), "choose a flag"))?;
        out.push(LabResult {
            code: code.to_string(),
            value: value.to_string(),
            unit: get(&format!("unit-{n}")).to_string(),
            reference_range: get(&format!("range-{n}")).to_string(),
            flag,
        });
    }
    if out.is_empty() {
        return Err(ApiError::field("results", "enter at least one value"));
    }
    Ok(out)
}

fn csrf_of(fields: &[(String, String)]) -> &str {
    fields
        .iter()
        .find(|(f, _)| f == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

async fn results(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> PageResult {
    p.web.check_csrf(csrf_of(&form))?;
    let id = id.into_inner();
    let result = match typed_results(&form) {
        Ok(r) => enter_results(&db, p.ctx.clone(), id.clone(), r).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(redirect(&format!("/lab/{id}"))),
        Err(e) => order_again(&db, p, id, e).await,
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn finalize(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    match finalize_order(&db, p.ctx.clone(), id.clone()).await {
        Ok(_) => Ok(redirect(&format!("/lab/{id}"))),
        Err(e) => order_again(&db, p, id, e).await,
    }
}

async fn amend(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<Vec<(String, String)>>,
) -> PageResult {
    p.web.check_csrf(csrf_of(&form))?;
    let id = id.into_inner();
    let reason = form
        .iter()
        .find(|(f, _)| f == "reason")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let result = match typed_results(&form) {
        Ok(results) => {
            let req = LabAmendmentRequest { reason, results };
            amend_order(&db, p.ctx.clone(), id.clone(), req).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(redirect(&format!("/lab/{id}"))),
        Err(e) => order_again(&db, p, id, e).await,
    }
}

async fn cancel(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    match cancel_order(&db, p.ctx.clone(), id.clone()).await {
        Ok(v) => Ok(redirect(&format!("/patients/{}/labs", v.patient_id))),
        Err(e) => order_again(&db, p, id, e).await,
    }
}
