-- Where this server (a hospital or owner) stands with the release company
-- approved for it (issue 15, item 4): one row per server, written by the periodic check
-- and by `bulkhead update --check / --stage`, reported to owner with the
-- heartbeat (hospital) or shown on its own pages (owner). No PHI.
CREATE TABLE update_state (
    id INTEGER PRIMARY KEY NOT NULL,
    status TEXT NOT NULL,
    current_version TEXT NOT NULL,
    version TEXT,
    release_id TEXT,
    sha256 TEXT,
    staged_path TEXT,
    detail TEXT,
    checked_at TIMESTAMP NOT NULL
);
