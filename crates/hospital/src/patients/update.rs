//! Changing a patient: one UPDATE from one changeset. The row moves to the
//! next version and every sealed field is sealed under it: the changed
//! ones from their new value, the others from their current plaintext, so
//! no ciphertext of an earlier version opens any more (see [`super::sealed`]).

use chrono::NaiveDateTime;
use common::crypto::{normalize_date, normalize_name, Keyring};
use common::db::{now, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::Serialize;

use super::model::PatientChanges;
use super::sealed::Sealer;
use super::store::{self, purpose, Row};
use crate::schema::patients;

/// Every column a change writes. Sealed columns are always set (the new
/// version needs them all); indexes and `sex` only when their field changes.
#[derive(AsChangeset)]
#[diesel(table_name = patients)]
struct Changeset {
    mrn_enc: String,
    first_name_enc: String,
    first_name_idx: Option<String>,
    last_name_enc: String,
    last_name_idx: Option<String>,
    dob_enc: String,
    dob_idx: Option<String>,
    sex: Option<String>,
    contact_enc: String,
    address_enc: String,
    emergency_contact_enc: String,
    insurance_enc: String,
    allergies_enc: String,
    blood_type_enc: String,
    version: i64,
    updated_at: NaiveDateTime,
    updated_by: String,
}

/// Apply validated changes to `row` (read in this transaction) and return
/// the row as stored. A row changed since it was read is a conflict.
pub fn apply(
    conn: &mut DbConn,
    keyring: &Keyring,
    row: &Row,
    by: &str,
    c: &PatientChanges,
) -> ApiResult<Row> {
    let old = Sealer::new(keyring, &row.tenant_id, &row.id, row.version);
    let next = old.at_version(row.version + 1);
    let dob = c.date_of_birth.as_deref().map(normalize_date).transpose()?;
    let first = c.first_name.as_deref().map(str::trim);
    let last = c.last_name.as_deref().map(str::trim);
    let set = Changeset {
        mrn_enc: old.reseal(conn, &next, "mrn", &row.mrn_enc)?,
        first_name_enc: text(conn, &old, &next, "first_name", first, &row.first_name_enc)?,
        first_name_idx: index(conn, &next, purpose::FIRST, first.map(normalize_name))?,
        last_name_enc: text(conn, &old, &next, "last_name", last, &row.last_name_enc)?,
        last_name_idx: index(conn, &next, purpose::LAST, last.map(normalize_name))?,
        dob_enc: text(
            conn,
            &old,
            &next,
            "date_of_birth",
            dob.as_deref(),
            &row.dob_enc,
        )?,
        dob_idx: index(conn, &next, purpose::DOB, dob.clone())?,
        sex: c.sex.map(|s| s.as_str().to_string()),
        contact_enc: json(conn, &old, &next, "contact", &c.contact, &row.contact_enc)?,
        address_enc: json(conn, &old, &next, "address", &c.address, &row.address_enc)?,
        emergency_contact_enc: json(
            conn,
            &old,
            &next,
            "emergency_contact",
            &c.emergency_contact,
            &row.emergency_contact_enc,
        )?,
        insurance_enc: json(
            conn,
            &old,
            &next,
            "insurance",
            &c.insurance,
            &row.insurance_enc,
        )?,
        allergies_enc: json(
            conn,
            &old,
            &next,
            "allergies",
            &c.allergies,
            &row.allergies_enc,
        )?,
        blood_type_enc: json(
            conn,
            &old,
            &next,
            "blood_type",
            &c.blood_type,
            &row.blood_type_enc,
        )?,
        version: row.version + 1,
        updated_at: now(),
        updated_by: by.to_string(),
    };
    // The version in the filter makes a concurrent change (which would
    // have re-sealed the fields under the same next version) a conflict
    // instead of a lost update.
    let changed = diesel::update(
        patients::table
            .filter(patients::id.eq(&row.id))
            .filter(patients::tenant_id.eq(&row.tenant_id))
            .filter(patients::version.eq(row.version)),
    )
    .set(&set)
    .execute(conn)?;
    if changed == 0 {
        return Err(ApiError::Conflict(
            "the record changed meanwhile; try again".into(),
        ));
    }
    // (RETURNING with a select-by does not build on the two-backend
    // connection, hence the read back.)
    store::by_id(conn, &row.tenant_id, &row.id)
}

/// A required text field: its new value, or its current one sealed again.
fn text(
    conn: &mut DbConn,
    old: &Sealer<'_>,
    next: &Sealer<'_>,
    column: &str,
    new: Option<&str>,
    stored: &str,
) -> ApiResult<String> {
    match new {
        Some(v) => next.seal(conn, column, v),
        None => old.reseal(conn, next, column, stored),
    }
}

/// An optional JSON field: absent keeps it, `null` clears it, a value sets it.
fn json<T: Serialize>(
    conn: &mut DbConn,
    old: &Sealer<'_>,
    next: &Sealer<'_>,
    column: &str,
    change: &Option<Option<T>>,
    stored: &Option<String>,
) -> ApiResult<String> {
    match change {
        Some(value) => next.seal_json(conn, column, value.as_ref()),
        None => old.reseal_opt(conn, next, column, stored.as_deref()),
    }
}

/// The new blind index of a changed, normalized value.
fn index(
    conn: &mut DbConn,
    s: &Sealer<'_>,
    purpose: &str,
    normalized: Option<String>,
) -> ApiResult<Option<String>> {
    normalized.map(|v| s.index(conn, purpose, &v)).transpose()
}
