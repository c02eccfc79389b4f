ALTER TABLE tenant_first_admins DROP COLUMN provisioned_by;
