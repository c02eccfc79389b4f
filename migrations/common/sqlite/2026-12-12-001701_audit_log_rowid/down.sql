-- Back to BIGINT PRIMARY KEY (a unique index beside the rowid).
CREATE TABLE audit_log_bigint (
    seq BIGINT PRIMARY KEY NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    tenant_id TEXT,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    outcome TEXT NOT NULL,
    severity TEXT NOT NULL,
    ip TEXT,
    user_agent TEXT,
    correlation_id TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_log_bigint (seq, occurred_at, actor, actor_role, tenant_id, action, resource,
                             outcome, severity, ip, user_agent, correlation_id, details,
                             prev_hash, hash)
SELECT seq, occurred_at, actor, actor_role, tenant_id, action, resource,
       outcome, severity, ip, user_agent, correlation_id, details, prev_hash, hash
  FROM audit_log ORDER BY seq;
-- Dropping the table drops its indexes and triggers (no DELETE trigger fires).
DROP TABLE audit_log;
ALTER TABLE audit_log_bigint RENAME TO audit_log;
CREATE INDEX audit_log_action ON audit_log (action);
CREATE INDEX audit_log_actor ON audit_log (actor);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
