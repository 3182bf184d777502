// Package store defines the one interface through which hookrelay reads and
// writes its state, with a Params struct per method so a new field never
// breaks a caller. The engine (store/engine) implements it, with every
// product rule, on a driver that holds one database's SQL: sqlite (the
// embedded default) or postgres (several nodes). storetest is the
// behaviour suite both run.
//
// Drivers never call time.Now: every time arrives in Params, so tests drive
// schedules with a fake clock.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hookrelay/hookrelay/internal/webhook"
)

// ErrInvalidCursor is returned for a cursor the store did not issue.
var ErrInvalidCursor = errors.New("invalid cursor")

// Store is everything hookrelay persists.
type Store interface {
	OperatorStore  // accounts, keys, members, catalog, credit alerts: operator.go
	StatsStore     // what /metrics reads at scrape time: stats.go
	DashboardStore // members' sign-in, sessions, hourly counts: dashboard.go

	// Migrate applies pending schema migrations.
	Migrate(ctx context.Context) error
	// MigrationsApply applies pending schema migrations and names each one
	// applied, in order (empty when the schema was current).
	MigrationsApply(ctx context.Context) ([]string, error)
	// Ready reports an error unless the database answers and its schema is current.
	Ready(ctx context.Context) error
	Close() error

	AccountCreate(ctx context.Context, p AccountCreateParams) (webhook.Account, error)
	AccountGet(ctx context.Context, id string) (webhook.Account, error)

	APIKeyCreate(ctx context.Context, p APIKeyCreateParams) (webhook.APIKey, error)
	// APIKeyGetByHash returns the key with that hash, revoked or not.
	APIKeyGetByHash(ctx context.Context, hash []byte) (webhook.APIKey, error)
	APIKeyRevoke(ctx context.Context, p APIKeyRevokeParams) error

	MemberCreate(ctx context.Context, p MemberCreateParams) (webhook.Member, error)

	EventTypeCreate(ctx context.Context, p EventTypeCreateParams) (webhook.EventType, error)
	EventTypeList(ctx context.Context) ([]webhook.EventType, error)

	EndpointCreate(ctx context.Context, p EndpointCreateParams) (webhook.Endpoint, error)
	EndpointGet(ctx context.Context, p EndpointGetParams) (webhook.Endpoint, error)
	EndpointList(ctx context.Context, p EndpointListParams) (Page[webhook.Endpoint], error)
	// SealedSecretSample returns one signing secret as stored (sealed), so
	// that a process can check at start that its encryption key opens the
	// secrets the database holds. webhook.ErrNotFound when there is none.
	SealedSecretSample(ctx context.Context) (SealedSecret, error)
	// EndpointDelete removes the endpoint from view and drops its pending
	// and queued deliveries; its log stays until retention prunes it. It
	// returns how many deliveries it dropped.
	EndpointDelete(ctx context.Context, p EndpointDeleteParams) (int, error)

	// EventsPublish commits a batch of events and fans each out into one
	// delivery per subscribed endpoint, all in one transaction (one fsync).
	// An item whose EventID already exists in its account creates nothing and
	// returns the first result with Duplicate set.
	EventsPublish(ctx context.Context, p EventsPublishParams) ([]PublishResult, error)

	DeliveryList(ctx context.Context, p DeliveryListParams) (Page[webhook.Delivery], error)
	// DeliveryGet returns one delivery with its payload and attempts.
	DeliveryGet(ctx context.Context, p DeliveryGetParams) (webhook.Delivery, error)
	// DeliveryReplay makes a delivery pending and due now, keeping its id and
	// starting its retry schedule afresh. webhook.ErrConflict while the
	// endpoint is disabled.
	DeliveryReplay(ctx context.Context, p DeliveryReplayParams) (webhook.Delivery, error)
	// DeliveryCreateTest creates a webhook.test event with one delivery to
	// one endpoint, whatever it subscribes to. webhook.ErrConflict while
	// the endpoint is disabled.
	DeliveryCreateTest(ctx context.Context, p DeliveryCreateTestParams) (webhook.Delivery, error)

	// EndpointsClaim leases endpoints that have due work and no live lease.
	EndpointsClaim(ctx context.Context, p EndpointsClaimParams) ([]ClaimedEndpoint, error)
	// EndpointsRenew extends every lease the owner holds and returns the ids
	// it still holds; an endpoint missing from the answer was lost.
	EndpointsRenew(ctx context.Context, p EndpointsRenewParams) ([]string, error)
	// EndpointRelease gives up a lease when the endpoint has nothing due,
	// recording when it next will. It reports false, keeping the lease, when
	// work is due after all (it arrived since the owner last looked).
	EndpointRelease(ctx context.Context, p EndpointReleaseParams) (bool, error)
	// EndpointsRelease gives back every lease the owner holds, whatever is
	// due (a dispatcher shutting down), and reports how many.
	EndpointsRelease(ctx context.Context, p EndpointsReleaseParams) (int, error)
	// DeliveriesDue lists an endpoint's pending deliveries that are due, in
	// the order they must start: due time, then publish order.
	DeliveriesDue(ctx context.Context, p DeliveriesDueParams) ([]DueDelivery, error)
	// DeliveriesDueBatch answers several DeliveriesDue at once, from one
	// consistent view: the dispatcher gathers its workers' reads into one.
	DeliveriesDueBatch(ctx context.Context, ps []DeliveriesDueParams) ([][]DueDelivery, error)
	// DeliveriesRecord stores attempt results, many in one transaction.
	DeliveriesRecord(ctx context.Context, results []AttemptResult) error

	// Prune deletes what retention no longer keeps: finished deliveries
	// created before Before with their attempts, events created before it
	// that have no delivery left, hourly endpoint stats before it, deleted
	// endpoints with no delivery left, and idempotency records created
	// before IdempotencyBefore. Each kind goes at most Limit rows per call,
	// and the answer is the most rows of one kind deleted: a caller that
	// calls again while it equals Limit drains every kind.
	Prune(ctx context.Context, p PruneParams) (int, error)

	// EndpointDisable stops deliveries to an endpoint: its pending
	// deliveries become queued, and an endpoint.disabled event is published
	// into the operator account. It reports false when it was already
	// disabled (nothing changes, nothing is published).
	EndpointDisable(ctx context.Context, p EndpointDisableParams) (bool, error)
	// EndpointEnable makes a disabled endpoint active with a fresh breaker;
	// queued deliveries stay queued until DeliveriesQueuedDeliver.
	EndpointEnable(ctx context.Context, p EndpointEnableParams) (bool, error)
	// DeliveryQueuedList lists an endpoint's queued deliveries, oldest first.
	DeliveryQueuedList(ctx context.Context, p DeliveryQueuedListParams) (Page[webhook.Delivery], error)
	// DeliveriesQueuedDeliver makes an active endpoint's queued deliveries
	// pending, due in their publish order. webhook.ErrConflict while the
	// endpoint is disabled.
	DeliveriesQueuedDeliver(ctx context.Context, p DeliveriesQueuedDeliverParams) (int, error)
	// QueueExpire drops queued deliveries older than the queue's age limit
	// and returns how many it dropped.
	QueueExpire(ctx context.Context, p QueueExpireParams) (int, error)

	// EndpointUpdate changes an endpoint's URL, subscriptions, description
	// or ordering; nil fields stay as they are.
	EndpointUpdate(ctx context.Context, p EndpointUpdateParams) (webhook.Endpoint, error)
	// EndpointRotateSecret adds a new signing secret; the valid old ones
	// expire after the grace period (at once when it is zero).
	EndpointRotateSecret(ctx context.Context, p EndpointRotateSecretParams) error
	// EndpointReload re-reads what a dispatcher holding the endpoint uses
	// to send (URL, ordering, secrets valid now, health): a DueDelivery
	// carrying a newer SecretVersion than the one held tells it to, and an
	// owner's action can half-open the breaker of an endpoint it holds.
	EndpointReload(ctx context.Context, p EndpointReloadParams) (ClaimedEndpoint, error)
	// DeliveriesRecover re-sends an endpoint's failed deliveries created in
	// [Since, Until): pending, due now, with a fresh retry schedule.
	// webhook.ErrConflict while the endpoint is disabled.
	DeliveriesRecover(ctx context.Context, p DeliveriesRecoverParams) (int, error)
	// EventList lists an account's events oldest first: the polling API.
	EventList(ctx context.Context, p EventListParams) (Page[webhook.Event], error)

	// IdempotencyBegin claims an idempotency key for Owner. It returns the
	// stored response of a completed request with that key, or starts a
	// new one; webhook.ErrConflict while a live process holds the key (its
	// process row exists with a heartbeat since AliveSince). A key held by
	// a process that is gone is taken over, whatever its request was.
	IdempotencyBegin(ctx context.Context, p IdempotencyBeginParams) (*IdempotentResponse, error)
	// IdempotencyComplete stores the response of a request begun with a
	// key, if Owner still holds it.
	IdempotencyComplete(ctx context.Context, p IdempotencyCompleteParams) error
	// IdempotencyAbort forgets a key Owner holds whose request did not
	// complete, so it can be retried.
	IdempotencyAbort(ctx context.Context, p IdempotencyAbortParams) error

	// ProcessHeartbeat registers a process, or refreshes its heartbeat.
	ProcessHeartbeat(ctx context.Context, p Process) error
	// ProcessList lists the registered processes.
	ProcessList(ctx context.Context) ([]Process, error)
	// ProcessRemove unregisters a process and frees what it held: the
	// idempotency keys it left in progress.
	ProcessRemove(ctx context.Context, id string) error
}

// Process is a hookrelay process using the database.
type Process struct {
	ID string
	// Host says where PID means something: two processes with the same
	// non-empty Host see the same pids. Empty when unknown.
	Host        string
	PID         int
	PIDStart    int64 // the pid's start time, to tell a reused pid
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// Page is one page of a list.
type Page[T any] struct {
	Items      []T
	NextCursor string // empty on the last page
}

type AccountCreateParams struct {
	ID   string
	Name string
	Now  time.Time
}

type APIKeyCreateParams struct {
	ID        string
	AccountID string // empty for an operator key
	Name      string
	Prefix    string
	Hash      []byte
	Scopes    []string
	Now       time.Time
}

type APIKeyRevokeParams struct {
	AccountID string
	ID        string
	Now       time.Time
}

type MemberCreateParams struct {
	ID           string
	AccountID    string
	Email        string
	Role         string
	PasswordHash string
	Now          time.Time
}

type EventTypeCreateParams struct {
	Name        string
	Description string
	Example     json.RawMessage
	Deprecated  bool
	Now         time.Time
}

type EndpointCreateParams struct {
	ID          string
	AccountID   string
	URL         string
	Description string
	Events      []string
	StrictOrder bool
	Secret      webhook.EndpointSecret
	Now         time.Time
}

// SealedSecret is a signing secret as stored: sealed with the encryption
// key, bound to its endpoint's id.
type SealedSecret struct {
	EndpointID string
	Ciphertext []byte
}

type EndpointGetParams struct {
	AccountID string
	ID        string
	Now       time.Time // for success_rate_24h
}

type EndpointListParams struct {
	AccountID string
	Now       time.Time // for success_rate_24h
	Search    string    // substring of URL or description
	Cursor    string
	Limit     int
}

type EndpointDeleteParams struct {
	AccountID string
	ID        string
	Now       time.Time
}

type EventsPublishParams struct {
	Events []PublishEvent
	Now    time.Time // the publish time of every event in the batch
	// QueueMax caps each disabled endpoint's queue; the oldest queued
	// deliveries beyond it become dropped. 0: no cap.
	QueueMax int
}

type PublishEvent struct {
	AccountID string
	EventID   string // chosen by the publisher (idempotent) or generated by intake
	Type      string
	SubjectID string
	Data      json.RawMessage
}

type PublishResult struct {
	Event       webhook.Event
	Duplicate   bool
	EndpointIDs []string // endpoints given a pending delivery, to wake their dispatchers
	// Dropped is how many queued deliveries the publish turned into dropped
	// by the queue's size limit (QueueMax). Each endpoint's drops in a batch
	// are counted once, on the last event of the batch queued for it, so
	// the results of a batch add up to what the batch dropped.
	Dropped int
}

type DeliveryListParams struct {
	AccountID  string
	EndpointID string
	EventType  string
	Status     webhook.DeliveryStatus
	SubjectID  string
	Since      *time.Time
	Until      *time.Time
	Cursor     string
	Limit      int
}

type DeliveryGetParams struct {
	AccountID  string
	EndpointID string
	ID         string
}

type DeliveryReplayParams struct {
	AccountID  string
	EndpointID string
	ID         string
	Now        time.Time
}

type DeliveryCreateTestParams struct {
	AccountID  string
	EndpointID string
	EventID    string
	DeliveryID string
	Data       json.RawMessage
	Now        time.Time
}

type EndpointsClaimParams struct {
	Owner      string
	Now        time.Time
	LeaseUntil time.Time
	Limit      int
}

// ClaimedEndpoint is what a dispatcher needs to send to an endpoint.
type ClaimedEndpoint struct {
	ID            string
	AccountID     string
	URL           string
	StrictOrder   bool
	Secrets       []webhook.EndpointSecret // valid ones, newest first
	CreatedAt     time.Time
	Health        EndpointHealth
	SecretVersion int64
}

// EndpointHealth is the state behind the circuit breaker and auto-disable.
// The dispatcher holding an endpoint's lease decides it; the store keeps it
// so that it survives restarts and is shared by every node.
type EndpointHealth struct {
	ConsecutiveFailures int        // failed attempts in a row
	BreakerTrips        int        // breaker trips in a row
	BreakerOpenUntil    *time.Time // nil: closed
	FailedDeliveries    int        // deliveries in a row that exhausted their retries
	LastSuccessAt       *time.Time
}

type EndpointsRenewParams struct {
	Owner      string
	Now        time.Time
	LeaseUntil time.Time
}

type EndpointReleaseParams struct {
	Owner      string
	EndpointID string
	Now        time.Time
	// Force releases even with work due (at shutdown, so another node takes
	// it over at once instead of after the lease expires).
	Force bool
}

type EndpointsReleaseParams struct {
	Owner string
}

type EndpointUpdateParams struct {
	AccountID   string
	ID          string
	URL         *string
	Events      []string // nil: unchanged
	Description *string
	StrictOrder *bool
	Now         time.Time
}

type EndpointRotateSecretParams struct {
	AccountID string
	ID        string
	Secret    webhook.EndpointSecret
	Grace     time.Duration
	Now       time.Time
}

type EndpointReloadParams struct {
	EndpointID string
	Now        time.Time
}

type DeliveriesRecoverParams struct {
	AccountID  string
	EndpointID string
	Since      time.Time
	Until      *time.Time
	Now        time.Time
}

type EventListParams struct {
	AccountID string
	EventType string
	Cursor    string
	Limit     int
}

// IdempotencyKey names a key within the scope that used it (an API key).
type IdempotencyKey struct {
	Scope string
	Key   string
}

type IdempotencyBeginParams struct {
	IdempotencyKey
	Owner       string // the process beginning the request
	Fingerprint []byte // keyed hash of the request: method, path, query and body
	Now         time.Time
	// AliveSince: a holder whose heartbeat is older is gone.
	AliveSince time.Time
	// StaleAfter lets a request take over a key begun with no owner
	// recorded (by an older version) after this long.
	StaleAfter time.Duration
}

// IdempotentResponse is a stored answer. Mismatch is set when the key was
// first used with another request: nothing was stored for this one.
type IdempotentResponse struct {
	Status   int
	Body     []byte
	Mismatch bool
}

type IdempotencyCompleteParams struct {
	IdempotencyKey
	Owner  string
	Status int
	Body   []byte // stored as given: the API seals it
	Now    time.Time
}

type IdempotencyAbortParams struct {
	IdempotencyKey
	Owner string
}

type DeliveriesDueParams struct {
	EndpointID string
	Now        time.Time
	Limit      int
	// After continues a scan past the last delivery the caller already
	// holds, so a busy endpoint's queue is read once, not re-read from its
	// head on every refill. nil starts from the oldest due delivery.
	After *DuePosition
	// StrictOrder returns only the oldest pending delivery, and only if
	// it is due: nothing overtakes it, not even deliveries due earlier.
	StrictOrder bool
}

// DuePosition is a place in an endpoint's due order: due time, then
// publish order.
type DuePosition struct {
	DueAt time.Time
	Seq   int64
}

// DueDelivery is a pending delivery with what its body is built from.
type DueDelivery struct {
	ID              string
	EventID         string
	EventType       string
	Data            json.RawMessage
	PublishedAt     time.Time
	DueAt           time.Time
	Position        DuePosition
	SecretVersion   int64 // the endpoint's secrets version when read
	AttemptCount    int   // attempts so far, over all replays
	ScheduleAttempt int   // attempts since the schedule last started
}

// AttemptResult is one finished attempt and what it decided.
type AttemptResult struct {
	DeliveryID      string
	Attempt         webhook.Attempt
	Status          webhook.DeliveryStatus // pending (a retry), delivered or failed
	NextAttemptAt   time.Time              // when Status is pending
	ScheduleAttempt int
	// Health, when set, is the endpoint's health after this attempt,
	// written only while Owner still holds the endpoint's lease.
	EndpointID string
	Owner      string
	Health     *EndpointHealth
}

type PruneParams struct {
	Before time.Time
	Limit  int
	// IdempotencyBefore: stored idempotent responses older than this go too.
	IdempotencyBefore time.Time
}

type EndpointDisableParams struct {
	AccountID string
	ID        string
	Reason    string
	Now       time.Time
}

type EndpointEnableParams struct {
	AccountID string
	ID        string
	Now       time.Time
}

type DeliveryQueuedListParams struct {
	AccountID  string
	EndpointID string
	Cursor     string
	Limit      int
}

type DeliveriesQueuedDeliverParams struct {
	AccountID  string
	EndpointID string
	Now        time.Time
}

type QueueExpireParams struct {
	Before time.Time // queued deliveries created before this are dropped
	Reason string    // recorded on each dropped delivery
	Now    time.Time
	Limit  int
}
