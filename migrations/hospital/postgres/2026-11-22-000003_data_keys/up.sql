-- Per-tenant data keys for field encryption, each wrapped (AES-256-GCM) by
-- the master key, which is never stored here. Generation 1 is the tenant's
-- first key (blind indexes derive from it); rotation adds the next
-- generation as the one active key. Keys are never deleted: old values
-- still name them.
CREATE TABLE data_keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    wrapped TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);
-- Also the index on tenant_id: one generation number per tenant, so two
-- servers racing to make a tenant's first key cannot both succeed.
CREATE UNIQUE INDEX data_keys_tenant_generation ON data_keys (tenant_id, generation);
-- At most one active key per tenant.
CREATE UNIQUE INDEX data_keys_one_active ON data_keys (tenant_id) WHERE active;
