-- Server-side sessions of every login (API and web). An access token names
-- its session (`sid`); the token check refuses a token whose session was
-- ended, is past `expires_at` (absolute lifetime) or has been idle longer
-- than `idle_timeout_secs` since `last_used_at` (touched at most once a
-- minute). `address` and `user_agent` are what the login came with, for the
-- owner's list of their sessions (the user agent truncated to 200 chars).
CREATE TABLE auth_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    tenant_id TEXT,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    idle_timeout_secs BIGINT NOT NULL,
    address TEXT,
    user_agent TEXT,
    ended_at TIMESTAMP,
    ended_reason TEXT
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);
-- Refresh tokens: only the SHA-256 of the 32 random bytes is stored. A
-- refresh spends its token (`spent_at`) and issues the next; presenting a
-- spent one again ends the whole session.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    spent_at TIMESTAMP
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
-- A web session is one of those sessions (ending it ends the web session).
ALTER TABLE web_sessions ADD COLUMN auth_session_id TEXT;
