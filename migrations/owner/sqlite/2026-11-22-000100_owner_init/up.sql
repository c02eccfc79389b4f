-- Facts about this owner-server instance (instance id, first start).
CREATE TABLE service_meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
