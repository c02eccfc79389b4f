//! Patient search over blind indexes: a term becomes the index values it
//! could match (a date of birth, an MRN, one or two name tokens), and those
//! become one condition on the indexed columns. The table is never
//! decrypted to search it. While some rows still carry indexes of an older
//! index key version (before re-indexing), the term's indexes under that
//! version are matched too.

use common::crypto::{normalize_code, normalize_date, normalize_name, BlindIndexer, Keyring};
use common::db::{DbBackend, DbConn};
use common::{ApiError, ApiResult};
use diesel::prelude::*;

use super::scope::Visible;
use super::store::purpose;
use crate::schema::patients;

/// The blind-index conditions a search term matches, under every index
/// key version the tenant's rows carry.
pub struct SearchIndexes {
    versions: Vec<VersionIndexes>,
}

/// The conditions under one index version: a date of birth, an MRN, or one
/// or two name tokens (first and/or last, either order).
struct VersionIndexes {
    dob: Option<String>,
    mrn: String,
    names: Vec<String>,
    pairs: Vec<(String, String)>,
}

/// Refuse an empty or overlong term (before any database work).
pub fn check_term(term: &str) -> ApiResult<()> {
    let term = term.trim();
    if term.is_empty() || term.chars().count() > 100 {
        return Err(ApiError::field("search", "must be 1 to 100 characters"));
    }
    Ok(())
}

/// Turn a search term into blind indexes. `None` when the tenant has
/// neither an index key nor a data key yet: then it has no patient to find,
/// and computing an index would create a key, a write a read must not make.
pub fn search_indexes(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    term: &str,
) -> ApiResult<Option<SearchIndexes>> {
    check_term(term)?;
    let mut versions = Vec::new();
    // Newest first: the current version always (rows are written under
    // it), older ones only while rows still carry them.
    for (n, ix) in keyring.indexers(conn, tenant)?.iter().enumerate() {
        if n == 0 || version_in_use(conn, tenant, ix.version())? {
            versions.push(indexes_of(ix, term.trim())?);
        }
    }
    if versions.is_empty() {
        return Ok(None);
    }
    Ok(Some(SearchIndexes { versions }))
}

/// Whether any row of the tenant has indexes of `version` (an index lookup).
fn version_in_use(conn: &mut DbConn, tenant: &str, version: i32) -> ApiResult<bool> {
    let found: Option<String> = patients::table
        .filter(patients::tenant_id.eq(tenant))
        .filter(patients::index_version.eq(version))
        .select(patients::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

fn indexes_of(ix: &BlindIndexer, term: &str) -> ApiResult<VersionIndexes> {
    let name = |purpose: &str, v: &str| ix.index(purpose, &normalize_name(v));
    let dob = match normalize_date(term) {
        Ok(d) => Some(ix.index(purpose::DOB, &d)?),
        Err(_) => None,
    };
    let mrn = ix.index(purpose::MRN, &normalize_code(term))?;
    let tokens: Vec<&str> = term.split_whitespace().collect();
    let mut names = Vec::new();
    let mut pairs = Vec::new();
    if let [a, b] = tokens.as_slice() {
        for (f, l) in [(a, b), (b, a)] {
            pairs.push((name(purpose::FIRST, f)?, name(purpose::LAST, l)?));
        }
    }
    // The whole term as one first or last name: a single token, or a
    // multi-word name ("Anna Maria", "van Dyke") matched whole.
    names.push(name(purpose::FIRST, term)?);
    names.push(name(purpose::LAST, term)?);
    Ok(VersionIndexes {
        dob,
        mrn,
        names,
        pairs,
    })
}

type Condition =
    Box<dyn BoxableExpression<patients::table, DbBackend, SqlType = diesel::sql_types::Bool>>;

/// Narrow `q` to the rows the term's indexes match (under any version).
pub fn apply(q: Visible, s: &SearchIndexes) -> Visible {
    let mut conditions = s.versions.iter().map(condition);
    let Some(mut cond) = conditions.next() else {
        return q;
    };
    for other in conditions {
        cond = Box::new(cond.or(other));
    }
    q.filter(cond)
}

/// The condition of one version's indexes. (Values of different versions
/// are HMACs under unrelated keys, so they match only their own rows.)
fn condition(s: &VersionIndexes) -> Condition {
    let mut cond: Condition = Box::new(patients::mrn_idx.eq(s.mrn.clone()));
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
    cond
}
