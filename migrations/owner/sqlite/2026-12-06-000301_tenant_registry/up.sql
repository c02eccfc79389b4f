-- Plans: what a tenant may use. A NULL limit is "no limit"; modules and
-- features are JSON arrays of names.
CREATE TABLE plans (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    max_staff BIGINT,
    max_patients BIGINT,
    max_storage_mb BIGINT,
    modules TEXT NOT NULL,
    features TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- What a registered hospital needs: its database name (unique; NULL for
-- the demo tenant), its region and its plan.
ALTER TABLE tenants ADD COLUMN db_name TEXT;
ALTER TABLE tenants ADD COLUMN region TEXT NOT NULL DEFAULT 'local';
ALTER TABLE tenants ADD COLUMN plan_id TEXT REFERENCES plans (id);
CREATE UNIQUE INDEX tenants_db_name ON tenants (db_name);

-- The first administrator chosen at registration: only the password's
-- bcrypt hash is kept, until the hospital provisions it.
CREATE TABLE tenant_first_admins (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    email TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    provisioned_at TIMESTAMP
);

-- The last health report of each tenant's hospital (its heartbeat).
CREATE TABLE tenant_health (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id),
    backend TEXT NOT NULL,
    db_size_bytes BIGINT,
    migration_version TEXT NOT NULL,
    last_write_at TIMESTAMP,
    audit_seq BIGINT NOT NULL,
    audit_hash TEXT NOT NULL,
    pool_in_use BIGINT NOT NULL,
    pool_size BIGINT NOT NULL,
    disk_free_bytes BIGINT,
    interval_secs BIGINT NOT NULL,
    received_at TIMESTAMP NOT NULL
);

-- The staff directory each hospital reports (never patients, never PHI).
CREATE TABLE tenant_staff (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    last_login_at TIMESTAMP,
    reported_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, username)
);
