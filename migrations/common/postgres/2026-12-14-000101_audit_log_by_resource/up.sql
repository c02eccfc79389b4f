-- A patient's access log (`GET /patients/{id}/access-log`, the audit list
-- filtered by `resource`) read every audit row of the tenant: there was no
-- index on `resource` (docs/benchmarks.md, session 21). With the tenant and
-- `seq` in the key the newest rows of one resource come first without a
-- sort, and the count can be answered from the index.
CREATE INDEX audit_log_resource ON audit_log (resource, tenant_id, seq);
