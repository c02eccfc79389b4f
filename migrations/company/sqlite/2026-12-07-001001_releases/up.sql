-- Releases pulled from dev (issue 15, item 3). Company keeps the
-- developers' signing keys as dev publishes them (revocations included) and
-- every release dev offers whose signature checks against them. A release
-- moves candidate → promoted (a production user; company has fetched the
-- artifact from dev and checked it against the signed manifest) → approved
-- (a team lead, neither the promoter nor the developer who signed it;
-- company countersigns the approval) or → rejected (with a reason).

CREATE TABLE dev_signing_keys (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    public_key TEXT NOT NULL,
    owner_username TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE releases (
    id TEXT PRIMARY KEY NOT NULL,
    product TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    notes TEXT NOT NULL,
    min_schema_version BIGINT NOT NULL,
    signature TEXT NOT NULL,
    signing_key_id TEXT NOT NULL,
    signer_username TEXT NOT NULL,
    dev_created_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL,
    promoted_by TEXT,
    promoted_by_username TEXT,
    promoted_at TIMESTAMP,
    approved_by TEXT,
    approved_by_username TEXT,
    approved_at TIMESTAMP,
    approval TEXT,
    countersignature TEXT,
    rejected_by TEXT,
    rejected_at TIMESTAMP,
    reject_reason TEXT,
    UNIQUE (product, version)
);
CREATE INDEX releases_status ON releases (status, dev_created_at);
