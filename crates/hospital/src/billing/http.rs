//! `GET …/billing/price-list`, `POST|GET …/invoices`, `GET …/invoices/{id}`,
//! `POST …/invoices/{id}/{payments,void}`.

use actix_web::{web, HttpResponse};
use common::db::{now, Db, DbConn};
use common::http::resource;
use common::response::{self, Page};
use common::{ApiError, ApiResult};
use serde::Deserialize;
use serde_json::json;

use super::model::{self, InvoiceStatus, InvoiceView, PaymentMethod};
use super::price_list::{BillingPriceList, BillingSection};
use super::scope;
use super::store::{self, Invoice, Line, ListFilter, Payment};
use crate::appointments::model::{check_id, check_text};
use crate::context::Ctx;
use crate::settings::ClinicalSection;

/// Mount the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/billing/price-list").route(web::get().to(price_list)))
        .service(
            resource("/invoices")
                .route(web::get().to(list))
                .route(web::post().to(create)),
        )
        .service(resource("/invoices/{id}").route(web::get().to(get)))
        .service(resource("/invoices/{id}/payments").route(web::post().to(pay)))
        .service(resource("/invoices/{id}/void").route(web::post().to(void)));
}

#[utoipa::path(get, path = "/billing/price-list", tag = "billing", security(("bearer" = [])),
    summary = "The configured price list ([billing]): currency and the price of every billable item in minor units (any billing role)",
    responses((status = 200, description = "The price list", body = BillingPriceList)))]
async fn price_list(ctx: Ctx, prices: web::Data<BillingSection>) -> ApiResult<HttpResponse> {
    scope::require_price_list_reader(&ctx.user)?;
    Ok(response::ok(prices.view()))
}

/// An invoice to issue.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct InvoiceRequest {
    /// The patient.
    #[schema(min_length = 1, max_length = 64)]
    pub patient_id: String,
    /// First day (YYYY-MM-DD, the hospital's time zone).
    pub period_from: String,
    /// Last day, inclusive (YYYY-MM-DD); at most 366 days in all.
    pub period_to: String,
}

#[utoipa::path(post, path = "/invoices", tag = "billing", security(("bearer" = [])),
    summary = "Invoice a patient for a period (billing.manage): the period's completed appointments, finalized lab tests and dispenses not yet billed, priced from the price list; each event is billed at most once",
    request_body = InvoiceRequest,
    responses((status = 201, description = "Issued", body = InvoiceView),
        (status = 404, description = "No such patient"),
        (status = 409, description = "NOTHING_TO_BILL: the period has no event not yet billed; CONFLICT when a concurrent invoice billed one of them meanwhile")))]
async fn create(
    db: web::Data<Db>,
    clinical: web::Data<ClinicalSection>,
    prices: web::Data<BillingSection>,
    ctx: Ctx,
    body: web::Json<InvoiceRequest>,
) -> ApiResult<HttpResponse> {
    let view = issue(&db, &clinical, &prices, ctx, body.into_inner()).await?;
    Ok(response::created(view))
}

/// Issue an invoice, with the API's checks and audit row (shared with pages).
pub(crate) async fn issue(
    db: &Db,
    clinical: &ClinicalSection,
    prices: &BillingSection,
    ctx: Ctx,
    req: InvoiceRequest,
) -> ApiResult<InvoiceView> {
    scope::require_manager(&ctx.user)?;
    check_id("patient_id", &req.patient_id)?;
    let (from, to) = model::check_period(&req.period_from, &req.period_to)?;
    let bounds = model::period_bounds(clinical.tz(), from, to);
    let prices = prices.clone();
    let c = ctx.clone();
    let inv = db
        .write(move |conn| {
            let (tenant, user) = (&c.tenant, &c.user);
            scope::require_biller_for(conn, user, tenant, &req.patient_id)?;
            let charges =
                store::unbilled(conn, &c.keyring, &prices, tenant, &req.patient_id, bounds)?;
            if charges.is_empty() {
                return Err(ApiError::Warning {
                    code: "NOTHING_TO_BILL",
                    message: "the patient has no event in this period that is not billed yet"
                        .into(),
                    details: json!({
                        "period_from": from.to_string(), "period_to": to.to_string(),
                    }),
                });
            }
            let id = uuid::Uuid::new_v4().to_string();
            let lines: Vec<Line> = charges
                .into_iter()
                .enumerate()
                .map(|(i, ch)| Line {
                    id: uuid::Uuid::new_v4().to_string(),
                    tenant_id: tenant.clone(),
                    invoice_id: id.clone(),
                    position: i as i64 + 1,
                    source_kind: ch.kind.as_str().into(),
                    source_id: ch.source_id,
                    service_at: ch.service_at,
                    item_code: ch.item_code,
                    description: ch.description,
                    amount: ch.quantity * ch.unit_price,
                    quantity: ch.quantity,
                    unit_price: ch.unit_price,
                    live: true,
                })
                .collect();
            let total: i64 = lines.iter().map(|l| l.amount).sum();
            if total <= 0 {
                return Err(ApiError::Warning {
                    code: "NOTHING_TO_BILL",
                    message: "every event of this period is priced at zero".into(),
                    details: json!({
                        "period_from": from.to_string(), "period_to": to.to_string(),
                    }),
                });
            }
            let t = now();
            let inv = Invoice {
                id,
                tenant_id: tenant.clone(),
                patient_id: req.patient_id.clone(),
                period_from: from.to_string(),
                period_to: to.to_string(),
                currency: prices.currency.clone(),
                total,
                paid: 0,
                status: InvoiceStatus::Issued.as_str().into(),
                void_reason: None,
                voided_by: None,
                voided_at: None,
                created_by: user.id.clone(),
                created_at: t,
                updated_at: t,
            };
            store::insert(conn, &inv, &lines)?;
            let event = c
                .patient_event("invoice.create", &inv.patient_id)
                .details(json!({
                    "invoice": inv.id, "lines": lines.len(), "total": inv.total,
                }));
            c.audit(conn, &event)?;
            Ok(inv)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &inv))
        .await
}

fn reread(conn: &mut DbConn, c: &Ctx, id: &str) -> ApiResult<Invoice> {
    store::find_visible(conn, scope::visible(&c.user, &c.tenant)?, id)?.ok_or_else(scope::not_found)
}

fn read_event(ctx: &Ctx, v: &InvoiceView) -> common::audit::Event {
    ctx.patient_event("invoice.read", &v.patient_id)
        .details(json!({ "invoice": v.id }))
}

#[utoipa::path(get, path = "/invoices/{id}", tag = "billing", security(("bearer" = [])),
    summary = "One invoice with its lines and payments (written to the patient's access log: it shows their name); a patient sees only their own",
    responses((status = 200, description = "The invoice", body = InvoiceView),
        (status = 404, description = "No such invoice in the caller's scope")))]
async fn get(db: web::Data<Db>, ctx: Ctx, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let view = read_invoice(&db, ctx, id.into_inner()).await?;
    Ok(response::ok(view))
}

/// One invoice, with its access-log row (shared with pages).
pub(crate) async fn read_invoice(db: &Db, ctx: Ctx, id: String) -> ApiResult<InvoiceView> {
    scope::require_reader(&ctx.user)?;
    let c = ctx.clone();
    let view = db
        .run(move |conn| {
            let inv = reread(conn, &c, &id)?;
            store::to_view(conn, &c.keyring, &inv)
        })
        .await?;
    ctx.record(db, vec![read_event(&ctx, &view)]).await?;
    Ok(view)
}

/// The list's filters and page.
#[derive(utoipa::IntoParams, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct InvoiceListQuery {
    /// One patient's invoices.
    pub patient_id: Option<String>,
    /// Only in this status.
    pub status: Option<InvoiceStatus>,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    /// Page size.
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<i64>,
}

#[utoipa::path(get, path = "/invoices", tag = "billing", security(("bearer" = [])),
    summary = "Invoices the caller may see, newest first: every invoice of the tenant (billing.read), a patient's own (billing.read_own); each shown is written to its patient's access log",
    params(InvoiceListQuery), responses((status = 200, description = "A page of invoices", body = Vec<InvoiceView>)))]
async fn list(
    db: web::Data<Db>,
    ctx: Ctx,
    q: web::Query<InvoiceListQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let page = Page::of(q.page, q.page_size)?;
    let (views, total) = list_invoices(&db, ctx, &q, page).await?;
    Ok(response::page(views, &page, total))
}

/// A page of invoices, one access-log row per invoice shown (shared with pages).
pub(crate) async fn list_invoices(
    db: &Db,
    ctx: Ctx,
    q: &InvoiceListQuery,
    page: Page,
) -> ApiResult<(Vec<InvoiceView>, i64)> {
    scope::require_reader(&ctx.user)?;
    if let Some(p) = &q.patient_id {
        check_id("patient_id", p)?;
    }
    let filter = ListFilter {
        patient_id: q.patient_id.clone(),
        status: q.status,
    };
    let c = ctx.clone();
    let (views, total) = db
        .run(move |conn| {
            let (rows, total) =
                store::list(conn, || scope::visible(&c.user, &c.tenant), &filter, &page)?;
            let views = rows
                .iter()
                .map(|inv| store::to_view(conn, &c.keyring, inv))
                .collect::<ApiResult<Vec<_>>>()?;
            Ok((views, total))
        })
        .await?;
    let events = views.iter().map(|v| read_event(&ctx, v)).collect();
    ctx.record(db, events).await?;
    Ok((views, total))
}

/// A payment received.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct InvoicePaymentRequest {
    /// Minor units, positive, at most the invoice's balance.
    #[schema(minimum = 1)]
    pub amount: i64,
    /// How it was paid.
    pub method: PaymentMethod,
    /// A receipt or transfer number (at most 100 characters).
    #[schema(max_length = 100)]
    pub reference: Option<String>,
}

#[utoipa::path(post, path = "/invoices/{id}/payments", tag = "billing", security(("bearer" = [])),
    summary = "Record a payment against an invoice (billing.manage): positive, at most its balance",
    request_body = InvoicePaymentRequest,
    responses((status = 201, description = "Recorded; the invoice with its payments", body = InvoiceView),
        (status = 404, description = "No such invoice"),
        (status = 409, description = "OVERPAYMENT: more than the balance (`details.balance`), also when a concurrent payment took it; CONFLICT when the invoice is void")))]
async fn pay(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<InvoicePaymentRequest>,
) -> ApiResult<HttpResponse> {
    let view = record_payment(&db, ctx, id.into_inner(), body.into_inner()).await?;
    Ok(response::created(view))
}

/// Record a payment (shared with pages).
pub(crate) async fn record_payment(
    db: &Db,
    ctx: Ctx,
    id: String,
    req: InvoicePaymentRequest,
) -> ApiResult<InvoiceView> {
    scope::require_manager(&ctx.user)?;
    let amount = model::check_amount(req.amount)?;
    let reference = match req.reference.as_deref() {
        Some(r) if !r.trim().is_empty() => Some(check_text("reference", r, 1, 100)?),
        _ => None,
    };
    let c = ctx.clone();
    let inv = db
        .write(move |conn| {
            let inv = reread(conn, &c, &id)?;
            if inv.status()? == InvoiceStatus::Void {
                return Err(ApiError::Conflict("the invoice is void".into()));
            }
            let balance = inv.total - inv.paid;
            if amount > balance {
                return Err(overpayment(balance));
            }
            let p = Payment {
                id: uuid::Uuid::new_v4().to_string(),
                tenant_id: c.tenant.clone(),
                invoice_id: inv.id.clone(),
                amount,
                method: req.method.as_str().into(),
                reference,
                recorded_by: c.user.id.clone(),
                recorded_at: now(),
            };
            if !store::pay(conn, &inv, &p)? {
                return Err(overpayment(balance));
            }
            let event = c
                .patient_event("invoice.payment", &inv.patient_id)
                .details(json!({ "invoice": inv.id, "payment": p.id, "amount": amount }));
            c.audit(conn, &event)?;
            reread(conn, &c, &inv.id)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &inv))
        .await
}

fn overpayment(balance: i64) -> ApiError {
    ApiError::Warning {
        code: "OVERPAYMENT",
        message: format!("the payment exceeds the invoice's balance of {balance}"),
        details: json!({ "balance": balance }),
    }
}

/// Why an invoice is voided.
#[derive(utoipa::ToSchema, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct InvoiceVoidRequest {
    /// 3 to 500 characters.
    #[schema(min_length = 3, max_length = 500)]
    pub reason: String,
}

#[utoipa::path(post, path = "/invoices/{id}/void", tag = "billing", security(("bearer" = [])),
    summary = "Void an invoice without payments (billing.manage): its events may then be billed on a new invoice",
    request_body = InvoiceVoidRequest,
    responses((status = 200, description = "Voided", body = InvoiceView),
        (status = 404, description = "No such invoice"),
        (status = 409, description = "It has payments, or is void already")))]
async fn void(
    db: web::Data<Db>,
    ctx: Ctx,
    id: web::Path<String>,
    body: web::Json<InvoiceVoidRequest>,
) -> ApiResult<HttpResponse> {
    let view = void_invoice(&db, ctx, id.into_inner(), body.into_inner()).await?;
    Ok(response::ok(view))
}

/// Void (shared with pages).
pub(crate) async fn void_invoice(
    db: &Db,
    ctx: Ctx,
    id: String,
    req: InvoiceVoidRequest,
) -> ApiResult<InvoiceView> {
    scope::require_manager(&ctx.user)?;
    let reason = check_text("reason", &req.reason, 3, 500)?;
    let c = ctx.clone();
    let inv = db
        .write(move |conn| {
            let inv = reread(conn, &c, &id)?;
            if inv.status()? == InvoiceStatus::Void {
                return Err(ApiError::Conflict("the invoice is void already".into()));
            }
            if inv.paid > 0 || store::payment_count(conn, &inv)? > 0 {
                return Err(ApiError::Conflict(
                    "the invoice has payments; it can no longer be voided".into(),
                ));
            }
            if !store::void(conn, &inv, &reason, &c.user.id)? {
                return Err(ApiError::Conflict("the invoice changed meanwhile".into()));
            }
            let event = c
                .patient_event("invoice.void", &inv.patient_id)
                .details(json!({ "invoice": inv.id }));
            c.audit(conn, &event)?;
            reread(conn, &c, &inv.id)
        })
        .await?;
    let keyring = ctx.keyring.clone();
    db.run(move |conn| store::to_view(conn, &keyring, &inv))
        .await
}
