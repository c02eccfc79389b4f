//! The billing pages: the accountant's invoices with the form to invoice a
//! patient for a period (`/billing`), one invoice with its lines, payments,
//! the payment and void forms (`/billing/{id}`), and a patient's own
//! invoices (`/my-invoices`). Each goes through the API's functions (same
//! scope, checks, audit rows).

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
    issue, list_invoices, read_invoice, record_payment, void_invoice, InvoiceListQuery,
    InvoicePaymentRequest, InvoiceRequest, InvoiceVoidRequest,
};
use super::model::{InvoiceStatus, InvoiceView, PaymentMethod};
use super::price_list::BillingSection;
use super::scope;
use crate::appointments::model::check_id;
use crate::pages::PageCtx;
use crate::settings::ClinicalSection;
use crate::HospitalPermission as P;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/billing", web::get().to(invoices))
        .route("/billing", web::post().to(create))
        .route("/billing/{id}", web::get().to(one))
        .route("/billing/{id}/pay", web::post().to(pay))
        .route("/billing/{id}/void", web::post().to(void))
        .route("/my-invoices", web::get().to(mine));
}

/// An amount in minor units as `12.34` (two decimals, the currencies billed here).
pub fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02}", m / 100, m % 100)
}

/// One invoice as shown in a list.
struct Row {
    id: String,
    patient: String,
    period: String,
    status: String,
    total: String,
    balance: String,
}

fn row(v: &InvoiceView) -> Row {
    Row {
        id: v.id.clone(),
        patient: v.patient_name.clone(),
        period: format!("{} – {}", v.period_from, v.period_to),
        status: v.status.as_str().replace('_', " "),
        total: format!("{} {}", v.currency, money(v.total)),
        balance: format!("{} {}", v.currency, money(v.balance)),
    }
}

#[derive(Template)]
#[template(path = "billing.html")]
struct BillingPage {
    layout: Layout,
    rows: Vec<Row>,
    pager: Pager,
    can_issue: bool,
    error: Option<String>,
    form: IssueForm,
}

#[derive(Deserialize)]
struct ListParams {
    page: Option<i64>,
}

#[derive(Deserialize, Default)]
struct IssueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    patient_id: String,
    #[serde(default)]
    period_from: String,
    #[serde(default)]
    period_to: String,
}

async fn render(
    db: &Db,
    p: PageCtx,
    mine: bool,
    page: Page,
    status: StatusCode,
    error: Option<String>,
    form: IssueForm,
) -> PageResult {
    let q = InvoiceListQuery {
        page: Some(page.page),
        ..Default::default()
    };
    let (views, total) = list_invoices(db, p.ctx.clone(), &q, page).await?;
    let title = if mine { "My invoices" } else { "Billing" };
    html_status(
        status,
        &BillingPage {
            layout: p.web.layout(title),
            pager: Pager::new(&page, total, |n| format!("page={n}")),
            can_issue: !mine && scope::require_manager(&p.ctx.user).is_ok(),
            rows: views.iter().map(row).collect(),
            error,
            form,
        },
    )
}

async fn invoices(db: web::Data<Db>, p: PageCtx, q: web::Query<ListParams>) -> PageResult {
    p.ctx.require(P::BillingRead)?;
    let page = Page::of(q.page, None)?;
    render(
        &db,
        p,
        false,
        page,
        StatusCode::OK,
        None,
        IssueForm::default(),
    )
    .await
}

async fn mine(db: web::Data<Db>, p: PageCtx, q: web::Query<ListParams>) -> PageResult {
    p.ctx.require(P::BillingReadOwn)?;
    let page = Page::of(q.page, None)?;
    render(
        &db,
        p,
        true,
        page,
        StatusCode::OK,
        None,
        IssueForm::default(),
    )
    .await
}

fn refusal_status(e: &ApiError) -> Option<StatusCode> {
    match e {
        ApiError::Validation { .. } => Some(StatusCode::BAD_REQUEST),
        ApiError::Conflict(_) | ApiError::Warning { .. } => Some(StatusCode::CONFLICT),
        _ => None,
    }
}

async fn create(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    prices: web::Data<BillingSection>,
    p: PageCtx,
    form: web::Form<IssueForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let req = InvoiceRequest {
        patient_id: form.patient_id.trim().to_string(),
        period_from: form.period_from.clone(),
        period_to: form.period_to.clone(),
    };
    match issue(&db, &clinical, &prices, p.ctx.clone(), req).await {
        Ok(v) => Ok(redirect(&format!("/billing/{}", v.id))),
        Err(e) => match refusal_status(&e) {
            Some(status) => {
                let page = Page::of(None, None)?;
                render(&db, p, false, page, status, Some(e.to_string()), form).await
            }
            None => Err(e.into()),
        },
    }
}

/// One line as shown.
struct LineRow {
    item_code: String,
    description: String,
    date: String,
    quantity: i64,
    unit_price: String,
    amount: String,
}

/// One payment as shown.
struct PaymentRow {
    at: String,
    amount: String,
    method: String,
    reference: String,
}

#[derive(Template)]
#[template(path = "invoice.html")]
struct InvoicePage {
    layout: Layout,
    id: String,
    patient_id: String,
    patient_name: String,
    period: String,
    currency: String,
    status: String,
    total: String,
    paid: String,
    balance: String,
    void_reason: String,
    lines: Vec<LineRow>,
    payments: Vec<PaymentRow>,
    can_pay: bool,
    can_void: bool,
    methods: Vec<(&'static str, &'static str)>,
    error: Option<String>,
}

const METHODS: [(&str, &str); 5] = [
    ("cash", "Cash"),
    ("card", "Card"),
    ("bank_transfer", "Bank transfer"),
    ("insurance", "Insurance"),
    ("other", "Other"),
];

async fn render_invoice(
    db: &Db,
    p: PageCtx,
    id: String,
    status: StatusCode,
    error: Option<String>,
) -> PageResult {
    let v = read_invoice(db, p.ctx.clone(), id).await?;
    let manage = scope::require_manager(&p.ctx.user).is_ok();
    let live = v.status != InvoiceStatus::Void;
    html_status(
        status,
        &InvoicePage {
            layout: p.web.layout("Invoice"),
            patient_id: v.patient_id.clone(),
            patient_name: v.patient_name.clone(),
            period: format!("{} – {}", v.period_from, v.period_to),
            currency: v.currency.clone(),
            status: v.status.as_str().replace('_', " "),
            total: money(v.total),
            paid: money(v.paid),
            balance: money(v.balance),
            void_reason: v.void_reason.clone().unwrap_or_default(),
            lines: v
                .lines
                .iter()
                .map(|l| LineRow {
                    item_code: l.item_code.clone(),
                    description: l.description.clone(),
                    date: l.service_at.format("%Y-%m-%d").to_string(),
                    quantity: l.quantity,
                    unit_price: money(l.unit_price),
                    amount: money(l.amount),
                })
                .collect(),
            payments: v
                .payments
                .iter()
                .map(|pm| PaymentRow {
                    at: pm.recorded_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    amount: money(pm.amount),
                    method: pm.method.as_str().replace('_', " "),
                    reference: pm.reference.clone().unwrap_or_default(),
                })
                .collect(),
            can_pay: manage && live && v.balance > 0,
            can_void: manage && v.status == InvoiceStatus::Issued && v.payments.is_empty(),
            methods: METHODS.to_vec(),
            id: v.id,
            error,
        },
    )
}

async fn one(db: web::Data<Db>, p: PageCtx, id: web::Path<String>) -> PageResult {
    let id = id.into_inner();
    check_id("id", &id)?;
    render_invoice(&db, p, id, StatusCode::OK, None).await
}

async fn again(db: &Db, p: PageCtx, id: String, e: ApiError) -> PageResult {
    match refusal_status(&e) {
        Some(status) => render_invoice(db, p, id, status, Some(e.to_string())).await,
        None => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
struct PayForm {
    #[serde(default)]
    csrf: String,
    /// In major units with up to two decimals (`12.50`).
    #[serde(default)]
    amount: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    reference: String,
}

/// `12`, `12.5`, `12.50` → 1250 minor units.
fn typed_amount(s: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::field("amount", "must be an amount such as 12.50");
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || whole.len() > 12
    {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    Ok(whole * 100 + frac)
}

async fn pay(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<PayForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    check_id("id", &id)?;
    let attempt = async {
        let method: PaymentMethod = form
            .method
            .parse()
            .map_err(|_| ApiError::field("method", "choose how it was paid"))?;
        let req = InvoicePaymentRequest {
            amount: typed_amount(&form.amount)?,
            method,
            reference: Some(form.reference.clone()),
        };
        record_payment(&db, p.ctx.clone(), id.clone(), req).await
    };
    match attempt.await {
        Ok(_) => Ok(redirect(&format!("/billing/{id}"))),
        Err(e) => again(&db, p, id, e).await,
    }
}

#[derive(Deserialize, Default)]
struct VoidForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn void(
    db: web::Data<Db>,
    p: PageCtx,
    id: web::Path<String>,
    form: web::Form<VoidForm>,
) -> PageResult {
    p.web.check_csrf(&form.csrf)?;
    let id = id.into_inner();
    check_id("id", &id)?;
    let req = InvoiceVoidRequest {
        reason: form.reason.clone(),
    };
    match void_invoice(&db, p.ctx.clone(), id.clone(), req).await {
        Ok(_) => Ok(redirect(&format!("/billing/{id}"))),
        Err(e) => again(&db, p, id, e).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_typed_in_major_units() {
        assert_eq!(typed_amount("12").unwrap(), 1200);
        assert_eq!(typed_amount("12.5").unwrap(), 1250);
        assert_eq!(typed_amount(" 0.07 ").unwrap(), 7);
        assert!(typed_amount("1.234").is_err());
        assert!(typed_amount("-1").is_err());
        assert!(typed_amount("").is_err());
        assert_eq!(money(123456), "1234.56");
    }
}
