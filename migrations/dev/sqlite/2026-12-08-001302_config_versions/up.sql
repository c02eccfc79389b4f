-- Versioned system configuration (issue 15, item 5): one line of versions
-- per server kind. A version is never changed or deleted; a rollback is a
-- new version with an earlier one's document. `document` is the canonical
-- JSON (keys sorted, no whitespace) that a developer signs as a release of
-- product `<kind>-config`; `sha256` is its hash. Publishing links the
-- version to that release once dev has checked its signature.
CREATE TABLE config_versions (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('hospital', 'company', 'owner')),
    version BIGINT NOT NULL CHECK (version >= 1),
    document TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    reason TEXT NOT NULL,
    author_id TEXT NOT NULL,
    rolled_back_to BIGINT,
    created_at TIMESTAMP NOT NULL,
    published_release_id TEXT REFERENCES releases (id),
    published_by TEXT,
    published_at TIMESTAMP,
    UNIQUE (kind, version),
    CHECK ((published_release_id IS NULL) = (published_at IS NULL))
);
