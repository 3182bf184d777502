-- +goose Up
-- Times are unix milliseconds (INTEGER): compared on every claim, so they
-- stay numbers; the API renders them as RFC 3339.

CREATE TABLE accounts (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Operational events (endpoint.disabled, delivery.failed, ...) go here.
INSERT INTO accounts (id, name, created_at) VALUES ('acc_operator', 'operator', 0);

CREATE TABLE api_keys (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    account_id TEXT,                -- NULL: an operator key
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE, -- SHA-256 of the key; the key is never stored
    scopes     TEXT NOT NULL,        -- JSON array
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE members (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (account_id, email)
);
-- At most one primary owner per account, enforced by the database.
CREATE UNIQUE INDEX members_primary_owner ON members (account_id) WHERE role = 'primary-owner';

CREATE TABLE event_types (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    example     TEXT,
    deprecated  INTEGER NOT NULL DEFAULT 0,
    reserved    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO event_types (name, description, reserved, created_at, updated_at) VALUES
    ('webhook.test', 'Sent to one endpoint on demand (Send test event), whatever it subscribes to.', 1, 0, 0),
    ('endpoint.disabled', 'An endpoint was disabled, by hand, by a 410 Gone answer or because its deliveries kept failing.', 1, 0, 0),
    ('endpoint.enabled', 'An endpoint was enabled again.', 1, 0, 0),
    ('delivery.failed', 'A delivery exhausted its retries.', 1, 0, 0);

CREATE TABLE endpoints (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    account_id      TEXT NOT NULL,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    events          TEXT NOT NULL, -- JSON array as subscribed
    strict_order    INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'active',
    disabled_reason TEXT NOT NULL DEFAULT '',
    disabled_at     INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    deleted_at      INTEGER,
    -- Dispatch: next_due_at is a lower bound on when a pending delivery of
    -- this endpoint is due (NULL: none pending). A dispatcher leases the
    -- whole endpoint, which keeps its ordering and in-flight cap in one place.
    next_due_at      INTEGER,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    -- Health, written only by the lease holder (and reset on enable).
    consecutive_failures INTEGER NOT NULL DEFAULT 0, -- failed attempts in a row: the breaker's input
    breaker_trips        INTEGER NOT NULL DEFAULT 0, -- trips in a row: the cool-down grows with them
    breaker_open_until   INTEGER,                    -- no attempts before this; one probe after it
    failed_deliveries    INTEGER NOT NULL DEFAULT 0, -- deliveries in a row that exhausted their retries
    last_success_at      INTEGER,
    secret_version       INTEGER NOT NULL DEFAULT 0, -- bumped by rotation: dispatchers reload secrets
    queued_count         INTEGER NOT NULL DEFAULT 0, -- kept in step with deliveries in status queued
    dropped_count        INTEGER NOT NULL DEFAULT 0  -- queued deliveries that fell out of the queue's limits
);
CREATE INDEX endpoints_account ON endpoints (account_id, seq) WHERE deleted_at IS NULL;
CREATE INDEX endpoints_due ON endpoints (next_due_at) WHERE next_due_at IS NOT NULL;
CREATE INDEX endpoints_lease ON endpoints (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE endpoint_secrets (
    seq          INTEGER PRIMARY KEY,
    endpoint_seq INTEGER NOT NULL,
    ciphertext   BLOB NOT NULL, -- XChaCha20-Poly1305, bound to the endpoint id
    prefix       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER
);
CREATE INDEX endpoint_secrets_endpoint ON endpoint_secrets (endpoint_seq, seq);

-- Fan-out reads this on every publish: one row per subscribed type ('*' for all).
CREATE TABLE subscriptions (
    account_id   TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    endpoint_seq INTEGER NOT NULL,
    PRIMARY KEY (account_id, event_type, endpoint_seq)
) WITHOUT ROWID;
CREATE INDEX subscriptions_endpoint ON subscriptions (endpoint_seq);

-- Bumped by every change to who receives what (endpoints created, deleted,
-- enabled, disabled, resubscribed), so each process can cache the fan-out
-- and know, with one read per transaction, when its cache is stale.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('subscriptions', 0);

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL,
    account_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    subject_id TEXT NOT NULL DEFAULT '',
    data       BLOB NOT NULL,
    deliveries INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, id)
);
CREATE INDEX events_account_type ON events (account_id, event_type, seq);
CREATE INDEX events_account ON events (account_id, seq);
-- Looking up deliveries by generation (subject) id goes through the event:
-- one index entry per event instead of one per delivery.
CREATE INDEX events_account_subject ON events (account_id, subject_id) WHERE subject_id <> '';

CREATE TABLE deliveries (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    account_id       TEXT NOT NULL,
    endpoint_seq     INTEGER NOT NULL,
    event_seq        INTEGER NOT NULL,
    event_type       TEXT NOT NULL,
    subject_id       TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL,
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    schedule_attempt INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
-- Every index keyed by endpoint puts each insert on its own page (one per
-- endpoint), and every page written costs a WAL frame at commit: deliveries
-- keep only the indexes their hot paths and the delivery log's filters need.
-- The dispatcher's read: an endpoint's due pending deliveries in order.
CREATE INDEX deliveries_due ON deliveries (endpoint_seq, next_attempt_at, seq) WHERE status = 'pending';
-- The delivery log, newest first; filters on common values scan it.
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_seq, seq);
CREATE INDEX deliveries_endpoint_type ON deliveries (endpoint_seq, event_type, seq);
-- Rare statuses get small partial indexes, written only when a delivery
-- takes the status; 'pending' uses deliveries_due, 'delivered' the scan.
CREATE INDEX deliveries_failed ON deliveries (endpoint_seq, seq) WHERE status = 'failed';
CREATE INDEX deliveries_queued ON deliveries (endpoint_seq, seq) WHERE status = 'queued';
CREATE INDEX deliveries_dropped ON deliveries (endpoint_seq, seq) WHERE status = 'dropped';
-- The queue's age limit finds the oldest queued deliveries of all endpoints.
CREATE INDEX deliveries_queued_age ON deliveries (created_at) WHERE status = 'queued';
-- Append-only (times only grow): since/until become seq bounds through it.
CREATE INDEX deliveries_created ON deliveries (created_at);
CREATE INDEX deliveries_event ON deliveries (event_seq);

CREATE TABLE attempts (
    seq              INTEGER PRIMARY KEY,
    delivery_seq     INTEGER NOT NULL,
    attempted_at     INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    status_code      INTEGER NOT NULL,
    error            TEXT NOT NULL,
    response_headers TEXT NOT NULL, -- JSON object of arrays
    response_body    BLOB NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_seq, seq);

-- Hourly counters per endpoint, written with each batch of attempt results:
-- success_rate_24h and the dashboard's chart read a few rows, never the log.
CREATE TABLE endpoint_stats (
    endpoint_seq INTEGER NOT NULL,
    hour         INTEGER NOT NULL, -- start of the hour, unix ms
    attempts     INTEGER NOT NULL DEFAULT 0,
    successes    INTEGER NOT NULL DEFAULT 0,
    delivered    INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint_seq, hour)
) WITHOUT ROWID;

-- Idempotency-Key: the first response to a key, replayed byte for byte to
-- a repeat for 24 h. status is NULL while the first request is running.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL, -- the API key that used it
    key          TEXT NOT NULL,
    fingerprint  BLOB NOT NULL, -- SHA-256 of method, path, query and body
    status       INTEGER,
    body         BLOB,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The operator's lists: an account's keys (newest first) and members.
CREATE INDEX api_keys_account ON api_keys (account_id, seq) WHERE account_id IS NOT NULL;
CREATE INDEX members_account ON members (account_id, seq);

-- Credit alerts (SPEC §8). A threshold is armed until a reported balance
-- falls below it (which publishes credits.low_balance and disarms it), and
-- armed again when a reported balance rises above it.
CREATE TABLE credit_thresholds (
    account_id TEXT NOT NULL,
    threshold  REAL NOT NULL,
    armed      INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, threshold)
) WITHOUT ROWID;

-- The last balance reported for each account.
CREATE TABLE credit_balances (
    account_id  TEXT PRIMARY KEY,
    balance     REAL NOT NULL,
    reported_at INTEGER NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE credit_balances;
DROP TABLE credit_thresholds;
DROP INDEX members_account;
DROP INDEX api_keys_account;
DROP TABLE idempotency_keys;
DROP TABLE counters;
DROP TABLE endpoint_stats;
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE subscriptions;
DROP TABLE endpoint_secrets;
DROP TABLE endpoints;
DROP TABLE event_types;
DROP TABLE members;
DROP TABLE api_keys;
DROP TABLE accounts;
