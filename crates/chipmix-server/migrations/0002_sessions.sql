-- Dashboard sign-ins. The browser's cookie holds a random session id; the server keeps only
-- its SHA-256, the token it was opened with, and when it ends. Signing out deletes the row;
-- revoking the token ends every session opened with it (the lookup joins `tokens`).

CREATE TABLE sessions (
    id {{id}},
    session_sha256 TEXT NOT NULL UNIQUE,
    token_id BIGINT NOT NULL REFERENCES tokens (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_expires_at ON sessions (expires_at);
