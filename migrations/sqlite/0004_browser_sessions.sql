-- Browser sessions (SPEC §13): the cookie's token, stored hashed, with the hash of the bearer
-- that opened it, so the session is scoped as that bearer and ends when the bearer is revoked.
CREATE TABLE browser_sessions (
    session_hash    TEXT PRIMARY KEY NOT NULL,
    credential_hash TEXT NOT NULL,
    expires_at_ms   INTEGER NOT NULL
);
CREATE INDEX browser_sessions_credential ON browser_sessions (credential_hash);
