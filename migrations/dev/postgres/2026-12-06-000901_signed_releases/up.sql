-- Signing keys and signed releases (issue 15, items 1 and 2). A developer
-- registers the Ed25519 public key of a key pair made locally (the private
-- key never reaches the server); a revoked key stays, marked. A release is
-- its manifest, the signature over the manifest's canonical JSON, the key
-- that made it and the uploader; the artifact is a plain file on disk,
-- named by its sha256 (releases are not PHI).

CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    public_key TEXT NOT NULL UNIQUE,
    owner_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_by TEXT
);
CREATE INDEX signing_keys_owner ON signing_keys (owner_id);

CREATE TABLE releases (
    id TEXT PRIMARY KEY NOT NULL,
    product TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    notes TEXT NOT NULL,
    min_schema_version BIGINT NOT NULL,
    signature TEXT NOT NULL,
    signing_key_id TEXT NOT NULL REFERENCES signing_keys (id),
    uploaded_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (product, version)
);
