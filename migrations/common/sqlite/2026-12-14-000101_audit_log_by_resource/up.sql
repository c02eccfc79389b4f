-- A patient's access log (`GET /patients/{id}/access-log`, the audit list
-- filtered by `resource`) read every audit row of the tenant: there was no
-- index on `resource`, so SQLite walked `audit_log_tenant` — every row of a
-- one-tenant hospital, one more for each audited read ever served — for the
-- page and again for its count (docs/benchmarks.md, session 21). With this
-- index the page reads the patient's own rows (the rowid, the chain's `seq`,
-- ends every index entry, so the newest come first without a sort) and the
-- count reads the index alone: with the tenant in the key it needs no table
-- row (a patient shown in many lists has thousands of rows; `(resource)`
-- alone measured 23 ms per access log of ~10,000 rows, reading each row for
-- its tenant).
CREATE INDEX audit_log_resource ON audit_log (resource, tenant_id);
-- Planner statistics for the audit log, in the shape of a hospital's: one
-- tenant holds nearly every row, an actor and an action name many rows, a
-- resource (one patient, one user) a few. Without them SQLite guesses that
-- an equality on any single-column index selects about ten rows, so it could
-- pick `audit_log_tenant` over `audit_log_resource` for the access log's
-- `tenant_id = ? AND resource = ?`. As in the hospital's planner statistics
-- (migrations/hospital/sqlite/2026-12-13-000102_planner_statistics): rows an
-- operator's ANALYZE wrote stay, every index of the table gets a row, and
-- `ANALYZE sqlite_schema` (which reads no user table) creates sqlite_stat1
-- first and reloads the statistics on every connection last.
ANALYZE sqlite_schema;
INSERT INTO sqlite_stat1 (tbl, idx, stat)
SELECT s.tbl, s.idx, s.stat FROM (
    SELECT 'audit_log' AS tbl, 'audit_log_action' AS idx, '1000000 20000' AS stat
    UNION ALL SELECT 'audit_log', 'audit_log_actor', '1000000 2000'
    UNION ALL SELECT 'audit_log', 'audit_log_tenant', '1000000 1000000'
    UNION ALL SELECT 'audit_log', 'audit_log_resource', '1000000 20 20'
) AS s
WHERE NOT EXISTS (SELECT 1 FROM sqlite_stat1 t WHERE t.tbl = s.tbl AND t.idx = s.idx);
ANALYZE sqlite_schema;
