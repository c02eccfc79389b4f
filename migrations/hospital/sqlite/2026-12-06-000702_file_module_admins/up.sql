-- Module admins: an admin of some medical modules manages the patient files
-- of those modules only (workspaces, deleted files, restore, purge).
CREATE TABLE file_module_admins (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    module TEXT NOT NULL,
    assigned_by TEXT NOT NULL,
    assigned_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, user_id, module)
);
