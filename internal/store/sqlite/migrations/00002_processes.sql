-- +goose Up
-- The hookrelay processes using this database. A process holds what it
-- marks with its id (an Idempotency-Key in progress) only while its row
-- lives: it refreshes heartbeat_at, and any process removes the row of one
-- that is gone (a heartbeat older than the lease TTL, or on the same host
-- a pid that no longer runs), which frees at once what it held.
CREATE TABLE processes (
    id           TEXT PRIMARY KEY, -- random, new at every start
    host         TEXT NOT NULL,    -- boot id and pid namespace, where pid means something ('' unknown)
    pid          INTEGER NOT NULL,
    pid_start    INTEGER NOT NULL, -- start time in clock ticks after boot: a reused pid is another process
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The process running a key's first request; NULL once it completed (and
-- for keys begun before owners were recorded).
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT;
CREATE INDEX idempotency_keys_owner ON idempotency_keys (owner) WHERE owner IS NOT NULL;

-- +goose Down
DROP INDEX idempotency_keys_owner;
ALTER TABLE idempotency_keys DROP COLUMN owner;
DROP TABLE processes;
