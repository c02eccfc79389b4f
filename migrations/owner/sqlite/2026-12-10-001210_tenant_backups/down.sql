ALTER TABLE tenant_health DROP COLUMN sync_last_shipped_at;
ALTER TABLE tenant_health DROP COLUMN sync_last_batch_no;
ALTER TABLE tenant_health DROP COLUMN sync_oldest_pending_at;
ALTER TABLE tenant_health DROP COLUMN sync_pending_changes;
DROP TABLE tenant_backups;
