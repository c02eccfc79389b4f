-- Blind-index keys: a random secret per tenant and version, wrapped by the
-- master key like a data key. The index key of a version is derived from
-- it with HKDF-SHA256 under its own label, so it no longer depends on the
-- bytes of the tenant's first data key. Version 1 is that old derivation
-- (no row here); versions from 2 live in this table. Never deleted: stored
-- indexes of a version are searched until every row is re-indexed.
CREATE TABLE index_keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    wrapped TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
-- One secret per version and tenant, so two servers racing to make the
-- first one cannot both succeed.
CREATE UNIQUE INDEX index_keys_tenant_version ON index_keys (tenant_id, version);

-- Which index key version a patient row's blind indexes were computed
-- under: 1 (derived from the first data key) for every existing row until
-- re-indexing moves it to the tenant's current version.
ALTER TABLE patients ADD COLUMN index_version INTEGER NOT NULL DEFAULT 1;
CREATE INDEX patients_tenant_index_version ON patients (tenant_id, index_version);

-- Where the background re-encryption of each tenant stands: the target
-- (active data key, index version) and the last patient id done, so a
-- restart resumes instead of starting over.
CREATE TABLE reencrypt_progress (
    tenant_id TEXT PRIMARY KEY NOT NULL,
    key_id TEXT NOT NULL,
    index_version INTEGER NOT NULL,
    cursor TEXT NOT NULL,
    resealed BIGINT NOT NULL,
    done BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
