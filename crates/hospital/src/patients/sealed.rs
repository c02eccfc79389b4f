//! Encrypting and decrypting one patient's fields: each value is bound to
//! its tenant, table, column, row and the row's version (AAD), so it can be
//! neither moved to another place nor swapped for an older value of the
//! same place.
//!
//! The version changes with every write of the row and every sealed field
//! is sealed again under it, so a ciphertext from before the last change
//! no longer opens. Optional fields are sealed even when empty (as JSON
//! `null`), so a NULL column is never a legitimate "not recorded": it is
//! read as an integrity error. Rows of version 0 predate both rules (sealed
//! without a version, NULL meaning empty) and get them at their next write.

use std::cell::OnceCell;

use common::crypto::{normalize_code, normalize_name, Aad, BlindIndexer, DataKey, Keyring};
use common::db::DbConn;
use common::{ApiError, ApiResult};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The version of rows sealed before versions were bound into the AAD.
pub const LEGACY_VERSION: i64 = 0;

/// The four blind indexes of a patient row and the index key version they
/// were computed under (stored together: a row's indexes are all of one
/// version, so a search under one version matches first and last name
/// together).
pub struct Indexes {
    /// MRN.
    pub mrn: String,
    /// First name.
    pub first: String,
    /// Last name.
    pub last: String,
    /// Date of birth (already normalized).
    pub dob: String,
    /// The index key version.
    pub version: i32,
}

/// The fields of one patient row at one version. The tenant's active key
/// and index key are looked up once per row, not once per field (`make
/// bench` shows the lookup costing ~10× the encryption itself).
pub struct Sealer<'a> {
    keyring: &'a Keyring,
    tenant: &'a str,
    row: &'a str,
    version: i64,
    /// The row's place in the AAD (see [`Sealer::aad`]), made once per row.
    place: String,
    active: OnceCell<DataKey>,
    indexer: OnceCell<BlindIndexer>,
}

impl<'a> Sealer<'a> {
    /// For patient `row` of `tenant` at `version`.
    pub fn new(keyring: &'a Keyring, tenant: &'a str, row: &'a str, version: i64) -> Self {
        // Row ids are UUIDs, so "<id>#v<n>" never names another row.
        let place = if version == LEGACY_VERSION {
            row.to_string()
        } else {
            format!("{row}#v{version}")
        };
        Self {
            keyring,
            tenant,
            row,
            version,
            place,
            active: OnceCell::new(),
            indexer: OnceCell::new(),
        }
    }

    /// The same row at another version (sharing nothing cached: the key
    /// lookups are per call site anyway).
    pub fn at_version(&self, version: i64) -> Self {
        Self::new(self.keyring, self.tenant, self.row, version)
    }

    /// A legacy row is placed by its id; a versioned one by "<id>#v<n>".
    fn aad(&self, column: &str) -> Aad {
        Aad::new(self.tenant, "patients", column, &self.place)
    }

    /// Encrypt a text value under the tenant's active key.
    pub fn seal(&self, conn: &mut DbConn, column: &str, value: &str) -> ApiResult<String> {
        if self.active.get().is_none() {
            let _ = self.active.set(self.keyring.active_key(conn, self.tenant)?);
        }
        match self.active.get() {
            Some(key) => key.encrypt(value, &self.aad(column)),
            None => self
                .keyring
                .encrypt(conn, self.tenant, value, &self.aad(column)),
        }
    }

    /// The blind index of an already normalized `value` for `purpose`,
    /// under the tenant's current index key.
    pub fn index(&self, conn: &mut DbConn, purpose: &str, value: &str) -> ApiResult<String> {
        if self.indexer.get().is_none() {
            let _ = self.indexer.set(self.keyring.indexer(conn, self.tenant)?);
        }
        match self.indexer.get() {
            Some(ix) => ix.index(purpose, value),
            None => self.keyring.blind_index(conn, self.tenant, purpose, value),
        }
    }

    /// The version of the index key [`Sealer::index`] uses.
    pub fn index_version(&self, conn: &mut DbConn) -> ApiResult<i32> {
        if let Some(ix) = self.indexer.get() {
            return Ok(ix.version());
        }
        let ix = self.keyring.indexer(conn, self.tenant)?;
        let version = ix.version();
        let _ = self.indexer.set(ix);
        Ok(version)
    }

    /// All four indexes of a row from its plaintexts (`dob` normalized),
    /// under the current index key.
    pub fn indexes(
        &self,
        conn: &mut DbConn,
        mrn: &str,
        first: &str,
        last: &str,
        dob: &str,
    ) -> ApiResult<Indexes> {
        use super::store::purpose;
        Ok(Indexes {
            mrn: self.index(conn, purpose::MRN, &normalize_code(mrn))?,
            first: self.index(conn, purpose::FIRST, &normalize_name(first))?,
            last: self.index(conn, purpose::LAST, &normalize_name(last))?,
            dob: self.index(conn, purpose::DOB, dob)?,
            version: self.index_version(conn)?,
        })
    }

    /// Encrypt an optional value as JSON; `None` is sealed too (as `null`),
    /// so the column is never NULL.
    pub fn seal_json<T: Serialize>(
        &self,
        conn: &mut DbConn,
        column: &str,
        value: Option<&T>,
    ) -> ApiResult<String> {
        let text =
            serde_json::to_string(&value).map_err(|e| anyhow::anyhow!("encoding {column}: {e}"))?;
        self.seal(conn, column, &text)
    }

    /// Decrypt a text value (keys are cached by id in the keyring).
    pub fn open(&self, conn: &mut DbConn, column: &str, stored: &str) -> ApiResult<String> {
        self.keyring
            .decrypt(conn, self.tenant, stored, &self.aad(column))
    }

    /// Decrypt an optional JSON value. A NULL column is an integrity error
    /// (except on a legacy row, where it meant "not recorded").
    pub fn open_json<T: DeserializeOwned>(
        &self,
        conn: &mut DbConn,
        column: &str,
        stored: Option<&str>,
    ) -> ApiResult<Option<T>> {
        let Some(text) = self.open_stored(conn, column, stored)? else {
            return Ok(None);
        };
        serde_json::from_str::<Option<T>>(&text)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("decoding {column}: {e}")))
    }

    /// Seal `stored` (as this row version reads it) again under `next`:
    /// what a write does to every field it does not change.
    pub fn reseal(
        &self,
        conn: &mut DbConn,
        next: &Sealer<'_>,
        column: &str,
        stored: &str,
    ) -> ApiResult<String> {
        let plain = self.open(conn, column, stored)?;
        next.seal(conn, column, &plain)
    }

    /// [`Sealer::reseal`] for an optional column; a legacy NULL becomes a
    /// sealed `null`.
    pub fn reseal_opt(
        &self,
        conn: &mut DbConn,
        next: &Sealer<'_>,
        column: &str,
        stored: Option<&str>,
    ) -> ApiResult<String> {
        match self.open_stored(conn, column, stored)? {
            Some(plain) => next.seal(conn, column, &plain),
            None => next.seal_json::<()>(conn, column, None),
        }
    }

    /// The plaintext of an optional column; `None` only for a legacy NULL.
    fn open_stored(
        &self,
        conn: &mut DbConn,
        column: &str,
        stored: Option<&str>,
    ) -> ApiResult<Option<String>> {
        match stored {
            Some(s) => self.open(conn, column, s).map(Some),
            None if self.version == LEGACY_VERSION => Ok(None),
            None => Err(ApiError::Internal(anyhow::anyhow!(
                "patient {} (version {}): {column} is NULL where a sealed value must be",
                self.row,
                self.version
            ))),
        }
    }
}
