//! Queries on `lab_orders` and `lab_result_amendments`. The tests, notes,
//! results and an amendment's reason and results are sealed with the
//! tenant's data key, bound to tenant, table, column and row.

use chrono::NaiveDateTime;
use common::crypto::{Aad, Keyring};
use common::db::{now, DbConn, Page};
use common::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::de::DeserializeOwned;

use super::model::{
    LabAmendmentView, LabOrderKind, LabOrderStatus, LabOrderView, LabPriority, LabResult, LabTest,
};
use super::scope::Visible;
use crate::appointments::model::utc;
use crate::schema::{lab_orders, lab_result_amendments};

/// A lab order as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = lab_orders)]
pub struct LabOrder {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The patient.
    pub patient_id: String,
    /// The ordering doctor.
    pub ordered_by: String,
    /// `LabPriority`, stored by name.
    pub priority: String,
    /// `LabOrderStatus`, stored by name.
    pub status: String,
    /// How many tests.
    pub test_count: i64,
    /// How many of them have a result.
    pub resulted_count: i64,
    /// Sealed JSON of the `LabTest`s.
    pub tests_enc: String,
    /// Sealed notes.
    pub notes_enc: Option<String>,
    /// Sealed JSON of the `LabResult`s entered.
    pub results_enc: Option<String>,
    /// Who finalized.
    pub finalized_by: Option<String>,
    /// When.
    pub finalized_at: Option<NaiveDateTime>,
    /// Ordered at.
    pub created_at: NaiveDateTime,
    /// Last changed by.
    pub updated_by: String,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// `LabOrderKind`, stored by name.
    pub kind: String,
}

impl LabOrder {
    /// The stored kind.
    pub fn kind(&self) -> ApiResult<LabOrderKind> {
        self.kind
            .parse()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown lab order kind")))
    }

    /// The stored status.
    pub fn status(&self) -> ApiResult<LabOrderStatus> {
        self.status
            .parse()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown lab order status")))
    }

    /// The stored priority.
    pub fn priority(&self) -> ApiResult<LabPriority> {
        self.priority
            .parse()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("unknown lab order priority")))
    }
}

/// The associated data of a sealed column of row `id` of `table`
/// (`lab_orders` or `lab_result_amendments`).
pub fn aad(tenant: &str, table: &str, column: &str, id: &str) -> Aad {
    Aad::new(tenant, table, column, id)
}

/// Seal `value` into `column` of row `id` of `table`.
pub fn seal(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    table: &str,
    column: &str,
    id: &str,
    value: &str,
) -> ApiResult<String> {
    keyring.encrypt(conn, tenant, value, &aad(tenant, table, column, id))
}

/// Seal `value` as JSON into `column` of row `id` of `table`.
pub fn seal_json<T: serde::Serialize>(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    table: &str,
    column: &str,
    id: &str,
    value: &T,
) -> ApiResult<String> {
    let json = serde_json::to_string(value).map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    seal(conn, keyring, tenant, table, column, id, &json)
}

fn open_json<T: DeserializeOwned>(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    table: &str,
    column: &str,
    id: &str,
    stored: &str,
) -> ApiResult<T> {
    let json = keyring.decrypt(conn, tenant, stored, &aad(tenant, table, column, id))?;
    serde_json::from_str(&json)
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("sealed lab {column} is not JSON")))
}

/// The tests of order `o`.
pub fn tests_of(conn: &mut DbConn, keyring: &Keyring, o: &LabOrder) -> ApiResult<Vec<LabTest>> {
    open_json(
        conn,
        keyring,
        &o.tenant_id,
        "lab_orders",
        "tests",
        &o.id,
        &o.tests_enc,
    )
}

/// The results entered on order `o` (none yet: empty).
pub fn results_of(conn: &mut DbConn, keyring: &Keyring, o: &LabOrder) -> ApiResult<Vec<LabResult>> {
    match &o.results_enc {
        Some(s) => open_json(
            conn,
            keyring,
            &o.tenant_id,
            "lab_orders",
            "results",
            &o.id,
            s,
        ),
        None => Ok(Vec::new()),
    }
}

/// Insert a new order.
pub fn insert(conn: &mut DbConn, o: &LabOrder) -> ApiResult<()> {
    diesel::insert_into(lab_orders::table)
        .values(o)
        .execute(conn)?;
    Ok(())
}

/// The order `id` among those `visible`.
pub fn find_visible(conn: &mut DbConn, visible: Visible, id: &str) -> ApiResult<Option<LabOrder>> {
    Ok(visible
        .filter(lab_orders::id.eq(id.to_string()))
        .select(LabOrder::as_select())
        .first(conn)
        .optional()?)
}

/// Store the results entered on an open order `o`: false if it closed
/// meanwhile (writes are serialized under the audit head's lock, so the
/// results read with `o` are the latest).
pub fn set_results(
    conn: &mut DbConn,
    o: &LabOrder,
    results_enc: &str,
    resulted: i64,
    by: &str,
) -> ApiResult<bool> {
    let open = [
        LabOrderStatus::Ordered.as_str(),
        LabOrderStatus::InProgress.as_str(),
    ];
    let changed = diesel::update(
        lab_orders::table
            .filter(lab_orders::tenant_id.eq(&o.tenant_id))
            .filter(lab_orders::id.eq(&o.id))
            .filter(lab_orders::status.eq_any(open)),
    )
    .set((
        lab_orders::status.eq(LabOrderStatus::InProgress.as_str()),
        lab_orders::results_enc.eq(results_enc),
        lab_orders::resulted_count.eq(resulted),
        lab_orders::updated_by.eq(by),
        lab_orders::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Finalize an in-progress order whose every test has a result: false if it
/// is not (or no longer) so.
pub fn finalize(conn: &mut DbConn, o: &LabOrder, by: &str) -> ApiResult<bool> {
    let t = now();
    let changed = diesel::update(
        lab_orders::table
            .filter(lab_orders::tenant_id.eq(&o.tenant_id))
            .filter(lab_orders::id.eq(&o.id))
            .filter(lab_orders::status.eq(LabOrderStatus::InProgress.as_str()))
            .filter(lab_orders::resulted_count.eq(lab_orders::test_count)),
    )
    .set((
        lab_orders::status.eq(LabOrderStatus::Finalized.as_str()),
        lab_orders::finalized_by.eq(by),
        lab_orders::finalized_at.eq(t),
        lab_orders::updated_by.eq(by),
        lab_orders::updated_at.eq(t),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Cancel an order that has no result yet: false if it has one or is closed.
pub fn cancel(conn: &mut DbConn, o: &LabOrder, by: &str) -> ApiResult<bool> {
    let changed = diesel::update(
        lab_orders::table
            .filter(lab_orders::tenant_id.eq(&o.tenant_id))
            .filter(lab_orders::id.eq(&o.id))
            .filter(lab_orders::status.eq(LabOrderStatus::Ordered.as_str()))
            .filter(lab_orders::resulted_count.eq(0)),
    )
    .set((
        lab_orders::status.eq(LabOrderStatus::Cancelled.as_str()),
        lab_orders::updated_by.eq(by),
        lab_orders::updated_at.eq(now()),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// An amendment as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = lab_result_amendments)]
pub struct Amendment {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// The order amended.
    pub order_id: String,
    /// Who amended.
    pub amended_by: String,
    /// Sealed reason.
    pub reason_enc: String,
    /// Sealed JSON of the whole corrected results.
    pub results_enc: String,
    /// When.
    pub created_at: NaiveDateTime,
}

/// Record an amendment.
pub fn insert_amendment(conn: &mut DbConn, a: &Amendment) -> ApiResult<()> {
    diesel::insert_into(lab_result_amendments::table)
        .values(a)
        .execute(conn)?;
    Ok(())
}

/// The amendments of order `o`, oldest first.
pub fn amendments_of(conn: &mut DbConn, o: &LabOrder) -> ApiResult<Vec<Amendment>> {
    Ok(lab_result_amendments::table
        .filter(lab_result_amendments::tenant_id.eq(&o.tenant_id))
        .filter(lab_result_amendments::order_id.eq(&o.id))
        .order((
            lab_result_amendments::created_at.asc(),
            lab_result_amendments::id.asc(),
        ))
        .select(Amendment::as_select())
        .load(conn)?)
}

/// A list's filters.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// One patient.
    pub patient_id: Option<String>,
    /// One status.
    pub status: Option<LabOrderStatus>,
    /// Only ordered or in progress (the lab's worklist).
    pub open: bool,
    /// Only lab or only imaging orders.
    pub kind: Option<LabOrderKind>,
}

fn filtered(visible: Visible, f: &ListFilter) -> Visible {
    let mut q = visible;
    if let Some(v) = &f.patient_id {
        q = q.filter(lab_orders::patient_id.eq(v.clone()));
    }
    if let Some(v) = f.status {
        q = q.filter(lab_orders::status.eq(v.as_str().to_string()));
    }
    if let Some(k) = f.kind {
        q = q.filter(lab_orders::kind.eq(k.as_str().to_string()));
    }
    if f.open {
        q = q.filter(lab_orders::status.eq_any(vec![
            LabOrderStatus::Ordered.as_str().to_string(),
            LabOrderStatus::InProgress.as_str().to_string(),
        ]));
    }
    q
}

/// A page of orders, oldest first (a worklist), and their total.
pub fn list(
    conn: &mut DbConn,
    visible: impl Fn() -> ApiResult<Visible>,
    f: &ListFilter,
    page: &Page,
) -> ApiResult<(Vec<LabOrder>, i64)> {
    let total = filtered(visible()?, f).count().get_result(conn)?;
    let rows = filtered(visible()?, f)
        .order((lab_orders::created_at.asc(), lab_orders::id.asc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(LabOrder::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Decrypt an order with its amendments.
pub fn to_view(conn: &mut DbConn, keyring: &Keyring, o: &LabOrder) -> ApiResult<LabOrderView> {
    let tenant = &o.tenant_id;
    let tests = tests_of(conn, keyring, o)?;
    let notes = match &o.notes_enc {
        Some(s) => {
            Some(keyring.decrypt(conn, tenant, s, &aad(tenant, "lab_orders", "notes", &o.id))?)
        }
        None => None,
    };
    let original = results_of(conn, keyring, o)?;
    let mut amendments = Vec::new();
    for a in amendments_of(conn, o)? {
        let table = "lab_result_amendments";
        let reason = keyring.decrypt(
            conn,
            tenant,
            &a.reason_enc,
            &aad(tenant, table, "reason", &a.id),
        )?;
        let results: Vec<LabResult> = open_json(
            conn,
            keyring,
            tenant,
            table,
            "results",
            &a.id,
            &a.results_enc,
        )?;
        amendments.push(LabAmendmentView {
            id: a.id,
            amended_by: a.amended_by,
            reason,
            results,
            created_at: utc(a.created_at),
        });
    }
    let results = amendments
        .last()
        .map(|a| a.results.clone())
        .unwrap_or_else(|| original.clone());
    Ok(LabOrderView {
        id: o.id.clone(),
        patient_id: o.patient_id.clone(),
        ordered_by: o.ordered_by.clone(),
        kind: o.kind()?,
        priority: o.priority()?,
        status: o.status()?,
        tests,
        notes,
        results,
        original_results: original,
        amendments,
        finalized_by: o.finalized_by.clone(),
        finalized_at: o.finalized_at.map(utc),
        created_at: utc(o.created_at),
        updated_at: utc(o.updated_at),
    })
}
