//! The online copy in tests: batches held in memory, served to a restore
//! as owner would list and hand them out.

use contracts::backup::{BackupBatch, BackupBatchInfo};
use hospital::backup::restore::BatchSource;

/// Batches in memory, in order.
pub struct Held(pub Vec<BackupBatch>);

impl BatchSource for Held {
    fn list(&mut self, after: i64, limit: i64) -> anyhow::Result<Vec<BackupBatchInfo>> {
        Ok(self
            .0
            .iter()
            .filter(|b| b.batch_no > after)
            .take(usize::try_from(limit).unwrap_or(0))
            .map(|b| BackupBatchInfo {
                batch_no: b.batch_no,
                first_seq: b.first_seq,
                last_seq: b.last_seq,
                rows: b.rows,
                bytes: 0,
                created_at: b.created_at,
                received_at: b.created_at,
            })
            .collect())
    }

    fn get(&mut self, batch_no: i64) -> anyhow::Result<BackupBatch> {
        self.0
            .iter()
            .find(|b| b.batch_no == batch_no)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no batch {batch_no}"))
    }
}
