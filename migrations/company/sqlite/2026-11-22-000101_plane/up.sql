-- Security events of every server, each naming its source (and tenant).
CREATE TABLE security_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    source_service TEXT NOT NULL,
    source_tenant TEXT NOT NULL DEFAULT '',
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    actor TEXT NOT NULL,
    details TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX security_events_once ON security_events (source_service, source_tenant, event_id);
CREATE INDEX security_events_kind ON security_events (kind);

-- Audit chain heads reported by (or pulled from) the other servers.
CREATE TABLE audit_anchors (
    seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    source_service TEXT NOT NULL,
    source_tenant TEXT NOT NULL DEFAULT '',
    chain_seq BIGINT NOT NULL,
    chain_hash TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX audit_anchors_once ON audit_anchors (source_service, source_tenant, chain_seq);

-- How far company has pulled from dev.
CREATE TABLE pull_cursors (
    source TEXT PRIMARY KEY NOT NULL,
    position BIGINT NOT NULL
);
