ALTER TABLE tenant_health DROP COLUMN update_detail;
ALTER TABLE tenant_health DROP COLUMN update_checked_at;
ALTER TABLE tenant_health DROP COLUMN update_version;
ALTER TABLE tenant_health DROP COLUMN update_current_version;
ALTER TABLE tenant_health DROP COLUMN update_status;
