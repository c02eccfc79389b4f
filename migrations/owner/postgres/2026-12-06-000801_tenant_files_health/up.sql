-- The patient-file store each hospital reports with its heartbeat: backend,
-- whether it answered, the tenant's stored bytes and objects, the plan's
-- quota. Sizes and counts only; NULL while a hospital does not report it.
ALTER TABLE tenant_health ADD COLUMN files_backend TEXT;
ALTER TABLE tenant_health ADD COLUMN files_reachable BOOLEAN;
ALTER TABLE tenant_health ADD COLUMN files_stored_bytes BIGINT;
ALTER TABLE tenant_health ADD COLUMN files_objects BIGINT;
ALTER TABLE tenant_health ADD COLUMN files_quota_bytes BIGINT;
