-- Commands from owner (heartbeat answers) this hospital applied, once per
-- id, and their result until owner acknowledged it (acked_at).
CREATE TABLE owner_commands (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ok BOOLEAN NOT NULL,
    user_id TEXT,
    code TEXT,
    message TEXT,
    applied_at TIMESTAMP NOT NULL,
    acked_at TIMESTAMP
);
