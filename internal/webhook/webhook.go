// Package webhook holds the plain types every part of hookrelay shares:
// accounts, endpoints, events, deliveries, attempts, their statuses and the
// shared errors. It imports nothing from the project, so the store drivers,
// the dispatcher and the API can all depend on it without cycles.
package webhook

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Shared errors. Store drivers map their own "no rows" and constraint errors
// to these so no database-specific error escapes to callers.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// OperatorAccountID is the reserved account into which operational events
// (endpoint.disabled, delivery.failed, ...) are published, so the operator
// subscribes to them with ordinary endpoints.
const OperatorAccountID = "acc_operator"

// Reserved event types. They exist in every catalog and cannot be published
// through the API: hookrelay itself emits them.
const (
	EventTypeTest             = "webhook.test"
	EventTypeEndpointDisabled = "endpoint.disabled"
	EventTypeEndpointEnabled  = "endpoint.enabled"
	EventTypeDeliveryFailed   = "delivery.failed"
)

// ReservedEventTypes lists the reserved types with their catalog description.
var ReservedEventTypes = []EventType{
	{Name: EventTypeTest, Description: "Sent to one endpoint on demand (Send test event), whatever it subscribes to.", Reserved: true},
	{Name: EventTypeEndpointDisabled, Description: "An endpoint was disabled, by hand, by a 410 Gone answer or because its deliveries kept failing.", Reserved: true},
	{Name: EventTypeEndpointEnabled, Description: "An endpoint was enabled again.", Reserved: true},
	{Name: EventTypeDeliveryFailed, Description: "A delivery exhausted its retries.", Reserved: true},
}

// IsReservedEventType reports whether name is one of hookrelay's own types.
func IsReservedEventType(name string) bool {
	for _, t := range ReservedEventTypes {
		if t.Name == name {
			return true
		}
	}
	return false
}

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

// Delivery statuses (SPEC §1).
const (
	StatusPending   DeliveryStatus = "pending"   // waiting for its first or next attempt
	StatusDelivered DeliveryStatus = "delivered" // a 2xx came back
	StatusFailed    DeliveryStatus = "failed"    // retries exhausted
	StatusQueued    DeliveryStatus = "queued"    // held while its endpoint is disabled
	StatusDropped   DeliveryStatus = "dropped"   // fell out of the queue's limits, or its endpoint was deleted
)

// Valid reports whether s is a known status.
func (s DeliveryStatus) Valid() bool {
	switch s {
	case StatusPending, StatusDelivered, StatusFailed, StatusQueued, StatusDropped:
		return true
	}
	return false
}

// EndpointStatus is whether an endpoint receives deliveries.
type EndpointStatus string

// Endpoint statuses.
const (
	EndpointActive   EndpointStatus = "active"
	EndpointDisabled EndpointStatus = "disabled"
)

// Account is one customer of the operator (a tenant).
type Account struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// APIKey is a key's record; the key itself is never stored, only its hash.
type APIKey struct {
	ID        string
	AccountID string // empty for operator keys
	Name      string
	Prefix    string // the first characters of the key, to recognise it in lists
	Scopes    []string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Operator reports whether the key acts on every account.
func (k APIKey) Operator() bool { return k.AccountID == "" }

// Member is a person with a dashboard login in an account.
type Member struct {
	ID        string
	AccountID string
	Email     string
	Role      string
	CreatedAt time.Time
}

// Member roles (SPEC §1).
const (
	RolePrimaryOwner = "primary-owner"
	RoleOwner        = "owner"
	RoleMember       = "member"
)

// EventType is an entry of the catalog.
type EventType struct {
	Name        string
	Description string
	Example     json.RawMessage // nil when none
	Deprecated  bool
	Reserved    bool
	CreatedAt   time.Time
}

// Endpoint is an HTTPS URL of an account subscribed to event types.
type Endpoint struct {
	ID             string
	AccountID      string
	URL            string
	Description    string
	Events         []string // catalog names, or ["*"]
	StrictOrder    bool
	Status         EndpointStatus
	DisabledReason string
	DisabledAt     *time.Time
	SecretPrefix   string
	CreatedAt      time.Time
	UpdatedAt      time.Time

	QueuedCount    int
	DroppedCount   int      // queued deliveries that fell out of the queue's limits, ever
	SuccessRate24h *float64 // successful attempts / attempts over the last 24 h; nil without attempts
}

// EndpointSecret is one signing secret of an endpoint, encrypted at rest.
// During a rotation grace period an endpoint has several.
type EndpointSecret struct {
	Ciphertext []byte
	Prefix     string
	CreatedAt  time.Time
	ExpiresAt  *time.Time // nil: valid until replaced
}

// Event is one occurrence published by the operator.
type Event struct {
	ID         string
	AccountID  string
	Type       string
	SubjectID  string
	Data       json.RawMessage // a JSON object, compacted at intake
	CreatedAt  time.Time       // publish time: the body's webhook_timestamp
	Deliveries int             // how many deliveries the publish created
}

// Delivery is one event for one endpoint.
type Delivery struct {
	ID             string
	AccountID      string
	EndpointID     string
	EventID        string
	EventType      string
	SubjectID      string
	Status         DeliveryStatus
	AttemptCount   int
	LastStatusCode int // 0 when no response was received
	LastError      string
	NextAttemptAt  *time.Time // set while pending
	CreatedAt      time.Time
	UpdatedAt      time.Time

	// Filled when a delivery is fetched alone.
	Payload  json.RawMessage
	Attempts []Attempt
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	AttemptedAt     time.Time
	Duration        time.Duration
	StatusCode      int // 0 when no response was received
	Error           string
	ResponseHeaders http.Header
	ResponseBody    string // at most MaxResponseExcerpt bytes
}

// MaxResponseExcerpt is how much of a receiver's answer is kept per attempt.
const MaxResponseExcerpt = 4 << 10

// ValidateEventTypeName checks a catalog name: lower-case words of letters
// and digits joined by dots, dashes or underscores, e.g.
// generation.completed. Names travel in headers and URLs, so nothing else.
func ValidateEventTypeName(name string) error {
	if name == "" {
		return errors.New("must not be empty")
	}
	if len(name) > 100 {
		return errors.New("must be at most 100 characters")
	}
	prevSep := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			prevSep = false
		case c == '.' || c == '-' || c == '_':
			if prevSep {
				return errors.New("must be lower-case words joined by '.', '-' or '_', e.g. generation.completed")
			}
			prevSep = true
		default:
			return errors.New("must be lower-case words joined by '.', '-' or '_', e.g. generation.completed")
		}
	}
	if prevSep {
		return errors.New("must not end with a separator")
	}
	return nil
}

// EndpointDisabledData is the data of an endpoint.disabled event.
type EndpointDisabledData struct {
	WebhookID  string `json:"webhook_id"`
	AccountID  string `json:"account_id"`
	URL        string `json:"url"`
	Reason     string `json:"reason"`
	DisabledAt string `json:"disabled_at"`
}

// EndpointEnabledData is the data of an endpoint.enabled event.
type EndpointEnabledData struct {
	WebhookID   string `json:"webhook_id"`
	AccountID   string `json:"account_id"`
	URL         string `json:"url"`
	QueuedCount int    `json:"queued_count"`
	EnabledAt   string `json:"enabled_at"`
}

// DeliveryFailedData is the data of a delivery.failed event.
type DeliveryFailedData struct {
	DeliveryID     string `json:"delivery_id"`
	WebhookID      string `json:"webhook_id"`
	AccountID      string `json:"account_id"`
	EventID        string `json:"event_id"`
	EventType      string `json:"event_type"`
	AttemptCount   int    `json:"attempt_count"`
	LastStatusCode int    `json:"last_status_code,omitempty"`
	LastError      string `json:"last_error,omitempty"`
	FailedAt       string `json:"failed_at"`
}
