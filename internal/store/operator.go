package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hookrelay/hookrelay/internal/webhook"
)

// OperatorStore is what the operator's routes manage: accounts, their API
// keys and members, the event-type catalog and credit alerts.
//
// Every method that acts on one account's objects finds them by account
// and id together, so an id of another account is webhook.ErrNotFound.
//
// The member, credit-alert and balance methods check state and then write
// in one transaction, serialised per account so the checks still hold at
// commit: the engine locks the account's row first (SQLite's single writer
// needs nothing more; PostgreSQL takes SELECT … FOR UPDATE).
type OperatorStore interface {
	// AccountList lists accounts newest first, the reserved operator
	// account included.
	AccountList(ctx context.Context, p AccountListParams) (Page[webhook.Account], error)

	// APIKeyGet returns one key of one account, revoked or not; with an
	// empty AccountID, an operator key.
	APIKeyGet(ctx context.Context, p APIKeyGetParams) (webhook.APIKey, error)
	// APIKeyList lists an account's keys newest first, revoked ones too;
	// with an empty AccountID, the operator keys.
	APIKeyList(ctx context.Context, p APIKeyListParams) (Page[webhook.APIKey], error)

	// MemberGet returns one member of one account.
	MemberGet(ctx context.Context, p MemberGetParams) (webhook.Member, error)
	// MemberList lists an account's members in the order they were added.
	MemberList(ctx context.Context, p MemberListParams) (Page[webhook.Member], error)
	// MemberUpdate changes a member's email, role or password. Making a
	// member the primary-owner transfers ownership in the same transaction
	// (the previous primary owner becomes an owner); demoting the primary
	// owner is webhook.ErrConflict, as is an email another member has.
	MemberUpdate(ctx context.Context, p MemberUpdateParams) (webhook.Member, error)
	// MemberDelete removes a member; the primary owner is
	// webhook.ErrConflict (transfer ownership first).
	MemberDelete(ctx context.Context, p MemberDeleteParams) error

	// AccountDelete deletes an account and everything it owns: API keys,
	// members, endpoints with their secrets, events, deliveries, attempts
	// and credit alerts. The reserved operator account is
	// webhook.ErrConflict.
	AccountDelete(ctx context.Context, p AccountDeleteParams) error
	// EventTypeDelete removes a type from the catalog. Reserved types and
	// types an endpoint subscribes to are webhook.ErrConflict (saying why);
	// events already published keep their type.
	EventTypeDelete(ctx context.Context, p EventTypeDeleteParams) error

	// EventTypeUpdate changes a type's description, example or deprecated
	// flag. Reserved types cannot be changed (webhook.ErrConflict).
	// Deprecating a type keeps its existing subscriptions and publishes.
	EventTypeUpdate(ctx context.Context, p EventTypeUpdateParams) (webhook.EventType, error)

	// CreditAlertsSet replaces an account's balance thresholds. New ones
	// start armed; ones kept keep their state. With at least one threshold
	// it also adds webhook.CreditsLowBalanceType to the catalog when no
	// type of that name exists, so that accounts can subscribe to it.
	CreditAlertsSet(ctx context.Context, p CreditAlertsSetParams) (CreditAlerts, error)
	// CreditAlertsGet returns an account's thresholds and last balance.
	CreditAlertsGet(ctx context.Context, p CreditAlertsGetParams) (CreditAlerts, error)
	// BalanceReport records an account's balance. Armed thresholds above
	// it (balance < threshold) are crossed: they are disarmed and one
	// credits.low_balance event naming them all is published into the
	// account, in the same transaction, so that concurrent reports never
	// publish twice for one crossing. Disarmed thresholds below it
	// (balance > threshold) are armed again.
	BalanceReport(ctx context.Context, p BalanceReportParams) (BalanceReport, error)
}

type AccountListParams struct {
	Search string // case-insensitive substring of the name
	Cursor string
	Limit  int
}

type AccountDeleteParams struct {
	ID string
}

type EventTypeDeleteParams struct {
	Name string
}

type APIKeyGetParams struct {
	AccountID string
	ID        string
}

type APIKeyListParams struct {
	AccountID string
	Cursor    string
	Limit     int
}

type MemberGetParams struct {
	AccountID string
	ID        string
}

type MemberListParams struct {
	AccountID string
	Cursor    string
	Limit     int
}

// MemberUpdateParams changes what is not nil.
type MemberUpdateParams struct {
	AccountID    string
	ID           string
	Email        *string
	Role         *string
	PasswordHash *string
	Now          time.Time
}

type MemberDeleteParams struct {
	AccountID string
	ID        string
	Now       time.Time
}

// EventTypeUpdateParams changes what is set.
type EventTypeUpdateParams struct {
	Name        string
	Description *string
	// SetExample replaces the example with Example (nil removes it).
	SetExample bool
	Example    json.RawMessage
	Deprecated *bool
	Now        time.Time
}

type CreditAlertsSetParams struct {
	AccountID  string
	Thresholds []float64 // distinct
	Now        time.Time
}

type CreditAlertsGetParams struct {
	AccountID string
}

// CreditAlerts is an account's alert configuration and balance.
type CreditAlerts struct {
	AccountID  string
	Thresholds []CreditThreshold // highest first
	Balance    *float64          // the last balance reported; nil before the first
	ReportedAt *time.Time
}

// CreditThreshold is one alert threshold. Armed means a balance below it
// publishes credits.low_balance; it disarms when it does, and re-arms when
// a balance above it is reported.
type CreditThreshold struct {
	Threshold float64
	Armed     bool
}

type BalanceReportParams struct {
	AccountID string
	Balance   float64
	Now       time.Time
	// QueueMax caps the queues of disabled endpoints, as for EventsPublish.
	QueueMax int
}

// BalanceReport is what a reported balance did.
type BalanceReport struct {
	Balance           float64
	PreviousBalance   *float64  // nil on the account's first report
	ThresholdsCrossed []float64 // highest first; empty when none
	// Published is the credits.low_balance event, nil when nothing was
	// crossed. Its EndpointIDs have new pending deliveries.
	Published *PublishResult
}
