-- De-identified reports (issue 14): what this hospital sent, or will send,
-- to company, byte for byte. `body` is the exact JSON posted (aggregate
-- counts only: ISO weeks, age bands, sex, department codes, suppressed
-- small cells; see contracts::report), `sha256` its hash. An outbox: a row
-- is written `pending` in one transaction with its audit row, shipped
-- after by the plane worker (retried; company is idempotent on the id),
-- and becomes `sent` or `refused`.
CREATE TABLE deid_reports (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    period_from TEXT NOT NULL,
    period_to TEXT NOT NULL,
    body TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    cells BIGINT NOT NULL,
    suppressed BIGINT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('schedule', 'admin')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'refused')),
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX deid_reports_tenant ON deid_reports (tenant_id, created_at);
CREATE INDEX deid_reports_status ON deid_reports (status, created_at);
