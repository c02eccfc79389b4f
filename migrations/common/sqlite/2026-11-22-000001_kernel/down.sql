DROP TRIGGER IF EXISTS audit_log_no_delete;
DROP TRIGGER IF EXISTS audit_log_no_update;
DROP TABLE audit_head;
DROP TABLE audit_log;
DROP TABLE revoked_tokens;
DROP TABLE users;
