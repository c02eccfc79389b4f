//! Blind-index keys of each tenant (`index_keys`): a random 32-byte secret
//! per version, wrapped by the master key like a data key, from which the
//! tenant's index key is derived with HKDF ([`BlindIndexer::derived`]).
//!
//! Version 1 has no row: it is the old derivation from the tenant's first
//! data key, still computed for searching rows not yet re-indexed. The
//! newest version is the current one; new indexes are made under it. As
//! for data keys, which version is current is read from the database every
//! time (a key made in a transaction that rolls back must never be used),
//! and unwrapped secrets are cached by their random key id.

use anyhow::anyhow;
use diesel::prelude::*;

use super::blind::LEGACY_INDEX_VERSION;
use super::field::KEY_ID_LEN;
use super::keyring::{check_tenant, unwrap_raw, wrap_raw};
use super::{random_bytes, BlindIndexer, Keyring, KEY_LEN};
use crate::db::{now, DbConn};
use crate::error::{ApiError, ApiResult};
use crate::schema::{data_keys, index_keys};

#[derive(Queryable, Selectable)]
#[diesel(table_name = index_keys)]
struct IndexKeyRow {
    key_id: String,
    tenant_id: String,
    version: i32,
    wrapped: String,
}

impl Keyring {
    /// The blind index (64 hex characters) of a normalized `value` for
    /// `purpose` (e.g. `patients.last_name`) under the tenant's current
    /// index key. Equal normalized values give equal indexes; other tenants,
    /// purposes and index versions give unrelated ones. Creates the
    /// tenant's index key if it has none (call it inside a write).
    pub fn blind_index(
        &self,
        conn: &mut DbConn,
        tenant: &str,
        purpose: &str,
        value: &str,
    ) -> ApiResult<String> {
        self.indexer(conn, tenant)?.index(purpose, value)
    }

    /// The tenant's current blind indexer (its newest index key), to compute
    /// several indexes with one key lookup. Creates the tenant's first index
    /// key (version 2) if it has none, inside the caller's transaction.
    pub fn indexer(&self, conn: &mut DbConn, tenant: &str) -> ApiResult<BlindIndexer> {
        check_tenant(tenant)?;
        if let Some(row) = newest(conn, tenant)? {
            return self.load_index(&row);
        }
        match self.create_index_key(conn, tenant) {
            Ok(ix) => Ok(ix),
            // Another transaction made it first: use that one.
            Err(ApiError::Conflict(_)) => match newest(conn, tenant)? {
                Some(row) => self.load_index(&row),
                None => Err(ApiError::Conflict(
                    "the tenant's index key is being created; try again".into(),
                )),
            },
            Err(e) => Err(e),
        }
    }

    /// The tenant's current index version, without creating anything:
    /// `None` if it has no index key yet (its indexes, if any, are version 1).
    pub fn current_index_version(&self, conn: &mut DbConn, tenant: &str) -> ApiResult<Option<i32>> {
        Ok(newest(conn, tenant)?.map(|r| r.version))
    }

    /// Every indexer of the tenant, newest first, creating nothing: its
    /// index keys and, if it has a first data key, the legacy version 1.
    /// A search computes the indexes of each version its rows still carry.
    pub fn indexers(&self, conn: &mut DbConn, tenant: &str) -> ApiResult<Vec<BlindIndexer>> {
        check_tenant(tenant)?;
        let rows: Vec<IndexKeyRow> = index_keys::table
            .filter(index_keys::tenant_id.eq(tenant))
            .order(index_keys::version.desc())
            .select(IndexKeyRow::as_select())
            .load(conn)?;
        let mut out = rows
            .iter()
            .map(|r| self.load_index(r))
            .collect::<ApiResult<Vec<_>>>()?;
        let has_first: i64 = data_keys::table
            .filter(data_keys::tenant_id.eq(tenant))
            .filter(data_keys::generation.eq(1))
            .count()
            .get_result(conn)?;
        if has_first > 0 {
            out.push(self.legacy_indexer(conn, tenant)?);
        }
        Ok(out)
    }

    /// The version 1 indexer (derived from the first data key): only for
    /// finding rows indexed before index keys had their own secret.
    pub fn legacy_indexer(&self, conn: &mut DbConn, tenant: &str) -> ApiResult<BlindIndexer> {
        BlindIndexer::legacy(&self.first_key(conn, tenant)?)
    }

    /// Make a new current index key for the tenant (version = newest + 1,
    /// at least 2). Stored indexes must then be re-indexed; searches find
    /// rows under every version until they are. Returns the new version.
    pub fn rotate_index_key(&self, conn: &mut DbConn, tenant: &str) -> ApiResult<i32> {
        check_tenant(tenant)?;
        match self.create_index_key(conn, tenant) {
            Ok(ix) => Ok(ix.version()),
            Err(ApiError::Conflict(_)) => Err(ApiError::Conflict(
                "another index key rotation ran at the same time; try again".into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// Unwrap every index key (part of the start-up master key check).
    pub(super) fn check_index_keys(&self, conn: &mut DbConn) -> ApiResult<usize> {
        let rows: Vec<IndexKeyRow> = index_keys::table
            .select(IndexKeyRow::as_select())
            .load(conn)?;
        for row in &rows {
            unwrap_index(&self.inner.master, row)?;
        }
        Ok(rows.len())
    }

    /// Wrap every index key again under `new` (see [`Keyring::rewrap_all`]):
    /// (rewrapped, already under `new`).
    pub(super) fn rewrap_index_keys(
        &self,
        conn: &mut DbConn,
        new: &aes_gcm::Aes256Gcm,
    ) -> ApiResult<(usize, usize)> {
        let rows: Vec<IndexKeyRow> = index_keys::table
            .select(IndexKeyRow::as_select())
            .load(conn)?;
        let (mut rewrapped, mut already) = (0, 0);
        for row in &rows {
            let aad = index_aad(&row.tenant_id, &row.key_id);
            let raw = match unwrap_raw(&self.inner.master, &row.wrapped, &aad) {
                Ok(raw) => raw,
                Err(_) if unwrap_raw(new, &row.wrapped, &aad).is_ok() => {
                    already += 1;
                    continue;
                }
                Err(why) => return Err(index_error(row, why)),
            };
            let wrapped = wrap_raw(new, &aad, &raw)?;
            diesel::update(index_keys::table.filter(index_keys::key_id.eq(&row.key_id)))
                .set(index_keys::wrapped.eq(wrapped))
                .execute(conn)?;
            rewrapped += 1;
        }
        Ok((rewrapped, already))
    }

    /// A new index key in a savepoint (a lost race leaves the caller's
    /// transaction usable). Not cached: the transaction may roll back.
    fn create_index_key(&self, conn: &mut DbConn, tenant: &str) -> ApiResult<BlindIndexer> {
        let key_id = hex::encode(&random_bytes::<{ KEY_ID_LEN / 2 }>()[..]);
        let raw = random_bytes::<KEY_LEN>();
        let wrapped = wrap_raw(&self.inner.master, &index_aad(tenant, &key_id), &raw)?;
        let version = conn.transaction::<i32, ApiError, _>(|conn| {
            let last: Option<i32> = index_keys::table
                .filter(index_keys::tenant_id.eq(tenant))
                .select(diesel::dsl::max(index_keys::version))
                .first(conn)?;
            let version = last.unwrap_or(LEGACY_INDEX_VERSION) + 1;
            diesel::insert_into(index_keys::table)
                .values((
                    index_keys::key_id.eq(&key_id),
                    index_keys::tenant_id.eq(tenant),
                    index_keys::version.eq(version),
                    index_keys::wrapped.eq(&wrapped),
                    index_keys::created_at.eq(now()),
                ))
                .execute(conn)?;
            Ok(version)
        })?;
        BlindIndexer::derived(tenant, version, &raw)
    }

    /// The indexer of a row, from the cache or unwrapped (and cached).
    fn load_index(&self, row: &IndexKeyRow) -> ApiResult<BlindIndexer> {
        let id = (row.tenant_id.clone(), row.key_id.clone());
        if let Some(ix) = self
            .inner
            .index_cache
            .read()
            .ok()
            .and_then(|c| c.get(&id).cloned())
        {
            return Ok(ix);
        }
        let ix = unwrap_index(&self.inner.master, row)?;
        if let Ok(mut cache) = self.inner.index_cache.write() {
            cache.insert(id, ix.clone());
        }
        Ok(ix)
    }
}

/// The indexer of a stored index key.
fn unwrap_index(master: &aes_gcm::Aes256Gcm, row: &IndexKeyRow) -> ApiResult<BlindIndexer> {
    let raw = unwrap_raw(
        master,
        &row.wrapped,
        &index_aad(&row.tenant_id, &row.key_id),
    )
    .map_err(|why| index_error(row, why))?;
    BlindIndexer::derived(&row.tenant_id, row.version, &raw)
}

fn index_error(row: &IndexKeyRow, why: &str) -> ApiError {
    ApiError::Internal(anyhow!(
        "index key {} (version {}) of tenant {} cannot be unwrapped: {why}",
        row.key_id,
        row.version,
        row.tenant_id
    ))
}

/// The associated data of a wrapped index key (not a data key's: a
/// wrapped secret moved between the tables does not unwrap).
fn index_aad(tenant: &str, key_id: &str) -> String {
    format!("bulkhead-index-key|{tenant}|{key_id}")
}

/// The tenant's newest index key row, if any.
fn newest(conn: &mut DbConn, tenant: &str) -> ApiResult<Option<IndexKeyRow>> {
    Ok(index_keys::table
        .filter(index_keys::tenant_id.eq(tenant))
        .order(index_keys::version.desc())
        .select(IndexKeyRow::as_select())
        .first(conn)
        .optional()?)
}
