//! Queries on `invoices`, `invoice_lines` and `invoice_payments`, and the
//! collection of a patient's billable events from the clinical tables
//! (read only: billing never changes them). Nothing here is sealed: a line
//! holds only the price list's vocabulary; the patient's name is opened
//! from the patient record when an invoice is shown.

use chrono::NaiveDateTime;
use common::crypto::Keyring;
use common::db::{now, DbConn, Page};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use super::model::{
    InvoiceLineView, InvoicePaymentView, InvoiceStatus, InvoiceView, PaymentMethod, SourceKind,
};
use super::price_list::BillingSection;
use super::scope::Visible;
use crate::appointments::model::{utc, AppointmentStatus, AppointmentType};
use crate::labs::model::LabOrderStatus;
use crate::labs::store::{self as lab_store, LabOrder};
use crate::patients::sealed::Sealer;
use crate::schema::{
    admissions, appointments, invoice_lines, invoice_payments, invoices, lab_orders, patients,
    prescription_dispenses, prescriptions,
};

/// An invoice as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invoices)]
pub struct Invoice {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The patient.
    pub patient_id: String,
    /// `YYYY-MM-DD`.
    pub period_from: String,
    /// `YYYY-MM-DD`, inclusive.
    pub period_to: String,
    /// ISO 4217.
    pub currency: String,
    /// Minor units.
    pub total: i64,
    /// Minor units.
    pub paid: i64,
    /// `InvoiceStatus`, stored by name.
    pub status: String,
    /// Why voided.
    pub void_reason: Option<String>,
    /// By whom.
    pub voided_by: Option<String>,
    /// When.
    pub voided_at: Option<NaiveDateTime>,
    /// Issued by.
    pub created_by: String,
    /// Issued at.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl Invoice {
    /// The stored status.
    pub fn status(&self) -> ApiResult<InvoiceStatus> {
        self.status
            .parse()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown invoice status")))
    }
}

/// A line as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invoice_lines)]
pub struct Line {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The invoice.
    pub invoice_id: String,
    /// Order on the invoice.
    pub position: i64,
    /// `SourceKind`, stored by name.
    pub source_kind: String,
    /// The event billed.
    pub source_id: String,
    /// When it happened.
    pub service_at: NaiveDateTime,
    /// Price-list code.
    pub item_code: String,
    /// Price-list description.
    pub description: String,
    /// How many.
    pub quantity: i64,
    /// Price of one.
    pub unit_price: i64,
    /// `quantity × unit_price`.
    pub amount: i64,
    /// False once the invoice is voided (the event may be billed again).
    pub live: bool,
}

/// A payment as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invoice_payments)]
pub struct Payment {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The invoice.
    pub invoice_id: String,
    /// Minor units.
    pub amount: i64,
    /// `PaymentMethod`, stored by name.
    pub method: String,
    /// Reference.
    pub reference: Option<String>,
    /// Who.
    pub recorded_by: String,
    /// When.
    pub recorded_at: NaiveDateTime,
}

/// A billable event, priced, not yet on an invoice.
#[derive(Debug, Clone)]
pub struct Charge {
    /// What kind.
    pub kind: SourceKind,
    /// Which event.
    pub source_id: String,
    /// When.
    pub service_at: NaiveDateTime,
    /// Price-list code.
    pub item_code: String,
    /// Price-list description.
    pub description: String,
    /// How many.
    pub quantity: i64,
    /// Price of one.
    pub unit_price: i64,
}

/// The events of `patient` in `[start, end)` not yet on a live line,
/// priced from `prices`, by service time: completed appointments (by their
/// start), every test of lab orders finalized then, dispenses made then,
/// admissions discharged then (their bed days).
pub fn unbilled(
    conn: &mut DbConn,
    keyring: &Keyring,
    prices: &BillingSection,
    tenant: &str,
    patient: &str,
    (start, end): (NaiveDateTime, NaiveDateTime),
) -> ApiResult<Vec<Charge>> {
    let mut out = Vec::new();
    let seen: Vec<(String, String)> = invoices::table
        .inner_join(invoice_lines::table)
        .filter(invoices::tenant_id.eq(tenant))
        .filter(invoices::patient_id.eq(patient))
        .filter(invoice_lines::tenant_id.eq(tenant))
        .filter(invoice_lines::live.eq(true))
        .select((invoice_lines::source_kind, invoice_lines::source_id))
        .load(conn)?;
    let billed =
        |kind: SourceKind, id: &str| seen.iter().any(|(k, s)| k == kind.as_str() && s == id);

    let visits: Vec<(String, String, NaiveDateTime)> = appointments::table
        .filter(appointments::tenant_id.eq(tenant))
        .filter(appointments::patient_id.eq(patient))
        .filter(appointments::status.eq(AppointmentStatus::Completed.as_str()))
        .filter(appointments::starts_at.ge(start))
        .filter(appointments::starts_at.lt(end))
        .select((
            appointments::id,
            appointments::kind,
            appointments::starts_at,
        ))
        .load(conn)?;
    for (id, kind, at) in visits {
        if billed(SourceKind::Appointment, &id) {
            continue;
        }
        let kind: AppointmentType = kind
            .parse()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown appointment type")))?;
        let item = prices.appointment(kind);
        out.push(Charge {
            kind: SourceKind::Appointment,
            source_id: id,
            service_at: at,
            item_code: item.item_code,
            description: item.description,
            quantity: 1,
            unit_price: item.unit_price,
        });
    }

    let orders: Vec<LabOrder> = lab_orders::table
        .filter(lab_orders::tenant_id.eq(tenant))
        .filter(lab_orders::patient_id.eq(patient))
        .filter(lab_orders::status.eq(LabOrderStatus::Finalized.as_str()))
        .filter(lab_orders::finalized_at.ge(start))
        .filter(lab_orders::finalized_at.lt(end))
        .select(LabOrder::as_select())
        .load(conn)?;
    for o in orders {
        let at = o.finalized_at.unwrap_or(o.updated_at);
        // The tests ordered (sealed): only their codes are used, to price
        // them; a code the price list does not name is not copied.
        // The event is named by the test's place in the order (which never
        // changes), not by its code: the code of a test the price list does
        // not name must not reach the billing tables.
        for (i, t) in lab_store::tests_of(conn, keyring, &o)?.iter().enumerate() {
            let id = format!("{}/{}", o.id, i + 1);
            if billed(SourceKind::LabTest, &id) {
                continue;
            }
            let item = prices.lab_test(&t.code);
            out.push(Charge {
                kind: SourceKind::LabTest,
                source_id: id,
                service_at: at,
                item_code: item.item_code,
                description: item.description,
                quantity: 1,
                unit_price: item.unit_price,
            });
        }
    }

    let dispenses: Vec<(String, i64, NaiveDateTime)> = prescription_dispenses::table
        .inner_join(prescriptions::table)
        .filter(prescription_dispenses::tenant_id.eq(tenant))
        .filter(prescriptions::tenant_id.eq(tenant))
        .filter(prescriptions::patient_id.eq(patient))
        .filter(prescription_dispenses::created_at.ge(start))
        .filter(prescription_dispenses::created_at.lt(end))
        .select((
            prescription_dispenses::id,
            prescription_dispenses::quantity,
            prescription_dispenses::created_at,
        ))
        .load(conn)?;
    for (id, units, at) in dispenses {
        if billed(SourceKind::Dispense, &id) || units <= 0 {
            continue;
        }
        let (item, quantity) = prices.dispense(units);
        out.push(Charge {
            kind: SourceKind::Dispense,
            source_id: id,
            service_at: at,
            item_code: item.item_code,
            description: item.description,
            quantity,
            unit_price: item.unit_price,
        });
    }
    // An admission is billed once, when it is discharged: its bed days are
    // the calendar days from admission to discharge (the day of admission
    // counts, the day of discharge does not), at least one.
    let stays: Vec<(String, NaiveDateTime, Option<NaiveDateTime>)> = admissions::table
        .filter(admissions::tenant_id.eq(tenant))
        .filter(admissions::patient_id.eq(patient))
        .filter(admissions::discharged_at.ge(start))
        .filter(admissions::discharged_at.lt(end))
        .select((
            admissions::id,
            admissions::admitted_at,
            admissions::discharged_at,
        ))
        .load(conn)?;
    for (id, admitted, discharged) in stays {
        let Some(discharged) = discharged else {
            continue;
        };
        if billed(SourceKind::Admission, &id) {
            continue;
        }
        let days = (discharged.date() - admitted.date()).num_days().max(1);
        let item = prices.bed_day();
        out.push(Charge {
            kind: SourceKind::Admission,
            source_id: id,
            service_at: discharged,
            item_code: item.item_code,
            description: item.description,
            quantity: days,
            unit_price: item.unit_price,
        });
    }
    out.sort_by(|a, b| {
        (a.service_at, a.kind.as_str(), &a.source_id).cmp(&(
            b.service_at,
            b.kind.as_str(),
            &b.source_id,
        ))
    });
    Ok(out)
}

/// Insert an invoice and its lines (a line whose event is already on a
/// live line fails the unique index: a conflict).
pub fn insert(conn: &mut DbConn, invoice: &Invoice, lines: &[Line]) -> ApiResult<()> {
    diesel::insert_into(invoices::table)
        .values(invoice)
        .execute(conn)?;
    for line in lines {
        diesel::insert_into(invoice_lines::table)
            .values(line)
            .execute(conn)
            .map_err(|e| match ApiError::from(e) {
                ApiError::Conflict(_) => ApiError::Conflict(
                    "an event of this period was billed meanwhile; try again".into(),
                ),
                other => other,
            })?;
    }
    Ok(())
}

/// The invoice `id` among those `visible`.
pub fn find_visible(conn: &mut DbConn, visible: Visible, id: &str) -> ApiResult<Option<Invoice>> {
    Ok(visible
        .filter(invoices::id.eq(id.to_string()))
        .select(Invoice::as_select())
        .first(conn)
        .optional()?)
}

/// Record a payment on a live invoice: false if it is void or the payment
/// would exceed its balance (the database refuses that too).
pub fn pay(conn: &mut DbConn, inv: &Invoice, p: &Payment) -> ApiResult<bool> {
    let paid = inv.paid + p.amount;
    let status = InvoiceStatus::of(inv.total, paid);
    let changed = diesel::update(
        invoices::table
            .filter(invoices::tenant_id.eq(&inv.tenant_id))
            .filter(invoices::id.eq(&inv.id))
            .filter(invoices::paid.eq(inv.paid))
            .filter(invoices::status.ne(InvoiceStatus::Void.as_str())),
    )
    .set((
        invoices::paid.eq(paid),
        invoices::status.eq(status.as_str()),
        invoices::updated_at.eq(now()),
    ))
    .execute(conn)?;
    if changed != 1 {
        return Ok(false);
    }
    diesel::insert_into(invoice_payments::table)
        .values(p)
        .execute(conn)?;
    Ok(true)
}

/// Void an invoice without payments and release its events: false if it
/// has a payment or is void already.
pub fn void(conn: &mut DbConn, inv: &Invoice, reason: &str, by: &str) -> ApiResult<bool> {
    let t = now();
    let changed = diesel::update(
        invoices::table
            .filter(invoices::tenant_id.eq(&inv.tenant_id))
            .filter(invoices::id.eq(&inv.id))
            .filter(invoices::paid.eq(0))
            .filter(invoices::status.eq(InvoiceStatus::Issued.as_str())),
    )
    .set((
        invoices::status.eq(InvoiceStatus::Void.as_str()),
        invoices::void_reason.eq(reason),
        invoices::voided_by.eq(by),
        invoices::voided_at.eq(t),
        invoices::updated_at.eq(t),
    ))
    .execute(conn)?;
    if changed != 1 {
        return Ok(false);
    }
    diesel::update(
        invoice_lines::table
            .filter(invoice_lines::tenant_id.eq(&inv.tenant_id))
            .filter(invoice_lines::invoice_id.eq(&inv.id)),
    )
    .set(invoice_lines::live.eq(false))
    .execute(conn)?;
    Ok(true)
}

/// How many payments an invoice has.
pub fn payment_count(conn: &mut DbConn, inv: &Invoice) -> ApiResult<i64> {
    Ok(invoice_payments::table
        .filter(invoice_payments::tenant_id.eq(&inv.tenant_id))
        .filter(invoice_payments::invoice_id.eq(&inv.id))
        .count()
        .get_result(conn)?)
}

/// A list's filters.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// One patient.
    pub patient_id: Option<String>,
    /// One status.
    pub status: Option<InvoiceStatus>,
}

fn filtered(visible: Visible, f: &ListFilter) -> Visible {
    let mut q = visible;
    if let Some(v) = &f.patient_id {
        q = q.filter(invoices::patient_id.eq(v.clone()));
    }
    if let Some(v) = f.status {
        q = q.filter(invoices::status.eq(v.as_str().to_string()));
    }
    q
}

/// A page of invoices, newest first, and their total.
pub fn list(
    conn: &mut DbConn,
    visible: impl Fn() -> ApiResult<Visible>,
    f: &ListFilter,
    page: &Page,
) -> ApiResult<(Vec<Invoice>, i64)> {
    let total = filtered(visible()?, f).count().get_result(conn)?;
    let rows = filtered(visible()?, f)
        .order((invoices::created_at.desc(), invoices::id.desc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Invoice::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// The patient's name, opened from their record (the only field of it an
/// invoice shows).
pub fn patient_name(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    patient: &str,
) -> ApiResult<String> {
    let (first, last, version): (String, String, i64) = patients::table
        .filter(patients::tenant_id.eq(tenant))
        .filter(patients::id.eq(patient))
        .select((
            patients::first_name_enc,
            patients::last_name_enc,
            patients::version,
        ))
        .first(conn)?;
    let s = Sealer::new(keyring, tenant, patient, version);
    let first = s.open(conn, "first_name", &first)?;
    let last = s.open(conn, "last_name", &last)?;
    Ok(format!("{first} {last}"))
}

fn parse<T: std::str::FromStr>(v: &str, what: &str) -> ApiResult<T> {
    v.parse()
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown {what}")))
}

/// An invoice with its lines, payments and the patient's name.
pub fn to_view(conn: &mut DbConn, keyring: &Keyring, inv: &Invoice) -> ApiResult<InvoiceView> {
    let lines: Vec<Line> = invoice_lines::table
        .filter(invoice_lines::tenant_id.eq(&inv.tenant_id))
        .filter(invoice_lines::invoice_id.eq(&inv.id))
        .order(invoice_lines::position.asc())
        .select(Line::as_select())
        .load(conn)?;
    let payments: Vec<Payment> = invoice_payments::table
        .filter(invoice_payments::tenant_id.eq(&inv.tenant_id))
        .filter(invoice_payments::invoice_id.eq(&inv.id))
        .order((
            invoice_payments::recorded_at.asc(),
            invoice_payments::id.asc(),
        ))
        .select(Payment::as_select())
        .load(conn)?;
    let status = inv.status()?;
    let lines = lines
        .into_iter()
        .map(|l| -> ApiResult<InvoiceLineView> {
            Ok(InvoiceLineView {
                source_kind: parse(&l.source_kind, "source kind")?,
                item_code: l.item_code,
                description: l.description,
                source_id: l.source_id,
                service_at: utc(l.service_at),
                quantity: l.quantity,
                unit_price: l.unit_price,
                amount: l.amount,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let payments = payments
        .into_iter()
        .map(|p| -> ApiResult<InvoicePaymentView> {
            Ok(InvoicePaymentView {
                method: parse::<PaymentMethod>(&p.method, "payment method")?,
                id: p.id,
                amount: p.amount,
                reference: p.reference,
                recorded_by: p.recorded_by,
                recorded_at: utc(p.recorded_at),
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(InvoiceView {
        id: inv.id.clone(),
        patient_id: inv.patient_id.clone(),
        patient_name: patient_name(conn, keyring, &inv.tenant_id, &inv.patient_id)?,
        period_from: inv.period_from.clone(),
        period_to: inv.period_to.clone(),
        currency: inv.currency.clone(),
        status,
        total: inv.total,
        paid: inv.paid,
        balance: if status == InvoiceStatus::Void {
            0
        } else {
            inv.total - inv.paid
        },
        lines,
        payments,
        void_reason: inv.void_reason.clone(),
        voided_by: inv.voided_by.clone(),
        voided_at: inv.voided_at.map(utc),
        created_by: inv.created_by.clone(),
        created_at: utc(inv.created_at),
    })
}
