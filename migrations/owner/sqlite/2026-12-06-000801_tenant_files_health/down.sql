ALTER TABLE tenant_health DROP COLUMN files_quota_bytes;
ALTER TABLE tenant_health DROP COLUMN files_objects;
ALTER TABLE tenant_health DROP COLUMN files_stored_bytes;
ALTER TABLE tenant_health DROP COLUMN files_reachable;
ALTER TABLE tenant_health DROP COLUMN files_backend;
