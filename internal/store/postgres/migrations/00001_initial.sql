-- +goose Up
-- The same tables as the SQLite schema, so one engine maps both: times are
-- unix milliseconds (BIGINT), seq columns are identities. Comments on what
-- a column means are in the SQLite schema; here, what differs.

CREATE TABLE accounts (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO accounts (id, name, created_at) VALUES ('acc_operator', 'operator', 0);

CREATE TABLE api_keys (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    account_id TEXT,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    hash       BYTEA NOT NULL UNIQUE,
    scopes     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_account ON api_keys (account_id, seq) WHERE account_id IS NOT NULL;

CREATE TABLE members (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (account_id, email)
);
CREATE UNIQUE INDEX members_primary_owner ON members (account_id) WHERE role = 'primary-owner';
CREATE INDEX members_account ON members (account_id, seq);

CREATE TABLE event_types (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    example     TEXT,
    deprecated  BOOLEAN NOT NULL DEFAULT false,
    reserved    BOOLEAN NOT NULL DEFAULT false,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
INSERT INTO event_types (name, description, reserved, created_at, updated_at) VALUES
    ('webhook.test', 'Sent to one endpoint on demand (Send test event), whatever it subscribes to.', true, 0, 0),
    ('endpoint.disabled', 'An endpoint was disabled, by hand, by a 410 Gone answer or because its deliveries kept failing.', true, 0, 0),
    ('endpoint.enabled', 'An endpoint was enabled again.', true, 0, 0),
    ('delivery.failed', 'A delivery exhausted its retries.', true, 0, 0);

CREATE TABLE endpoints (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    account_id      TEXT NOT NULL,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    events          TEXT NOT NULL,
    strict_order    BOOLEAN NOT NULL DEFAULT false,
    status          TEXT NOT NULL DEFAULT 'active',
    disabled_reason TEXT NOT NULL DEFAULT '',
    disabled_at     BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    deleted_at      BIGINT,
    next_due_at      BIGINT,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    breaker_trips        INTEGER NOT NULL DEFAULT 0,
    breaker_open_until   BIGINT,
    failed_deliveries    INTEGER NOT NULL DEFAULT 0,
    last_success_at      BIGINT,
    secret_version       BIGINT NOT NULL DEFAULT 0,
    queued_count         INTEGER NOT NULL DEFAULT 0,
    dropped_count        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX endpoints_account ON endpoints (account_id, seq) WHERE deleted_at IS NULL;
CREATE INDEX endpoints_due ON endpoints (next_due_at) WHERE next_due_at IS NOT NULL;
CREATE INDEX endpoints_lease ON endpoints (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE endpoint_secrets (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_seq BIGINT NOT NULL,
    ciphertext   BYTEA NOT NULL,
    prefix       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT
);
CREATE INDEX endpoint_secrets_endpoint ON endpoint_secrets (endpoint_seq, seq);

CREATE TABLE subscriptions (
    account_id   TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    endpoint_seq BIGINT NOT NULL,
    PRIMARY KEY (account_id, event_type, endpoint_seq)
);
CREATE INDEX subscriptions_endpoint ON subscriptions (endpoint_seq);

-- 'subscriptions': share-locked by every publish, bumped by every change
-- of who receives what. 'publish_clock': the lock that puts positions in
-- commit order, and the last publish time (see internal/store/engine).
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('subscriptions', 0), ('publish_clock', 0);

CREATE TABLE events (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT NOT NULL,
    account_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    subject_id TEXT NOT NULL DEFAULT '',
    data       BYTEA NOT NULL,
    deliveries INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, id)
);
CREATE INDEX events_account_type ON events (account_id, event_type, seq);
CREATE INDEX events_account ON events (account_id, seq);
CREATE INDEX events_account_subject ON events (account_id, subject_id) WHERE subject_id <> '';
CREATE INDEX events_created ON events (created_at);

CREATE TABLE deliveries (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    account_id       TEXT NOT NULL,
    endpoint_seq     BIGINT NOT NULL,
    event_seq        BIGINT NOT NULL,
    event_type       TEXT NOT NULL,
    subject_id       TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL,
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    schedule_attempt INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (endpoint_seq, next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_seq, seq);
CREATE INDEX deliveries_endpoint_type ON deliveries (endpoint_seq, event_type, seq);
CREATE INDEX deliveries_failed ON deliveries (endpoint_seq, seq) WHERE status = 'failed';
CREATE INDEX deliveries_queued ON deliveries (endpoint_seq, seq) WHERE status = 'queued';
CREATE INDEX deliveries_dropped ON deliveries (endpoint_seq, seq) WHERE status = 'dropped';
CREATE INDEX deliveries_queued_age ON deliveries (created_at) WHERE status = 'queued';
CREATE INDEX deliveries_created ON deliveries (created_at);
CREATE INDEX deliveries_event ON deliveries (event_seq);

CREATE TABLE attempts (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_seq     BIGINT NOT NULL,
    attempted_at     BIGINT NOT NULL,
    duration_ms      BIGINT NOT NULL,
    status_code      INTEGER NOT NULL,
    error            TEXT NOT NULL,
    response_headers TEXT NOT NULL,
    response_body    BYTEA NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_seq, seq);

CREATE TABLE endpoint_stats (
    endpoint_seq BIGINT NOT NULL,
    hour         BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    successes    BIGINT NOT NULL DEFAULT 0,
    delivered    BIGINT NOT NULL DEFAULT 0,
    failed       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint_seq, hour)
);

CREATE TABLE idempotency_keys (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint BYTEA NOT NULL,
    status      INTEGER,
    body        BYTEA,
    created_at  BIGINT NOT NULL,
    owner       TEXT,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE INDEX idempotency_keys_owner ON idempotency_keys (owner) WHERE owner IS NOT NULL;

CREATE TABLE processes (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    pid_start    BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- Dashboard sessions; only the token's SHA-256 is stored.
CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    account_id TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    idle_until BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_member ON sessions (member_id);
CREATE INDEX members_email ON members (email);

CREATE TABLE credit_thresholds (
    account_id TEXT NOT NULL,
    threshold  DOUBLE PRECISION NOT NULL,
    armed      BOOLEAN NOT NULL DEFAULT true,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, threshold)
);

CREATE TABLE credit_balances (
    account_id  TEXT PRIMARY KEY,
    balance     DOUBLE PRECISION NOT NULL,
    reported_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE credit_balances;
DROP TABLE credit_thresholds;
DROP TABLE sessions;
DROP TABLE processes;
DROP TABLE idempotency_keys;
DROP TABLE endpoint_stats;
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE events;
DROP TABLE counters;
DROP TABLE subscriptions;
DROP TABLE endpoint_secrets;
DROP TABLE endpoints;
DROP TABLE event_types;
DROP TABLE members;
DROP TABLE api_keys;
DROP TABLE accounts;
