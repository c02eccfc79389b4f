-- The online copy (issue 12, item 3): each hospital's change log, in
-- sealed batches (deflated, AES-256-GCM under the tenant's backup key,
-- which owner never holds). Owner keeps every batch exactly as it was
-- posted (`body`: the request's bytes, the restore fetches them back) and
-- reads only the header: numbers, counts, sizes and times. `sha256` (hex)
-- of `body` tells a retry from a different batch under the same number.
CREATE TABLE tenant_backups (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    batch_no BIGINT NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    rows BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (tenant_id, batch_no)
);

-- What the hospital reports of its online copy in each heartbeat (NULL:
-- not reported): changes not yet shipped, when the oldest was written,
-- and the last batch it saw acknowledged.
ALTER TABLE tenant_health ADD COLUMN sync_pending_changes BIGINT;
ALTER TABLE tenant_health ADD COLUMN sync_oldest_pending_at TIMESTAMP;
ALTER TABLE tenant_health ADD COLUMN sync_last_batch_no BIGINT;
ALTER TABLE tenant_health ADD COLUMN sync_last_shipped_at TIMESTAMP;
