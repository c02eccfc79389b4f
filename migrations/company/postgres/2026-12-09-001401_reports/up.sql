-- De-identified reports received from hospitals (issue 14). `body` holds
-- the exact bytes a hospital posted (contracts::report: ISO weeks, age
-- bands, sex, department codes and counts, small ones suppressed; no
-- identifier can be carried), stored once per (tenant, report id); the
-- tenant is the one of the submitting certificate.
CREATE TABLE deid_reports (
    seq BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    report_id TEXT NOT NULL,
    period_from TEXT NOT NULL,
    period_to TEXT NOT NULL,
    suppress_below BIGINT NOT NULL,
    body TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    cells BIGINT NOT NULL,
    suppressed BIGINT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX deid_reports_once ON deid_reports (tenant_id, report_id);
CREATE INDEX deid_reports_received ON deid_reports (received_at);
-- The cells analytics reads: per tenant and cell, the newest report's
-- count (a later report supersedes the weeks it covers). An empty
-- department, age band or sex is the hospital's published total over it;
-- a NULL value is a suppressed count.
CREATE TABLE report_cells (
    tenant_id TEXT NOT NULL,
    week TEXT NOT NULL,
    measure TEXT NOT NULL,
    department TEXT NOT NULL,
    age_band TEXT NOT NULL,
    sex TEXT NOT NULL,
    value BIGINT,
    report_seq BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, week, measure, department, age_band, sex)
);
CREATE INDEX report_cells_query ON report_cells (measure, week);
