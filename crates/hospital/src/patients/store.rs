//! Queries on `patients`. Plaintext goes in and comes out only through
//! [`Sealer`]; names, dates of birth and MRNs are found through blind indexes.

use chrono::NaiveDateTime;
use common::crypto::{normalize_code, normalize_date, normalize_name, Keyring};
use common::db::{now, DbConn};
use common::response::Page;
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use super::model::{NewPatient, PatientChanges, PatientView, Sex};
use super::scope::{View, Visible};
use super::sealed::Sealer;
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
    pub created_at: NaiveDateTime,
    /// By.
    pub created_by: String,
    /// Changed.
    pub updated_at: NaiveDateTime,
    /// By.
    pub updated_by: String,
    /// Soft-deleted at.
    pub deleted_at: Option<NaiveDateTime>,
    /// By.
    pub deleted_by: Option<String>,
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

/// Register a patient (inside a write transaction). Returns the new row.
pub fn insert(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    by: &str,
    p: &NewPatient,
) -> ApiResult<Row> {
    let id = uuid::Uuid::new_v4().to_string();
    let mrn = next_mrn(conn, tenant)?;
    let s = Sealer::new(keyring, tenant, &id);
    let t = now();
    let dob = normalize_date(&p.date_of_birth)?;
    let row = Row {
        id: id.clone(),
        tenant_id: tenant.to_string(),
        mrn_enc: s.seal(conn, "mrn", &mrn)?,
        mrn_idx: s.index(conn, purpose::MRN, &normalize_code(&mrn))?,
        first_name_enc: s.seal(conn, "first_name", p.first_name.trim())?,
        first_name_idx: s.index(conn, purpose::FIRST, &normalize_name(&p.first_name))?,
        last_name_enc: s.seal(conn, "last_name", p.last_name.trim())?,
        last_name_idx: s.index(conn, purpose::LAST, &normalize_name(&p.last_name))?,
        dob_enc: s.seal(conn, "date_of_birth", &dob)?,
        dob_idx: s.index(conn, purpose::DOB, &dob)?,
        sex: p.sex.as_str().to_string(),
        contact_enc: s.seal_json(conn, "contact", p.contact.as_ref())?,
        address_enc: s.seal_json(conn, "address", p.address.as_ref())?,
        emergency_contact_enc: s.seal_json(
            conn,
            "emergency_contact",
            p.emergency_contact.as_ref(),
        )?,
        insurance_enc: s.seal_json(conn, "insurance", p.insurance.as_ref())?,
        allergies_enc: s.seal_json(conn, "allergies", p.allergies.as_ref())?,
        blood_type_enc: s.seal_json(conn, "blood_type", p.blood_type.as_ref())?,
        portal_user_id: None,
        created_at: t,
        created_by: by.to_string(),
        updated_at: t,
        updated_by: by.to_string(),
        deleted_at: None,
        deleted_by: None,
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
    let s = Sealer::new(keyring, &row.tenant_id, &row.id);
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
        has_portal_account: row.portal_user_id.is_some(),
        created_at: row.created_at,
        created_by: row.created_by.clone(),
        updated_at: row.updated_at,
        updated_by: row.updated_by.clone(),
        deleted: row.deleted_at.is_some(),
    })
}

/// One visible patient by id.
pub fn find_visible(conn: &mut DbConn, visible: Visible, id: &str) -> ApiResult<Option<Row>> {
    Ok(visible
        .filter(patients::id.eq(id.to_string()))
        .select(Row::as_select())
        .first(conn)
        .optional()?)
}

/// The blind-index conditions a search term matches: a date of birth, an
/// MRN, or one or two name tokens (first and/or last, either order).
pub struct SearchIndexes {
    dob: Option<String>,
    mrn: String,
    names: Vec<String>,
    pairs: Vec<(String, String)>,
}

/// Turn a search term into blind indexes (never decrypting the table).
pub fn search_indexes(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    term: &str,
) -> ApiResult<SearchIndexes> {
    let term = term.trim();
    if term.is_empty() || term.chars().count() > 100 {
        return Err(ApiError::field("search", "must be 1 to 100 characters"));
    }
    let dob = match normalize_date(term) {
        Ok(d) => Some(keyring.blind_index(conn, tenant, purpose::DOB, &d)?),
        Err(_) => None,
    };
    let mrn = keyring.blind_index(conn, tenant, purpose::MRN, &normalize_code(term))?;
    let tokens: Vec<&str> = term.split_whitespace().collect();
    let mut names = Vec::new();
    let mut pairs = Vec::new();
    match tokens.as_slice() {
        [one] => {
            names.push(keyring.blind_index(conn, tenant, purpose::FIRST, &normalize_name(one))?);
            names.push(keyring.blind_index(conn, tenant, purpose::LAST, &normalize_name(one))?);
        }
        [a, b] => {
            for (f, l) in [(a, b), (b, a)] {
                pairs.push((
                    keyring.blind_index(conn, tenant, purpose::FIRST, &normalize_name(f))?,
                    keyring.blind_index(conn, tenant, purpose::LAST, &normalize_name(l))?,
                ));
            }
            // Or one two-word first or last name ("Anna Maria", "van Dyke").
            names.push(keyring.blind_index(conn, tenant, purpose::FIRST, &normalize_name(term))?);
            names.push(keyring.blind_index(conn, tenant, purpose::LAST, &normalize_name(term))?);
        }
        _ => {
            // Several words: a multi-word first or last name, matched whole.
            names.push(keyring.blind_index(conn, tenant, purpose::FIRST, &normalize_name(term))?);
            names.push(keyring.blind_index(conn, tenant, purpose::LAST, &normalize_name(term))?);
        }
    }
    Ok(SearchIndexes {
        dob,
        mrn,
        names,
        pairs,
    })
}

fn apply_search(q: Visible, s: &SearchIndexes) -> Visible {
    use diesel::BoolExpressionMethods;
    let mut cond: Box<
        dyn BoxableExpression<
            patients::table,
            common::db::DbBackend,
            SqlType = diesel::sql_types::Bool,
        >,
    > = Box::new(patients::mrn_idx.eq(s.mrn.clone()));
    if let Some(d) = &s.dob {
        cond = Box::new(cond.or(patients::dob_idx.eq(d.clone())));
    }
    for n in &s.names {
        cond = Box::new(
            cond.or(patients::first_name_idx.eq(n.clone()))
                .or(patients::last_name_idx.eq(n.clone())),
        );
    }
    for (f, l) in &s.pairs {
        cond = Box::new(
            cond.or(patients::first_name_idx
                .eq(f.clone())
                .and(patients::last_name_idx.eq(l.clone()))),
        );
    }
    q.filter(cond)
}

/// A page of visible patients (optionally matching a search), newest first.
pub fn list(
    conn: &mut DbConn,
    make_visible: &dyn Fn() -> ApiResult<Visible>,
    search: Option<&SearchIndexes>,
    page: &Page,
) -> ApiResult<(Vec<Row>, i64)> {
    let filtered = || -> ApiResult<Visible> {
        let q = make_visible()?;
        Ok(match search {
            Some(s) => apply_search(q, s),
            None => q,
        })
    };
    let total: i64 = filtered()?.count().get_result(conn)?;
    let rows = filtered()?
        .order((patients::created_at.desc(), patients::id.asc()))
        .limit(page.page_size)
        .offset(page.offset())
        .select(Row::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// Apply validated changes to a row the caller may see and change.
pub fn update(
    conn: &mut DbConn,
    keyring: &Keyring,
    row: &Row,
    by: &str,
    c: &PatientChanges,
) -> ApiResult<()> {
    let tenant = row.tenant_id.as_str();
    let s = Sealer::new(keyring, tenant, &row.id);
    let target = patients::table
        .filter(patients::id.eq(&row.id))
        .filter(patients::tenant_id.eq(tenant));
    if let Some(v) = &c.first_name {
        let (enc, idx) = (
            s.seal(conn, "first_name", v.trim())?,
            s.index(conn, purpose::FIRST, &normalize_name(v))?,
        );
        diesel::update(target)
            .set((
                patients::first_name_enc.eq(enc),
                patients::first_name_idx.eq(idx),
            ))
            .execute(conn)?;
    }
    if let Some(v) = &c.last_name {
        let (enc, idx) = (
            s.seal(conn, "last_name", v.trim())?,
            s.index(conn, purpose::LAST, &normalize_name(v))?,
        );
        diesel::update(target)
            .set((
                patients::last_name_enc.eq(enc),
                patients::last_name_idx.eq(idx),
            ))
            .execute(conn)?;
    }
    if let Some(v) = &c.date_of_birth {
        let d = normalize_date(v)?;
        let (enc, idx) = (
            s.seal(conn, "date_of_birth", &d)?,
            s.index(conn, purpose::DOB, &d)?,
        );
        diesel::update(target)
            .set((patients::dob_enc.eq(enc), patients::dob_idx.eq(idx)))
            .execute(conn)?;
    }
    if let Some(v) = c.sex {
        diesel::update(target)
            .set(patients::sex.eq(v.as_str()))
            .execute(conn)?;
    }
    if let Some(v) = &c.contact {
        let enc = s.seal_json(conn, "contact", v.as_ref())?;
        diesel::update(target)
            .set(patients::contact_enc.eq(enc))
            .execute(conn)?;
    }
    if let Some(v) = &c.address {
        let enc = s.seal_json(conn, "address", v.as_ref())?;
        diesel::update(target)
            .set(patients::address_enc.eq(enc))
            .execute(conn)?;
    }
    if let Some(v) = &c.emergency_contact {
        let enc = s.seal_json(conn, "emergency_contact", v.as_ref())?;
        diesel::update(target)
            .set(patients::emergency_contact_enc.eq(enc))
            .execute(conn)?;
    }
    if let Some(v) = &c.insurance {
        let enc = s.seal_json(conn, "insurance", v.as_ref())?;
        diesel::update(target)
            .set(patients::insurance_enc.eq(enc))
            .execute(conn)?;
    }
    if let Some(v) = &c.allergies {
        let enc = s.seal_json(conn, "allergies", v.as_ref())?;
        diesel::update(target)
            .set(patients::allergies_enc.eq(enc))
            .execute(conn)?;
    }
    if let Some(v) = &c.blood_type {
        let enc = s.seal_json(conn, "blood_type", v.as_ref())?;
        diesel::update(target)
            .set(patients::blood_type_enc.eq(enc))
            .execute(conn)?;
    }
    diesel::update(target)
        .set((patients::updated_at.eq(now()), patients::updated_by.eq(by)))
        .execute(conn)?;
    Ok(())
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
