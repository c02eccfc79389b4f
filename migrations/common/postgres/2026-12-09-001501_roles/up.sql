-- Roles changed through the roles API (issue 14, item 4). A row is either a
-- custom role or a stored override of a built-in one (compiled + `[rbac]`
-- configuration); a built-in role without a row keeps its default. Rows are
-- per tenant: a hosted hospital's tenants never share roles (`''` off
-- hospital). `permissions` is the sorted, space-separated set of names.
CREATE TABLE rbac_roles (
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    permissions TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
-- One counter per tenant, raised by every change of its roles: each server
-- process caches a tenant's roles and re-reads this row at most every two
-- seconds, so other instances on the same database see a change soon.
CREATE TABLE rbac_versions (
    tenant_id TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);
