//! Changing a patient: one UPDATE from one changeset. The row moves to the
//! next version and every sealed field is sealed under it: the changed
//! ones from their new value, the others from their current plaintext, so
//! no ciphertext of an earlier version opens any more (see [`super::sealed`]).

use chrono::NaiveDateTime;
use common::crypto::{normalize_date, Keyring};
use common::db::{now, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;
use serde::Serialize;

use super::model::PatientChanges;
use super::sealed::Sealer;
use super::store::{self, Row};
use crate::schema::patients;

/// Every sealed column, every blind index and both versions: what any
/// change of a patient row writes (an update, or a re-seal after a key
/// rotation), since the new row version needs every field sealed under it
/// and a row's indexes are all of one index version.
#[derive(AsChangeset)]
#[diesel(table_name = patients)]
pub(crate) struct SealedColumns {
    pub(crate) mrn_enc: String,
    pub(crate) mrn_idx: String,
    pub(crate) first_name_enc: String,
    pub(crate) first_name_idx: String,
    pub(crate) last_name_enc: String,
    pub(crate) last_name_idx: String,
    pub(crate) dob_enc: String,
    pub(crate) dob_idx: String,
    pub(crate) index_version: i32,
    pub(crate) contact_enc: String,
    pub(crate) address_enc: String,
    pub(crate) emergency_contact_enc: String,
    pub(crate) insurance_enc: String,
    pub(crate) allergies_enc: String,
    pub(crate) blood_type_enc: String,
    pub(crate) version: i64,
}

/// What an update writes besides the sealed columns; `sex` only when it
/// changes.
#[derive(AsChangeset)]
#[diesel(table_name = patients)]
struct Changed {
    sex: Option<String>,
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
    // Every index again from the plaintext, so a row indexed under an older
    // index key version moves to the current one as a whole.
    let current = |conn: &mut DbConn, column: &str, new: Option<&str>, stored: &str| match new {
        Some(v) => Ok(v.to_string()),
        None => old.open(conn, column, stored),
    };
    let mrn_plain = old.open(conn, "mrn", &row.mrn_enc)?;
    let first_plain = current(conn, "first_name", first, &row.first_name_enc)?;
    let last_plain = current(conn, "last_name", last, &row.last_name_enc)?;
    let dob_plain = current(conn, "date_of_birth", dob.as_deref(), &row.dob_enc)?;
    let ix = next.indexes(conn, &mrn_plain, &first_plain, &last_plain, &dob_plain)?;
    let sealed = SealedColumns {
        mrn_enc: old.reseal(conn, &next, "mrn", &row.mrn_enc)?,
        mrn_idx: ix.mrn,
        first_name_enc: text(conn, &old, &next, "first_name", first, &row.first_name_enc)?,
        first_name_idx: ix.first,
        last_name_enc: text(conn, &old, &next, "last_name", last, &row.last_name_enc)?,
        last_name_idx: ix.last,
        dob_enc: text(
            conn,
            &old,
            &next,
            "date_of_birth",
            dob.as_deref(),
            &row.dob_enc,
        )?,
        dob_idx: ix.dob,
        index_version: ix.version,
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
    };
    let also = Changed {
        sex: c.sex.map(|s| s.as_str().to_string()),
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
    .set((&sealed, &also))
    .execute(conn)?;
    if changed == 0 {
        return Err(ApiError::Conflict(
            "the record changed meanwhile; try again".into(),
        ));
    }
    if c.insurance.is_some() {
        // The insurer's answer was about the insurance replaced.
        store::set_eligibility(
            conn,
            &row.tenant_id,
            &row.id,
            &crate::insurance::Checked::NOT_CHECKED,
        )?;
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
