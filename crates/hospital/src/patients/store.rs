//! Queries on `patients`. Plaintext goes in and comes out only through
//! [`Sealer`]; names, dates of birth and MRNs are found through blind
//! indexes ([`super::search`]); changes are in [`super::update`].

use chrono::NaiveDateTime;
use common::auth::AuthUser;
use common::crypto::{normalize_date, Keyring};
use common::db::stamp::{OptStamp, Stamp};
use common::db::Page;
use common::db::{now, DbConn};
use common::ApiResult;
use diesel::prelude::*;

use super::model::{NewPatient, PatientView, Sex};
use super::scope::{self, View, Visible};
use super::sealed::Sealer;
use super::search::{self, SearchIndexes};
use crate::insurance::{Checked, InsuranceEligibility};
use crate::schema::{mrn_counters, patients};

/// Blind-index purposes.
pub mod purpose {
    /// First name.
    pub const FIRST: &str = "patients.first_name";
    /// Last name.
    pub const LAST: &str = "patients.last_name";
    /// Date of birth.
    pub const DOB: &str = "patients.date_of_birth";
    /// Medical record number.
    pub const MRN: &str = "patients.mrn";
}

/// A stored row (ciphertext).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = patients)]
pub struct Row {
    /// UUID.
    pub id: String,
    /// Tenant.
    pub tenant_id: String,
    /// MRN (encrypted).
    pub mrn_enc: String,
    /// MRN index.
    pub mrn_idx: String,
    /// First name (encrypted).
    pub first_name_enc: String,
    /// First name index.
    pub first_name_idx: String,
    /// Last name (encrypted).
    pub last_name_enc: String,
    /// Last name index.
    pub last_name_idx: String,
    /// Date of birth (encrypted).
    pub dob_enc: String,
    /// Date of birth index.
    pub dob_idx: String,
    /// Sex.
    pub sex: String,
    /// Contact (encrypted JSON).
    pub contact_enc: Option<String>,
    /// Address (encrypted JSON).
    pub address_enc: Option<String>,
    /// Emergency contact (encrypted JSON).
    pub emergency_contact_enc: Option<String>,
    /// Insurance (encrypted JSON).
    pub insurance_enc: Option<String>,
    /// Allergies (encrypted JSON).
    pub allergies_enc: Option<String>,
    /// Blood type (encrypted JSON).
    pub blood_type_enc: Option<String>,
    /// Linked portal user.
    pub portal_user_id: Option<String>,
    /// Created.
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    /// By.
    pub created_by: String,
    /// Changed.
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    /// By.
    pub updated_by: String,
    /// Soft-deleted at.
    #[diesel(deserialize_as = OptStamp)]
    pub deleted_at: Option<NaiveDateTime>,
    /// By.
    pub deleted_by: Option<String>,
    /// Bumped by every change of its fields; bound into every sealed field's AAD.
    pub version: i64,
    /// The index key version of its blind indexes (1: the legacy derivation).
    pub index_version: i32,
    /// `InsuranceEligibility`, stored by name (not sealed: an outcome, no identifier).
    pub insurance_eligibility: String,
    /// When the insurer was last asked.
    #[diesel(deserialize_as = OptStamp)]
    pub insurance_checked_at: Option<NaiveDateTime>,
}

/// The next MRN of a tenant (`MRN-000001`, …). Call inside a write transaction.
fn next_mrn(conn: &mut DbConn, tenant: &str) -> ApiResult<String> {
    let current: Option<i64> = mrn_counters::table
        .filter(mrn_counters::tenant_id.eq(tenant))
        .select(mrn_counters::next_value)
        .first(conn)
        .optional()?;
    let n = match current {
        Some(n) => {
            diesel::update(mrn_counters::table.filter(mrn_counters::tenant_id.eq(tenant)))
                .set(mrn_counters::next_value.eq(n + 1))
                .execute(conn)?;
            n
        }
        None => {
            diesel::insert_into(mrn_counters::table)
                .values((
                    mrn_counters::tenant_id.eq(tenant),
                    mrn_counters::next_value.eq(2_i64),
                ))
                .execute(conn)?;
            1
        }
    };
    Ok(format!("MRN-{n:06}"))
}

/// Register a patient (inside a write transaction) with the insurer's
/// answer, asked before. Returns the new row.
pub fn insert(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    by: &str,
    p: &NewPatient,
    checked: &Checked,
) -> ApiResult<Row> {
    let id = uuid::Uuid::new_v4().to_string();
    let mrn = next_mrn(conn, tenant)?;
    let version = 1;
    let s = Sealer::new(keyring, tenant, &id, version);
    let t = now();
    let dob = normalize_date(&p.date_of_birth)?;
    let ix = s.indexes(conn, &mrn, &p.first_name, &p.last_name, &dob)?;
    let row = Row {
        id: id.clone(),
        tenant_id: tenant.to_string(),
        mrn_enc: s.seal(conn, "mrn", &mrn)?,
        mrn_idx: ix.mrn,
        first_name_enc: s.seal(conn, "first_name", p.first_name.trim())?,
        first_name_idx: ix.first,
        last_name_enc: s.seal(conn, "last_name", p.last_name.trim())?,
        last_name_idx: ix.last,
        dob_enc: s.seal(conn, "date_of_birth", &dob)?,
        dob_idx: ix.dob,
        sex: p.sex.as_str().to_string(),
        contact_enc: Some(s.seal_json(conn, "contact", p.contact.as_ref())?),
        address_enc: Some(s.seal_json(conn, "address", p.address.as_ref())?),
        emergency_contact_enc: Some(s.seal_json(
            conn,
            "emergency_contact",
            p.emergency_contact.as_ref(),
        )?),
        insurance_enc: Some(s.seal_json(conn, "insurance", p.insurance.as_ref())?),
        allergies_enc: Some(s.seal_json(conn, "allergies", p.allergies.as_ref())?),
        blood_type_enc: Some(s.seal_json(conn, "blood_type", p.blood_type.as_ref())?),
        portal_user_id: None,
        created_at: t,
        created_by: by.to_string(),
        updated_at: t,
        updated_by: by.to_string(),
        deleted_at: None,
        deleted_by: None,
        version,
        index_version: ix.version,
        insurance_eligibility: checked.eligibility.as_str().to_string(),
        insurance_checked_at: checked.at,
    };
    diesel::insert_into(patients::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

/// Decrypt a row into what the caller may see.
pub fn to_view(
    conn: &mut DbConn,
    keyring: &Keyring,
    row: &Row,
    view: View,
) -> ApiResult<PatientView> {
    let s = Sealer::new(keyring, &row.tenant_id, &row.id, row.version);
    let full = view == View::Full;
    Ok(PatientView {
        id: row.id.clone(),
        mrn: s.open(conn, "mrn", &row.mrn_enc)?,
        first_name: s.open(conn, "first_name", &row.first_name_enc)?,
        last_name: s.open(conn, "last_name", &row.last_name_enc)?,
        date_of_birth: s.open(conn, "date_of_birth", &row.dob_enc)?,
        sex: Sex::parse(&row.sex),
        contact: s.open_json(conn, "contact", row.contact_enc.as_deref())?,
        address: s.open_json(conn, "address", row.address_enc.as_deref())?,
        emergency_contact: s.open_json(
            conn,
            "emergency_contact",
            row.emergency_contact_enc.as_deref(),
        )?,
        insurance: s.open_json(conn, "insurance", row.insurance_enc.as_deref())?,
        allergies: if full {
            s.open_json(conn, "allergies", row.allergies_enc.as_deref())?
                .or(Some(Vec::new()))
        } else {
            None
        },
        blood_type: if full {
            s.open_json(conn, "blood_type", row.blood_type_enc.as_deref())?
        } else {
            None
        },
        insurance_eligibility: InsuranceEligibility::parse(&row.insurance_eligibility),
        insurance_checked_at: row.insurance_checked_at,
        has_portal_account: row.portal_user_id.is_some(),
        created_at: row.created_at,
        created_by: row.created_by.clone(),
        updated_at: row.updated_at,
        updated_by: row.updated_by.clone(),
        deleted: row.deleted_at.is_some(),
    })
}

/// Patient `id` if the caller may see it (the rule of [`scope::visible`]).
/// Every patient read runs this: unboxed on the backend's own connection,
/// so the prepared statement is found by its type, with no SQL written.
pub fn find_visible(
    conn: &mut DbConn,
    user: &AuthUser,
    tenant: &str,
    include_deleted: bool,
    id: &str,
) -> ApiResult<Option<Row>> {
    common::on_backend!(conn, |c| {
        let found: ApiResult<QueryResult<Option<Row>>> =
            scope::with_visible!(user, tenant, include_deleted, |q| q
                .filter(patients::id.eq(id.to_string()))
                .select(Row::as_select())
                .first(c)
                .optional());
        Ok(found??)
    })
}

/// A patient of `tenant` by id, whoever asks (for a writer re-reading
/// the row it just changed; callers check scope first).
pub fn by_id(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<Row> {
    Ok(patients::table
        .filter(patients::tenant_id.eq(tenant))
        .filter(patients::id.eq(id))
        .select(Row::as_select())
        .first(conn)?)
}

/// What a patient list shows: the caller's scope, deleted rows or not, a search.
pub struct ListFilter<'a> {
    /// The caller (scope).
    pub user: &'a AuthUser,
    /// The caller's tenant.
    pub tenant: &'a str,
    /// Soft-deleted rows too (for `patients.delete` holders).
    pub include_deleted: bool,
    /// Blind-index conditions, if searching.
    pub search: Option<&'a SearchIndexes>,
}

/// The one query behind a patient list, built afresh for the count and
/// for the page (a boxed query is consumed by running it).
fn filtered(f: &ListFilter<'_>) -> ApiResult<Visible> {
    let q = scope::listed(f.user, f.tenant, f.include_deleted)?;
    Ok(match f.search {
        Some(s) => search::apply(q, s),
        None => q,
    })
}

/// A page of the patients `f` selects, newest first, and their total.
pub fn list(conn: &mut DbConn, f: &ListFilter<'_>, page: &Page) -> ApiResult<(Vec<Row>, i64)> {
    let total: i64 = filtered(f)?.count().get_result(conn)?;
    let rows = filtered(f)?
        .order((patients::created_at.desc(), patients::id.asc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Row::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Whether the patient `id` of `tenant` is soft-deleted (unknown: no).
pub fn is_deleted(conn: &mut DbConn, tenant: &str, id: &str) -> ApiResult<bool> {
    let deleted: Option<Option<NaiveDateTime>> = patients::table
        .filter(patients::id.eq(id))
        .filter(patients::tenant_id.eq(tenant))
        .select(patients::deleted_at)
        .first(conn)
        .optional()?;
    Ok(matches!(deleted, Some(Some(_))))
}

/// Soft-delete (`Some(by)`) or restore (`None`).
pub fn set_deleted(conn: &mut DbConn, tenant: &str, id: &str, by: Option<&str>) -> ApiResult<()> {
    let target = patients::table
        .filter(patients::id.eq(id))
        .filter(patients::tenant_id.eq(tenant));
    match by {
        Some(who) => diesel::update(target)
            .set((
                patients::deleted_at.eq(Some(now())),
                patients::deleted_by.eq(Some(who)),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                patients::deleted_at.eq(None::<NaiveDateTime>),
                patients::deleted_by.eq(None::<String>),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// The insurance of a patient of `tenant` (callers check scope first).
pub fn insurance_of(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    id: &str,
) -> ApiResult<Option<super::model::Insurance>> {
    let row = by_id(conn, tenant, id)?;
    Sealer::new(keyring, &row.tenant_id, &row.id, row.version).open_json(
        conn,
        "insurance",
        row.insurance_enc.as_deref(),
    )
}

/// Keep the insurer's latest outcome on a patient (not sealed, so the
/// row's version does not move).
pub fn set_eligibility(
    conn: &mut DbConn,
    tenant: &str,
    id: &str,
    checked: &Checked,
) -> ApiResult<()> {
    diesel::update(
        patients::table
            .filter(patients::id.eq(id))
            .filter(patients::tenant_id.eq(tenant)),
    )
    .set((
        patients::insurance_eligibility.eq(checked.eligibility.as_str()),
        patients::insurance_checked_at.eq(checked.at),
    ))
    .execute(conn)?;
    Ok(())
}

/// Link a portal account.
pub fn link_portal(conn: &mut DbConn, tenant: &str, id: &str, user_id: &str) -> ApiResult<()> {
    diesel::update(
        patients::table
            .filter(patients::id.eq(id))
            .filter(patients::tenant_id.eq(tenant)),
    )
    .set(patients::portal_user_id.eq(Some(user_id)))
    .execute(conn)?;
    Ok(())
}
