-- The next start makes the audit_log trigger again and logs the table
-- whole (a table met for the first time).
ALTER TABLE sync_state DROP COLUMN audit_shipped;
