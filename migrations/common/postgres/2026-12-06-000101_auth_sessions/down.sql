ALTER TABLE web_sessions DROP COLUMN auth_session_id;
DROP TABLE refresh_tokens;
DROP TABLE auth_sessions;
