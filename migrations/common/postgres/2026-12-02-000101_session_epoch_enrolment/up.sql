-- A password change, reset, deactivation or role change bumps the epoch;
-- tokens carry the epoch they were issued under and older ones are refused.
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0;

-- One-time codes that let a person set the first password of an account
-- staff opened for them (patient portal). Only a SHA-256 of the code is kept.
CREATE TABLE enrolment_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX enrolment_codes_subject ON enrolment_codes (tenant_id, subject);
