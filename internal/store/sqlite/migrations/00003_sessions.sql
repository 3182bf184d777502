-- +goose Up
-- Dashboard sessions, server-side so that sign-out and removing a member
-- end them at once. The token is in the member's cookie; only its SHA-256
-- is stored.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    account_id TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    idle_until INTEGER NOT NULL, -- pushed forward while used
    expires_at INTEGER NOT NULL  -- the absolute lifetime's end
) WITHOUT ROWID;
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Sign-in finds every membership of an email.
CREATE INDEX members_email ON members (email);

-- +goose Down
DROP INDEX members_email;
DROP TABLE sessions;
