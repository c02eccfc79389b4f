-- The certificate (SHA-256 of its DER) that fetched a tenant's first admin:
-- provisioning is handed out once, to that certificate only.
ALTER TABLE tenant_first_admins ADD COLUMN provisioned_by TEXT;
