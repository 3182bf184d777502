package engine

import (
	"context"
	"strings"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// SQL is a driver's statements, named for what they do. Parameters are
// positional; each comment lists them in order. Times are unix
// milliseconds. A statement marked "locks" must, on a database with
// several writers, lock the rows it reads until commit; on SQLite the one
// writer already does. Column lists are those the engine scans.
type SQL struct {
	// PublishClock (now) → last publish time: takes the publish clock (the
	// lock that puts seqs in commit order) and advances it to now when
	// now is later.
	PublishClock string
	// SubscriptionsVersion () → version; on PostgreSQL a share lock.
	SubscriptionsVersion string
	// SubscriptionsBump (): exclusive lock, then version + 1.
	SubscriptionsBump string
	// Subscribers (account, event type) → endpoint seq, id, status, of the
	// live endpoints subscribed to the type or to '*', in seq order.
	Subscribers         string
	SubscriptionsDelete string // (endpoint seq)
	SubscriptionInsert  string // (account, event type, endpoint seq); ignores duplicates

	// EventsFind (account, id) × n → account_id, id, event_type,
	// subject_id, data, deliveries, created_at of those that exist.
	EventsFind  func(n int) string
	EventInsert string // (id, account, type, subject, data, deliveries, created_at) → seq
	// EventsInsert (EventInsert's parameters) × n → account_id, id, seq.
	EventsInsert func(n int) string
	EventList    struct {
		Select string // (account, after seq) → seq, id, event_type, subject_id, data, deliveries, created_at
		Type   string // (event type)
		Order  string // (limit) oldest first
	}

	// DeliveryInsert (id, account, endpoint seq, event seq, type, subject,
	// status, next_attempt_at, created_at, updated_at).
	DeliveryInsert string
	// DeliveriesInsert (DeliveryInsert's parameters) × n.
	DeliveriesInsert func(n int) string
	// DeliveryList builds the delivery log's query: Select + From + Where
	// and the filters given, then Order. Rows are deliveryColumns.
	DeliveryList struct {
		Select string
		// From picks the tables (and on SQLite the index) for the filters.
		From    func(ctx context.Context, r Querier, endpointSeq int64, p store.DeliveryListParams) (string, error)
		Where   string                              // (endpoint seq)
		Before  string                              // (seq)
		Type    string                              // (event type)
		Status  func(webhook.DeliveryStatus) string // a valid status, inlined
		Subject string                              // (account, subject)
		Since   string                              // (since, since)
		Until   string                              // (until, until)
		Order   string                              // (limit) newest first
	}
	// DeliveryGet (id, account, endpoint id) → deliveryColumns, data, event created_at.
	DeliveryGet string
	AttemptsOf  string // (delivery seq) → attempted_at, duration_ms, status_code, error, response_headers, response_body
	// DeliveryStatusLock (id, endpoint seq, account) → status; locks.
	DeliveryStatusLock string
	// DeliveryReplay (now, now, id, endpoint seq, account): pending, due now, schedule afresh.
	DeliveryReplay string
	// DeliveriesRecover (now, now, endpoint seq, since, until): failed → pending.
	DeliveriesRecover string
	// DeliveriesCancel (reason, now, endpoint seq, status) → dropped.
	DeliveriesCancel string
	// DeliveriesQueue (now, endpoint seq): pending → queued.
	DeliveriesQueue string
	// QueuedList (endpoint seq, after seq, limit) → deliveryColumns, oldest first.
	QueuedList string
	// QueuedDeliver (now, endpoint seq): queued → pending, due at created_at.
	QueuedDeliver string
	// QueuedDrop (reason, now, endpoint seq, n): the n oldest queued → dropped.
	QueuedDrop string
	// QueuedExpired (before, limit) → endpoint seq, count of the oldest
	// queued deliveries created before.
	QueuedExpired string

	// EndpointsClaim (owner, lease until, now, limit) → seq, id, account,
	// url, strict_order, created_at, consecutive_failures, breaker_trips,
	// breaker_open_until, failed_deliveries, last_success_at,
	// secret_version: leases endpoints with due work and no live lease,
	// skipping rows another claim holds.
	EndpointsClaim string
	SecretsValid   string // (endpoint seq, now) → ciphertext, prefix, created_at, expires_at; newest first
	EndpointsRenew string // (lease until, owner) → id
	// EndpointLeaseLock (id, owner) → seq, strict_order, breaker_open_until; locks.
	EndpointLeaseLock     string
	EndpointNextDue       string // (endpoint seq) → earliest next_attempt_at of its pending deliveries (NULL: none)
	EndpointNextDueStrict string // (endpoint seq) → next_attempt_at of its oldest pending delivery
	EndpointRelease       string // (next due, endpoint seq)
	// EndpointsWake (at, at, endpoint seq × n): lowers next_due_at to at.
	EndpointsWake func(n int) string
	// Notify (comma-separated endpoint ids) tells every listening process,
	// at commit, that these endpoints have work due; "" when the database
	// has no notifications (SQLite: other processes poll).
	Notify string
	// DeliveriesDue (endpoint id, now, after due, after seq, limit) →
	// seq, id, event id, type, data, published, due, attempt_count,
	// schedule_attempt, secret_version; in due order after the position.
	DeliveriesDue string
	// DeliveriesDueStrict (endpoint id) → the same for the oldest pending delivery.
	DeliveriesDueStrict string
	// DeliveriesForRecord (id × n) → id, seq, endpoint seq, status,
	// endpoint status, account, endpoint id, event id, type,
	// attempt_count; locks, in seq order.
	DeliveriesForRecord func(n int) string
	// DeliveriesRecord (status, next_attempt_at, schedule_attempt, status
	// code, error, now, seq) × n; attempt_count + 1.
	DeliveriesRecord func(n int) string
	// AttemptsInsert (delivery seq, attempted_at, duration_ms, status_code,
	// error, headers, body) × n.
	AttemptsInsert func(n int) string
	// EndpointHealthSet (failures, trips, open until, failed deliveries, last success, id, owner).
	EndpointHealthSet string
	// EndpointStatsAdd (endpoint seq, hour, attempts, successes, delivered, failed): adds.
	EndpointStatsAdd string
	// EndpointQueuedAdd (n, endpoint seq) → queued_count after.
	EndpointQueuedAdd string
	// EndpointDroppedAdd (n, n, endpoint seq): queued_count - n, dropped_count + n.
	EndpointDroppedAdd string

	PruneDeliveries   string             // (before, limit) → seq of finished deliveries deleted
	PruneAttempts     func(n int) string // (delivery seq × n)
	PruneStats        string             // (before)
	PruneIdempotency  string             // (before, limit)
	PruneEvents       string             // (before, limit): events with no delivery left
	PruneEndpointRows []string           // (before, limit): rows of deleted endpoints with no delivery left
	PruneEndpoints    string             // (before, limit)

	// EndpointInsert (id, account, url, description, events, strict, now, now) → seq.
	EndpointInsert string
	SecretInsert   string // (endpoint seq, ciphertext, prefix, created_at, expires_at)
	// EndpointGet (window start, id, account) → endpointColumns.
	EndpointGet  string
	EndpointList struct {
		Select string // (window start, account) → endpointColumns
		Before string // (seq)
		Search string // (pattern, pattern)
		Order  string // (limit) newest first
	}
	EndpointSeq       string // (id, account) → seq of a live endpoint
	EndpointSeqStatus string // (id, account) → seq, status
	// EndpointDelete (now, now, id, account) → seq: hides it and stops dispatch.
	EndpointDelete string
	// EndpointUpdate (url, description, strict, events, now, seq): NULL
	// keeps a column; bumps secret_version so the lease holder reloads.
	EndpointUpdate            string
	SecretsExpire             string // (until, endpoint seq, until)
	SecretsDeleteExpired      string // (endpoint seq, now)
	EndpointSecretVersionBump string // (now, seq)
	// EndpointReload (id) → seq, id, account, url, strict_order,
	// created_at, secret_version, consecutive_failures, breaker_trips,
	// breaker_open_until, failed_deliveries, last_success_at.
	EndpointReload string
	// EndpointBreakerProbe (now, seq, now): an open breaker half-opens now.
	EndpointBreakerProbe string
	SecretSample         string // () → endpoint id, ciphertext
	// EndpointDisable (reason, now, now, id, account) → seq, url; only an active one.
	EndpointDisable string
	// EndpointEnable (now, id, account) → seq, url, queued_count; only a disabled one.
	EndpointEnable string

	IdempotencyInsert string // (scope, key, fingerprint, now, owner); does nothing if the key exists
	// IdempotencyGet (owner, alive since, scope, key) → fingerprint,
	// status, body, created_at, owner, owner alive; locks.
	IdempotencyGet       string
	IdempotencyTakeOver  string // (fingerprint, now, owner, scope, key)
	IdempotencyComplete  string // (status, body, scope, key, owner)
	IdempotencyAbort     string // (scope, key, owner)
	IdempotencyFreeOwner string // (owner)
	ProcessHeartbeat     string // (id, host, pid, pid start, started, heartbeat)
	ProcessList          string
	ProcessDelete        string // (id)

	AccountInsert string // (id, name, now)
	AccountGet    string // (id) → id, name, created_at
	AccountExists string // (id) → 1
	AccountLock   string // (id) → 1; locks
	AccountList   struct {
		Select string // () → seq, id, name, created_at
		Before string // (seq)
		Search string // (pattern), case-insensitive
		Order  string // (limit) newest first
	}
	// AccountDelete: statements run in order with (account id).
	AccountDelete []string

	APIKeyInsert string // (id, account or NULL, name, prefix, hash, scopes, now)
	APIKeyByHash string // (hash) → apiKeyColumns
	APIKeyGet    string // (id, account) → apiKeyColumns
	APIKeyRevoke string // (now, id, account or NULL)
	APIKeyList   struct {
		Select         string // (account)
		SelectOperator string // ()
		Before         string // (seq)
		Order          string // (limit)
	}

	MemberInsert        string // (id, account, email, role, password hash, now)
	MemberGet           string // (account, id) → seq, id, account, email, role, created_at
	MemberList          string // (account, after, limit)
	MemberCounts        string // (account) → members, primary owners
	MemberEmailTaken    string // (account, email, except id) → 1
	MemberDemotePrimary string // (account)
	MemberUpdate        string // (email, role, password hash or NULL, seq)
	MemberDelete        string // (seq)

	EventTypeInsert      string // (name, description, example, deprecated, now, now)
	EventTypeEnsure      string // (name, description, example, now, now); nothing if it exists
	EventTypeList        string // () → name, description, example, deprecated, reserved, created_at
	EventTypeLock        string // (name) → the same; locks
	EventTypeUpdate      string // (description, example, deprecated, now, name)
	EventTypeReserved    string // (name) → reserved
	EventTypeSubscribers string // (name) → live endpoints subscribed
	EventTypeDelete      string // (name)

	Thresholds       string // (account) → threshold, armed; highest first
	ThresholdDelete  string // (account, threshold)
	ThresholdInsert  string // (account, threshold, now); keeps an existing one
	ThresholdsDisarm string // (account, balance) → thresholds crossed
	ThresholdsArm    string // (account, balance)
	BalanceGet       string // (account) → balance, reported_at
	BalanceSet       string // (account, balance, now)

	// MemberCredentials (email) → id, account, email, role, created_at,
	// password hash of every membership, oldest first.
	MemberCredentials string
	SessionsPrune     string // (now, now, limit): expired sessions
	SessionInsert     string // (token hash, account, member, now, idle until, expires at)
	// SessionGet (token hash, now, now) → member id, account, email, role,
	// created_at, then the session's created_at, idle_until, expires_at.
	SessionGet       string
	SessionTouch     string // (idle until, token hash): no later than expires_at
	SessionDelete    string // (token hash)
	SessionsOfMember string // (member id): deletes them
	EndpointHourly   string // (account, endpoint id, since) → hour, attempts, successes, delivered, failed
	EndpointsRelease string // (owner): every lease it holds; next_due_at as EndpointRelease computes it
	StatsPending     string // () → pending deliveries
	StatsOldestDue   string // (now, now, now) → oldest due time, breaker closed
	StatsEndpoints   string // (now, now) → active, breaker open, disabled, queued
	StatsTopFailing  string // (limit) → id, account, consecutive_failures
}

// Placeholders returns n rows of cols placeholders, "(?, ?), (?, ?)", for
// the drivers' many-row statements.
func Placeholders(n, cols int) string {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return row + strings.Repeat(", "+row, n-1)
}

// List returns n placeholders, "?, ?, ?".
func List(n int) string { return "?" + strings.Repeat(", ?", n-1) }
