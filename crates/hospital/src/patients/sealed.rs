//! Encrypting and decrypting one patient's fields: each value is bound to
//! its tenant, table, column and row (AAD), so it cannot be moved.

use std::cell::OnceCell;

use common::crypto::{Aad, BlindIndexer, DataKey, Keyring};
use common::db::DbConn;
use common::ApiResult;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The fields of one patient row. The tenant's active key and index key
/// are looked up once per row, not once per field (`make bench` shows the
/// lookup costing ~10× the encryption itself).
pub struct Sealer<'a> {
    keyring: &'a Keyring,
    tenant: &'a str,
    row: &'a str,
    active: OnceCell<DataKey>,
    indexer: OnceCell<BlindIndexer>,
}

impl<'a> Sealer<'a> {
    /// For patient `row` of `tenant`.
    pub fn new(keyring: &'a Keyring, tenant: &'a str, row: &'a str) -> Self {
        Self {
            keyring,
            tenant,
            row,
            active: OnceCell::new(),
            indexer: OnceCell::new(),
        }
    }

    fn aad(&self, column: &str) -> Aad {
        Aad::new(self.tenant, "patients", column, self.row)
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

    /// The blind index of an already normalized `value` for `purpose`.
    pub fn index(&self, conn: &mut DbConn, purpose: &str, value: &str) -> ApiResult<String> {
        if self.indexer.get().is_none() {
            let _ = self.indexer.set(self.keyring.indexer(conn, self.tenant)?);
        }
        match self.indexer.get() {
            Some(ix) => ix.index(purpose, value),
            None => self.keyring.blind_index(conn, self.tenant, purpose, value),
        }
    }

    /// Encrypt a value as JSON (`None` stays `None`).
    pub fn seal_json<T: Serialize>(
        &self,
        conn: &mut DbConn,
        column: &str,
        value: Option<&T>,
    ) -> ApiResult<Option<String>> {
        match value {
            None => Ok(None),
            Some(v) => {
                let text = serde_json::to_string(v)
                    .map_err(|e| anyhow::anyhow!("encoding {column}: {e}"))?;
                self.seal(conn, column, &text).map(Some)
            }
        }
    }

    /// Decrypt a text value (keys are cached by id in the keyring).
    pub fn open(&self, conn: &mut DbConn, column: &str, stored: &str) -> ApiResult<String> {
        self.keyring
            .decrypt(conn, self.tenant, stored, &self.aad(column))
    }

    /// Decrypt a JSON value.
    pub fn open_json<T: DeserializeOwned>(
        &self,
        conn: &mut DbConn,
        column: &str,
        stored: Option<&str>,
    ) -> ApiResult<Option<T>> {
        match stored {
            None => Ok(None),
            Some(s) => {
                let text = self.open(conn, column, s)?;
                let v = serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("decoding {column}: {e}"))?;
                Ok(Some(v))
            }
        }
    }
}
