-- That this hospital fetched its tenant's provisioning from owner (once:
-- a later start, with a rotated certificate, does not ask again).
CREATE TABLE provisioning (
    tenant_id TEXT PRIMARY KEY NOT NULL,
    admin_user_id TEXT,
    provisioned_at TIMESTAMP NOT NULL
);
