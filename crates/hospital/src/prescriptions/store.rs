//! Queries on `prescriptions` and `prescription_dispenses`. What is
//! prescribed and a rejection's reason are sealed with the tenant's data
//! key, bound to tenant, table, column and row.

use chrono::NaiveDateTime;
use common::crypto::{Aad, Keyring};
use common::db::{now, DbConn, Page};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use super::model::{Details, DispenseView, PrescriptionStatus, PrescriptionView};
use super::scope::Visible;
use crate::appointments::model::utc;
use crate::schema::{prescription_dispenses, prescriptions};

/// A prescription as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = prescriptions)]
pub struct Prescription {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The patient.
    pub patient_id: String,
    /// The prescribing doctor.
    pub prescriber_id: String,
    /// Sealed JSON of the `Details`.
    pub details_enc: String,
    /// Units per fill.
    pub quantity: i64,
    /// Refills.
    pub refills: i64,
    /// quantity × (1 + refills).
    pub total_quantity: i64,
    /// Dispensed so far.
    pub dispensed_quantity: i64,
    /// `PrescriptionStatus`, stored by name.
    pub status: String,
    /// An allergy warning was acknowledged.
    pub allergy_acknowledged: bool,
    /// Sealed rejection reason.
    pub reject_reason_enc: Option<String>,
    /// Prescribed at.
    pub created_at: NaiveDateTime,
    /// Last changed by.
    pub updated_by: String,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl Prescription {
    /// The stored status.
    pub fn status(&self) -> ApiResult<PrescriptionStatus> {
        self.status
            .parse()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown prescription status")))
    }
}

/// The associated data of a sealed column of prescription `id`.
pub fn aad(tenant: &str, column: &str, id: &str) -> Aad {
    Aad::new(tenant, "prescriptions", column, id)
}

/// Seal `value` into `column` of prescription `id`.
pub fn seal(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    column: &str,
    id: &str,
    value: &str,
) -> ApiResult<String> {
    keyring.encrypt(conn, tenant, value, &aad(tenant, column, id))
}

/// Insert a new prescription.
pub fn insert(conn: &mut DbConn, p: &Prescription) -> ApiResult<()> {
    diesel::insert_into(prescriptions::table)
        .values(p)
        .execute(conn)?;
    Ok(())
}

/// The prescription `id` among those `visible`.
pub fn find_visible(
    conn: &mut DbConn,
    visible: Visible,
    id: &str,
) -> ApiResult<Option<Prescription>> {
    Ok(visible
        .filter(prescriptions::id.eq(id.to_string()))
        .select(Prescription::as_select())
        .first(conn)
        .optional()?)
}

/// Take `n` units off prescription `id` in one conditional update: only
/// while it is open and `n` fits in what remains. False if it does not (the
/// CHECK on `dispensed_quantity` backs this in the database). Concurrent
/// dispenses each re-evaluate the condition on the row they update, so
/// together they never exceed the total.
pub fn take(conn: &mut DbConn, tenant: &str, id: &str, n: i64, by: &str) -> ApiResult<bool> {
    let open = [
        PrescriptionStatus::Pending.as_str(),
        PrescriptionStatus::PartiallyDispensed.as_str(),
    ];
    let changed = diesel::update(
        prescriptions::table
            .filter(prescriptions::tenant_id.eq(tenant))
            .filter(prescriptions::id.eq(id))
            .filter(prescriptions::status.eq_any(open))
            .filter((prescriptions::dispensed_quantity + n).le(prescriptions::total_quantity)),
    )
    .set((
        prescriptions::dispensed_quantity.eq(prescriptions::dispensed_quantity + n),
        prescriptions::updated_by.eq(by),
        prescriptions::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Set the status that follows the quantities of `id` (after a dispense).
pub fn settle(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<Prescription> {
    let p: Prescription = prescriptions::table
        .filter(prescriptions::tenant_id.eq(tenant))
        .filter(prescriptions::id.eq(id))
        .select(Prescription::as_select())
        .first(conn)?;
    let status = if p.dispensed_quantity >= p.total_quantity {
        PrescriptionStatus::Dispensed
    } else {
        PrescriptionStatus::PartiallyDispensed
    };
    diesel::update(
        prescriptions::table
            .filter(prescriptions::tenant_id.eq(tenant))
            .filter(prescriptions::id.eq(id)),
    )
    .set(prescriptions::status.eq(status.as_str()))
    .execute(conn)?;
    Ok(Prescription {
        status: status.as_str().to_string(),
        ..p
    })
}

/// Record a dispense.
pub fn insert_dispense(
    conn: &mut DbConn,
    tenant: &str,
    prescription: &str,
    pharmacist: &str,
    n: i64,
) -> ApiResult<String> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(prescription_dispenses::table)
        .values((
            prescription_dispenses::id.eq(&id),
            prescription_dispenses::tenant_id.eq(tenant),
            prescription_dispenses::prescription_id.eq(prescription),
            prescription_dispenses::pharmacist_id.eq(pharmacist),
            prescription_dispenses::quantity.eq(n),
            prescription_dispenses::created_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Reject an open prescription; false if it is no longer open.
pub fn reject(conn: &mut DbConn, p: &Prescription, reason_enc: &str, by: &str) -> ApiResult<bool> {
    let open = [
        PrescriptionStatus::Pending.as_str(),
        PrescriptionStatus::PartiallyDispensed.as_str(),
    ];
    let changed = diesel::update(
        prescriptions::table
            .filter(prescriptions::tenant_id.eq(&p.tenant_id))
            .filter(prescriptions::id.eq(&p.id))
            .filter(prescriptions::status.eq_any(open)),
    )
    .set((
        prescriptions::status.eq(PrescriptionStatus::Rejected.as_str()),
        prescriptions::reject_reason_enc.eq(reason_enc),
        prescriptions::updated_by.eq(by),
        prescriptions::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// A list's filters.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// One patient.
    pub patient_id: Option<String>,
    /// One status.
    pub status: Option<PrescriptionStatus>,
    /// Only pending or partially dispensed (the pharmacy's queue).
    pub open: bool,
}

fn filtered(visible: Visible, f: &ListFilter) -> Visible {
    let mut q = visible;
    if let Some(v) = &f.patient_id {
        q = q.filter(prescriptions::patient_id.eq(v.clone()));
    }
    if let Some(v) = f.status {
        q = q.filter(prescriptions::status.eq(v.as_str().to_string()));
    }
    if f.open {
        q = q.filter(prescriptions::status.eq_any(vec![
            PrescriptionStatus::Pending.as_str().to_string(),
            PrescriptionStatus::PartiallyDispensed.as_str().to_string(),
        ]));
    }
    q
}

/// A page of prescriptions, oldest first (a queue), and their total.
pub fn list(
    conn: &mut DbConn,
    visible: impl Fn() -> ApiResult<Visible>,
    f: &ListFilter,
    page: &Page,
) -> ApiResult<(Vec<Prescription>, i64)> {
    let total = filtered(visible()?, f).count().get_result(conn)?;
    let rows = filtered(visible()?, f)
        .order((prescriptions::created_at.asc(), prescriptions::id.asc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Prescription::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Decrypt a prescription and list its dispenses.
pub fn to_view(
    conn: &mut DbConn,
    keyring: &Keyring,
    p: &Prescription,
) -> ApiResult<PrescriptionView> {
    let tenant = &p.tenant_id;
    let json = keyring.decrypt(conn, tenant, &p.details_enc, &aad(tenant, "details", &p.id))?;
    let d: Details = serde_json::from_str(&json)
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("sealed prescription is not JSON")))?;
    let reject_reason = match &p.reject_reason_enc {
        Some(s) => Some(keyring.decrypt(conn, tenant, s, &aad(tenant, "reject_reason", &p.id))?),
        None => None,
    };
    let rows: Vec<(String, String, i64, NaiveDateTime)> = prescription_dispenses::table
        .filter(prescription_dispenses::tenant_id.eq(tenant))
        .filter(prescription_dispenses::prescription_id.eq(&p.id))
        .order((
            prescription_dispenses::created_at.asc(),
            prescription_dispenses::id.asc(),
        ))
        .select((
            prescription_dispenses::id,
            prescription_dispenses::pharmacist_id,
            prescription_dispenses::quantity,
            prescription_dispenses::created_at,
        ))
        .load(conn)?;
    let status = p.status()?;
    Ok(PrescriptionView {
        id: p.id.clone(),
        patient_id: p.patient_id.clone(),
        prescriber_id: p.prescriber_id.clone(),
        medication: d.medication,
        dose: d.dose,
        route: d.route,
        frequency: d.frequency,
        duration: d.duration,
        notes: d.notes,
        quantity: p.quantity,
        refills: p.refills,
        total_quantity: p.total_quantity,
        dispensed_quantity: p.dispensed_quantity,
        remaining_quantity: if status == PrescriptionStatus::Rejected {
            0
        } else {
            p.total_quantity - p.dispensed_quantity
        },
        status,
        allergy_acknowledged: p.allergy_acknowledged,
        reject_reason,
        dispenses: rows
            .into_iter()
            .map(|(id, pharmacist_id, quantity, at)| DispenseView {
                id,
                pharmacist_id,
                quantity,
                created_at: utc(at),
            })
            .collect(),
        created_at: utc(p.created_at),
        updated_at: utc(p.updated_at),
    })
}
