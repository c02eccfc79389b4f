-- Security events this server raised, kept until company has them
-- (an outbox: nothing lost while company is down, ids make delivery idempotent).
CREATE TABLE security_outbox (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    actor TEXT NOT NULL,
    tenant_id TEXT,
    details TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivered_at TIMESTAMP
);
CREATE INDEX security_outbox_pending ON security_outbox (delivered_at, seq);
