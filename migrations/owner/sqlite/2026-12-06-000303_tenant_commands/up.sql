-- Commands owner queued for a hospital, handed over in heartbeat answers
-- until the hospital reports their result. `payload` is the command's JSON
-- (a create_user carries the initial password's bcrypt hash, never the
-- password); `result` the hospital's report.
CREATE TABLE tenant_commands (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP,
    completed_at TIMESTAMP
);
CREATE INDEX tenant_commands_tenant_status ON tenant_commands (tenant_id, status);
