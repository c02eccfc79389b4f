-- The audit log is shipped from itself, by seq, not through a trigger: it
-- is append-only with a dense seq, so the shipper copies the rows past
-- `audit_shipped` into the change log when it seals a batch, instead of a
-- trigger writing a second copy of every audit row inside the request's
-- transaction.
ALTER TABLE sync_state ADD COLUMN audit_shipped BIGINT NOT NULL DEFAULT 0;
-- A database whose audit_log carried the trigger has every audit row in
-- the log already (or shipped): the shipper goes on after the last one.
UPDATE sync_state SET audit_shipped = (SELECT COALESCE(MAX(seq), 0) FROM audit_log)
 WHERE EXISTS (SELECT 1 FROM change_log_tables WHERE tbl = 'audit_log');
DROP TRIGGER IF EXISTS bh_cl_audit_log_i;
DROP TRIGGER IF EXISTS bh_cl_audit_log_u;
DROP TRIGGER IF EXISTS bh_cl_audit_log_d;
DELETE FROM change_log_tables WHERE tbl = 'audit_log';
