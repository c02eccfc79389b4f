-- Each tenant's standing as owner last answered a heartbeat: its status
-- (a suspended tenant refuses logins) and its plan's limits (NULL: none).
-- No row: owner never answered; nothing is refused.
CREATE TABLE tenant_standing (
    tenant_id TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL,
    plan_name TEXT,
    max_staff BIGINT,
    max_patients BIGINT,
    max_storage_mb BIGINT,
    modules TEXT NOT NULL,
    features TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
