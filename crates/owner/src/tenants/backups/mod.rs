//! The online copy (issue 12, item 3): each hospital ships its change log
//! to owner in sealed batches (deflated, AES-256-GCM under the tenant's
//! backup key, which owner never holds). Owner stores each batch exactly as
//! posted, in order and without gaps, hands batches back to the hospital
//! that restores, and shows the owner operator only the headers: numbers,
//! counts, sizes and times. See `contracts::backup` for the format.

pub mod http;
pub mod internal;
pub mod store;
pub mod validate;

use chrono::NaiveDateTime;
use contracts::backup::BackupBatchInfo;
use serde::Serialize;

/// A stored batch as the owner operator sees it (its header only; the
/// same fields as the plane's `BackupBatchInfo`).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, PartialEq, Eq)]
#[schema(as = OwnerBackupBatch)]
pub struct BatchView {
    /// Its number (1, 2, 3, … without gaps).
    pub batch_no: i64,
    /// Lowest change sequence number in it.
    pub first_seq: i64,
    /// Highest change sequence number in it.
    pub last_seq: i64,
    /// Changes in it.
    pub rows: i64,
    /// Bytes stored (the batch as posted).
    pub bytes: i64,
    /// When the hospital sealed it (UTC).
    pub created_at: NaiveDateTime,
    /// When owner received it (UTC).
    pub received_at: NaiveDateTime,
}

impl From<BackupBatchInfo> for BatchView {
    fn from(b: BackupBatchInfo) -> Self {
        Self {
            batch_no: b.batch_no,
            first_seq: b.first_seq,
            last_seq: b.last_seq,
            rows: b.rows,
            bytes: b.bytes,
            created_at: b.created_at,
            received_at: b.received_at,
        }
    }
}
