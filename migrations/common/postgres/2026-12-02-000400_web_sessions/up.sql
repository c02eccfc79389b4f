-- Server-side sessions of the web interface. The cookie holds a random id;
-- only its SHA-256 is stored, so a copy of the database opens no session.
-- A session names the token id (jti) issued at login, so logout revokes it
-- like the API's, and the user's session epoch, so a password change,
-- reset, role change or deactivation ends it.
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    jti TEXT NOT NULL,
    session_epoch INTEGER NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
