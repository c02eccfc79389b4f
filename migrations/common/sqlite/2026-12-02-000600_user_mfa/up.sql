-- TOTP second factor of an account (RFC 6238). The secret is AES-256-GCM
-- encrypted under a key derived from the server's token secret (see
-- docs/security.md); `last_step` is the last accepted time step, so a code
-- is accepted once; backup codes are stored as keyed hashes, one per line,
-- and a used one is removed.
CREATE TABLE user_mfa (
    user_id TEXT PRIMARY KEY NOT NULL,
    secret TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    last_step BIGINT NOT NULL DEFAULT 0,
    backup_codes TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMP NOT NULL
);
