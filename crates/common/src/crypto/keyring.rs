//! Per-tenant data keys in the `data_keys` table, wrapped by the master
//! key, and the keyring that uses them.
//!
//! Each tenant has keys numbered by generation from 1; exactly one is
//! active (a partial unique index enforces it) and new values are encrypted
//! under it. Old keys stay for decryption and are never deleted. A key is
//! stored wrapped: `v1.<base64url(nonce ‖ AES-256-GCM(master, key) ‖ tag)>`
//! with associated data `bulkhead-dek|<tenant>|<key_id>`, so a wrapped key
//! moved to another tenant or id does not unwrap.
//!
//! Unwrapped keys are cached by (tenant, key id) — a key id always names
//! the same bytes — but which key is active or first is read from the
//! database every time: a key created in a transaction that later rolls
//! back must never be used afterwards.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use aes_gcm::Aes256Gcm;
use anyhow::anyhow;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use zeroize::Zeroizing;

use super::field::{field_error, parse, valid_key_id, KEY_ID_LEN};
use super::{
    cipher_for, key_id_of, open, random_bytes, seal, Aad, BlindIndexer, DataKey, MasterKey, KEY_LEN,
};
use crate::db::{now, DbConn};
use crate::error::{ApiError, ApiResult};
use crate::schema::data_keys;

/// A data key as listed (no key material).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// The id values carry.
    pub key_id: String,
    /// 1 for the first key, then one more per rotation.
    pub generation: i32,
    /// Whether new values are encrypted under it.
    pub active: bool,
    /// When it was made (UTC).
    pub created_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = data_keys)]
struct KeyRow {
    key_id: String,
    tenant_id: String,
    generation: i32,
    wrapped: String,
    active: bool,
    created_at: NaiveDateTime,
}

/// The master key and a cache of unwrapped data keys. Cheap to clone;
/// share one per process.
#[derive(Clone)]
pub struct Keyring {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) master: Aes256Gcm,
    fingerprint: String,
    cache: RwLock<HashMap<(String, String), DataKey>>,
    /// Index keys by (tenant, key id), as data keys are cached.
    pub(super) index_cache: RwLock<HashMap<(String, String), BlindIndexer>>,
}

/// What [`Keyring::rewrap_all`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Rewrapped {
    /// Data keys wrapped again under the new master key.
    pub data_keys: usize,
    /// Index keys wrapped again under the new master key.
    pub index_keys: usize,
    /// Keys the new master key already opened (an earlier run): left alone.
    pub already: usize,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("master", &self.inner.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// A keyring over `master`.
    pub fn new(master: MasterKey) -> Self {
        Self {
            inner: Arc::new(Inner {
                master: cipher_for(master.bytes()),
                fingerprint: master.fingerprint(),
                cache: RwLock::new(HashMap::new()),
                index_cache: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The master key's fingerprint (safe to log).
    pub fn master_fingerprint(&self) -> &str {
        &self.inner.fingerprint
    }

    /// The tenant's active data key, created (generation 1, or the next one)
    /// if the tenant has none, inside the caller's transaction. Make that
    /// first call inside a write transaction ([`crate::db::Db::write`]), as
    /// for any write: two servers racing outside it on PostgreSQL still end
    /// up with one key, but SQLite may answer the loser with a busy error.
    pub fn active_key(&self, conn: &mut DbConn, tenant: &str) -> ApiResult<DataKey> {
        check_tenant(tenant)?;
        if let Some(row) = active_row(conn, tenant)? {
            return self.load(&row);
        }
        match self.create(conn, tenant, false) {
            // Another transaction made the tenant's key first (the only
            // conflict possible here): use that one.
            Err(ApiError::Conflict(_)) => match active_row(conn, tenant)? {
                Some(row) => self.load(&row),
                None => Err(ApiError::Conflict(
                    "the tenant's data key is being created; try again".into(),
                )),
            },
            other => other,
        }
    }

    /// The tenant's data key `key_id` (active or not). An id the tenant
    /// does not have is an error.
    pub fn key(&self, conn: &mut DbConn, tenant: &str, key_id: &str) -> ApiResult<DataKey> {
        check_tenant(tenant)?;
        if !valid_key_id(key_id) {
            return Err(ApiError::Internal(anyhow!("malformed data key id")));
        }
        if let Some(key) = self.cached(tenant, key_id) {
            return Ok(key);
        }
        let row = data_keys::table
            .filter(data_keys::tenant_id.eq(tenant))
            .filter(data_keys::key_id.eq(key_id))
            .select(KeyRow::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| {
                ApiError::Internal(anyhow!("tenant {tenant} has no data key {key_id}"))
            })?;
        self.load(&row)
    }

    /// Make a new active key for the tenant; the old ones stay (inactive)
    /// for decryption. Returns the new key id. Runs in the caller's
    /// transaction; a concurrent rotation of the same tenant fails with
    /// a conflict.
    pub fn rotate(&self, conn: &mut DbConn, tenant: &str) -> ApiResult<String> {
        check_tenant(tenant)?;
        match self.create(conn, tenant, true) {
            Ok(key) => Ok(key.key_id().to_string()),
            Err(ApiError::Conflict(_)) => Err(ApiError::Conflict(
                "another key rotation ran at the same time; try again".into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// The tenant's keys, oldest first.
    pub fn keys(&self, conn: &mut DbConn, tenant: &str) -> ApiResult<Vec<KeyInfo>> {
        let rows: Vec<KeyRow> = data_keys::table
            .filter(data_keys::tenant_id.eq(tenant))
            .order(data_keys::generation.asc())
            .select(KeyRow::as_select())
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|r| KeyInfo {
                key_id: r.key_id,
                generation: r.generation,
                active: r.active,
                created_at: r.created_at,
            })
            .collect())
    }

    /// Encrypt a field under the tenant's active key. `aad` must name the
    /// same tenant.
    pub fn encrypt(
        &self,
        conn: &mut DbConn,
        tenant: &str,
        plaintext: &str,
        aad: &Aad,
    ) -> ApiResult<String> {
        check_aad(tenant, aad)?;
        self.active_key(conn, tenant)?.encrypt(plaintext, aad)
    }

    /// Decrypt a field under whichever of the tenant's keys it names.
    /// Altered, truncated, malformed or misplaced values (another row,
    /// column, table or tenant) and unknown key ids are errors.
    pub fn decrypt(
        &self,
        conn: &mut DbConn,
        tenant: &str,
        stored: &str,
        aad: &Aad,
    ) -> ApiResult<String> {
        check_aad(tenant, aad)?;
        let parsed = parse(stored).map_err(|why| field_error(aad, why))?;
        let key = match self.key(conn, tenant, parsed.key_id) {
            Ok(key) => key,
            // Unknown to this tenant, or not unwrappable: say where. Other
            // errors (database unavailable) pass through as they are.
            Err(ApiError::Internal(cause)) => {
                return Err(field_error(aad, &format!("{cause}")));
            }
            Err(e) => return Err(e),
        };
        key.open_parsed(&parsed, aad)
    }

    /// [`Keyring::encrypt`] for an optional field (`None` stays `None`).
    pub fn encrypt_opt(
        &self,
        conn: &mut DbConn,
        tenant: &str,
        plaintext: Option<&str>,
        aad: &Aad,
    ) -> ApiResult<Option<String>> {
        plaintext
            .map(|p| self.encrypt(conn, tenant, p, aad))
            .transpose()
    }

    /// [`Keyring::decrypt`] for an optional field (`None` stays `None`).
    pub fn decrypt_opt(
        &self,
        conn: &mut DbConn,
        tenant: &str,
        stored: Option<&str>,
        aad: &Aad,
    ) -> ApiResult<Option<String>> {
        stored
            .map(|s| self.decrypt(conn, tenant, s, aad))
            .transpose()
    }

    /// Decrypt with whatever key the value names and encrypt again under
    /// the tenant's active key (for moving data off old keys after a
    /// rotation). A value already under the active key is checked and
    /// returned unchanged, so callers may skip writing it back.
    pub fn reencrypt(
        &self,
        conn: &mut DbConn,
        tenant: &str,
        stored: &str,
        aad: &Aad,
    ) -> ApiResult<String> {
        let plain = Zeroizing::new(self.decrypt(conn, tenant, stored, aad)?);
        let active = self.active_key(conn, tenant)?;
        if key_id_of(stored)? == active.key_id() {
            return Ok(stored.to_string());
        }
        active.encrypt(&plain, aad)
    }

    /// Unwrap every data key and index key of every tenant: a start-up
    /// check that this is the right master key. Returns how many data keys
    /// there are.
    pub fn check_master_key(&self, conn: &mut DbConn) -> ApiResult<usize> {
        let rows: Vec<KeyRow> = data_keys::table.select(KeyRow::as_select()).load(conn)?;
        for row in &rows {
            self.unwrap_row(row)?;
        }
        self.check_index_keys(conn)?;
        Ok(rows.len())
    }

    /// Wrap every data key and index key again under `new_master` (master
    /// key rotation). Run it in a transaction, then restart with the new
    /// master key. Safe to run again: a key the new master key already
    /// opens (an earlier run, or one interrupted before the restart) is
    /// left alone; a key neither opens is an error and nothing is kept.
    pub fn rewrap_all(&self, conn: &mut DbConn, new_master: &MasterKey) -> ApiResult<Rewrapped> {
        let new = cipher_for(new_master.bytes());
        let mut done = Rewrapped::default();
        let rows: Vec<KeyRow> = data_keys::table.select(KeyRow::as_select()).load(conn)?;
        for row in &rows {
            let aad = dek_aad(&row.tenant_id, &row.key_id);
            let raw = match unwrap_raw(&self.inner.master, &row.wrapped, &aad) {
                Ok(raw) => raw,
                Err(_) if unwrap_raw(&new, &row.wrapped, &aad).is_ok() => {
                    done.already += 1;
                    continue;
                }
                Err(_) => {
                    self.unwrap_row(row)?;
                    continue;
                }
            };
            let wrapped = wrap_raw(&new, &aad, &raw)?;
            diesel::update(data_keys::table.filter(data_keys::key_id.eq(&row.key_id)))
                .set(data_keys::wrapped.eq(wrapped))
                .execute(conn)?;
            done.data_keys += 1;
        }
        let (index_keys, already) = self.rewrap_index_keys(conn, &new)?;
        done.index_keys = index_keys;
        done.already += already;
        Ok(done)
    }

    /// The tenant's first key (generation 1), made if the tenant has none.
    pub(super) fn first_key(&self, conn: &mut DbConn, tenant: &str) -> ApiResult<DataKey> {
        check_tenant(tenant)?;
        let first = |conn: &mut DbConn| -> ApiResult<Option<KeyRow>> {
            Ok(data_keys::table
                .filter(data_keys::tenant_id.eq(tenant))
                .filter(data_keys::generation.eq(1))
                .select(KeyRow::as_select())
                .first(conn)
                .optional()?)
        };
        if let Some(row) = first(conn)? {
            return self.load(&row);
        }
        // Making the active key makes generation 1 when there is no key.
        self.active_key(conn, tenant)?;
        match first(conn)? {
            Some(row) => self.load(&row),
            None => Err(ApiError::Internal(anyhow!(
                "tenant {tenant} has data keys but not its first one"
            ))),
        }
    }

    /// A new key for the tenant in a savepoint (so a lost race leaves the
    /// caller's transaction usable): generation = last + 1, active; with
    /// `rotate`, the previous active key is deactivated first.
    fn create(&self, conn: &mut DbConn, tenant: &str, rotate: bool) -> ApiResult<DataKey> {
        let key_id = hex::encode(&random_bytes::<{ KEY_ID_LEN / 2 }>()[..]);
        let raw = random_bytes::<KEY_LEN>();
        let wrapped = wrap_raw(&self.inner.master, &dek_aad(tenant, &key_id), &raw)?;
        let generation = conn.transaction::<i32, ApiError, _>(|conn| {
            let last: Option<i32> = data_keys::table
                .filter(data_keys::tenant_id.eq(tenant))
                .select(diesel::dsl::max(data_keys::generation))
                .first(conn)?;
            if rotate {
                diesel::update(
                    data_keys::table
                        .filter(data_keys::tenant_id.eq(tenant))
                        .filter(data_keys::active.eq(true)),
                )
                .set(data_keys::active.eq(false))
                .execute(conn)?;
            }
            let generation = last.unwrap_or(0) + 1;
            diesel::insert_into(data_keys::table)
                .values((
                    data_keys::key_id.eq(&key_id),
                    data_keys::tenant_id.eq(tenant),
                    data_keys::generation.eq(generation),
                    data_keys::wrapped.eq(&wrapped),
                    data_keys::active.eq(true),
                    data_keys::created_at.eq(now()),
                ))
                .execute(conn)?;
            Ok(generation)
        })?;
        // Not cached: the caller's transaction may still roll back.
        Ok(DataKey::new(&key_id, tenant, generation, raw))
    }

    /// The key of a row, from the cache or unwrapped (and cached).
    fn load(&self, row: &KeyRow) -> ApiResult<DataKey> {
        if let Some(key) = self.cached(&row.tenant_id, &row.key_id) {
            return Ok(key);
        }
        let key = self.unwrap_row(row)?;
        if let Ok(mut cache) = self.inner.cache.write() {
            cache.insert((row.tenant_id.clone(), row.key_id.clone()), key.clone());
        }
        Ok(key)
    }

    fn cached(&self, tenant: &str, key_id: &str) -> Option<DataKey> {
        let cache = self.inner.cache.read().ok()?;
        cache
            .get(&(tenant.to_string(), key_id.to_string()))
            .cloned()
    }

    /// Unwrap a stored key with the master key.
    fn unwrap_row(&self, row: &KeyRow) -> ApiResult<DataKey> {
        let fail = |why: &str| {
            ApiError::Internal(anyhow!(
                "data key {} of tenant {} cannot be unwrapped: {why}",
                row.key_id,
                row.tenant_id
            ))
        };
        let raw = unwrap_raw(
            &self.inner.master,
            &row.wrapped,
            &dek_aad(&row.tenant_id, &row.key_id),
        )
        .map_err(fail)?;
        Ok(DataKey::new(
            &row.key_id,
            &row.tenant_id,
            row.generation,
            raw,
        ))
    }
}

/// Wrap a key under a master key, bound to `aad` (which names its tenant
/// and id, so a wrapped key moved elsewhere does not unwrap).
pub(super) fn wrap_raw(master: &Aes256Gcm, aad: &str, raw: &[u8; KEY_LEN]) -> ApiResult<String> {
    let sealed = seal(master, raw, aad.as_bytes())
        .map_err(|_| ApiError::Internal(anyhow!("wrapping a key failed")))?;
    Ok(format!("v1.{}", URL_SAFE_NO_PAD.encode(sealed)))
}

/// Unwrap what [`wrap_raw`] made; `Err` says why not (never the content).
pub(super) fn unwrap_raw(
    master: &Aes256Gcm,
    wrapped: &str,
    aad: &str,
) -> Result<Zeroizing<[u8; KEY_LEN]>, &'static str> {
    let body = wrapped.strip_prefix("v1.").ok_or("unknown format")?;
    let sealed = URL_SAFE_NO_PAD.decode(body).map_err(|_| "malformed")?;
    let plain =
        open(master, &sealed, aad.as_bytes()).ok_or("wrong master key, or the row was altered")?;
    if plain.len() != KEY_LEN {
        return Err("wrong length");
    }
    let mut raw = Zeroizing::new([0u8; KEY_LEN]);
    raw.copy_from_slice(&plain);
    Ok(raw)
}

/// The associated data of a wrapped key. Unambiguous: key ids are hex.
fn dek_aad(tenant: &str, key_id: &str) -> String {
    format!("bulkhead-dek|{tenant}|{key_id}")
}

/// The tenant's active key row, if any.
fn active_row(conn: &mut DbConn, tenant: &str) -> ApiResult<Option<KeyRow>> {
    Ok(data_keys::table
        .filter(data_keys::tenant_id.eq(tenant))
        .filter(data_keys::active.eq(true))
        .order(data_keys::generation.desc())
        .select(KeyRow::as_select())
        .first(conn)
        .optional()?)
}

pub(super) fn check_tenant(tenant: &str) -> ApiResult<()> {
    if tenant.is_empty() {
        return Err(ApiError::Internal(anyhow!("data keys need a tenant id")));
    }
    Ok(())
}

fn check_aad(tenant: &str, aad: &Aad) -> ApiResult<()> {
    if aad.tenant() != tenant {
        return Err(field_error(aad, "the associated data names another tenant"));
    }
    Ok(())
}
