package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/internal/webhook"
)

// timeFormat is RFC 3339 in UTC with milliseconds, as in the seed.
const timeFormat = "2006-01-02T15:04:05.000Z"

func apiTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func apiTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := apiTime(*t)
	return &s
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// createdWebhook is exactly the seed's create response: the secret appears
// here and never again.
type createdWebhook struct {
	WebhookID   string   `json:"webhook_id"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
	Secret      string   `json:"secret"`
	IsActive    bool     `json:"is_active"`
	CreatedAt   string   `json:"created_at"`
}

type webhookView struct {
	WebhookID      string   `json:"webhook_id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Description    string   `json:"description"`
	IsActive       bool     `json:"is_active"`
	CreatedAt      string   `json:"created_at"`
	SecretPrefix   string   `json:"secret_prefix"`
	Status         string   `json:"status"`
	DisabledReason *string  `json:"disabled_reason"`
	DisabledAt     *string  `json:"disabled_at"`
	QueuedCount    int      `json:"queued_count"`
	DroppedCount   int      `json:"dropped_count"`
	SuccessRate24h *float64 `json:"success_rate_24h"`
	StrictOrder    bool     `json:"strict_order"`
}

func toWebhookView(e webhook.Endpoint) webhookView {
	return webhookView{
		WebhookID:      e.ID,
		URL:            e.URL,
		Events:         e.Events,
		Description:    e.Description,
		IsActive:       e.Status == webhook.EndpointActive,
		CreatedAt:      apiTime(e.CreatedAt),
		SecretPrefix:   e.SecretPrefix,
		Status:         string(e.Status),
		DisabledReason: nonEmpty(e.DisabledReason),
		DisabledAt:     apiTimePtr(e.DisabledAt),
		QueuedCount:    e.QueuedCount,
		DroppedCount:   e.DroppedCount,
		SuccessRate24h: e.SuccessRate24h,
		StrictOrder:    e.StrictOrder,
	}
}

type deliveryView struct {
	DeliveryID     string          `json:"delivery_id"`
	WebhookID      string          `json:"webhook_id"`
	EventID        string          `json:"event_id"`
	EventType      string          `json:"event_type"`
	SubjectID      *string         `json:"subject_id"`
	Status         string          `json:"status"`
	AttemptCount   int             `json:"attempt_count"`
	LastStatusCode *int            `json:"last_status_code"`
	LastError      *string         `json:"last_error"`
	NextAttemptAt  *string         `json:"next_attempt_at"`
	CreatedAt      string          `json:"created_at"`
	Payload        json.RawMessage `json:"payload,omitempty"`
	Attempts       []attemptView   `json:"attempts,omitzero"` // [] when fetched alone, absent in lists
}

type attemptView struct {
	AttemptedAt     string      `json:"attempted_at"`
	DurationMS      int64       `json:"duration_ms"`
	StatusCode      *int        `json:"status_code"`
	Error           *string     `json:"error"`
	ResponseHeaders http.Header `json:"response_headers"`
	ResponseBody    string      `json:"response_body"`
}

func toDeliveryView(d webhook.Delivery) deliveryView {
	v := deliveryView{
		DeliveryID:    d.ID,
		WebhookID:     d.EndpointID,
		EventID:       d.EventID,
		EventType:     d.EventType,
		SubjectID:     nonEmpty(d.SubjectID),
		Status:        string(d.Status),
		AttemptCount:  d.AttemptCount,
		LastError:     nonEmpty(d.LastError),
		NextAttemptAt: apiTimePtr(d.NextAttemptAt),
		CreatedAt:     apiTime(d.CreatedAt),
		Payload:       d.Payload,
	}
	if d.LastStatusCode != 0 {
		code := d.LastStatusCode
		v.LastStatusCode = &code
	}
	if d.Attempts != nil {
		v.Attempts = make([]attemptView, 0, len(d.Attempts))
		for _, a := range d.Attempts {
			av := attemptView{
				AttemptedAt:     apiTime(a.AttemptedAt),
				DurationMS:      a.Duration.Milliseconds(),
				Error:           nonEmpty(a.Error),
				ResponseHeaders: a.ResponseHeaders,
				ResponseBody:    a.ResponseBody,
			}
			if av.ResponseHeaders == nil {
				av.ResponseHeaders = http.Header{}
			}
			if a.StatusCode != 0 {
				code := a.StatusCode
				av.StatusCode = &code
			}
			v.Attempts = append(v.Attempts, av)
		}
	}
	return v
}

type eventTypeView struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Example     json.RawMessage `json:"example"`
	Deprecated  bool            `json:"deprecated"`
	Reserved    bool            `json:"reserved"`
}

func toEventTypeView(t webhook.EventType) eventTypeView {
	ex := t.Example
	if len(ex) == 0 {
		ex = json.RawMessage("null")
	}
	return eventTypeView{Name: t.Name, Description: t.Description, Example: ex, Deprecated: t.Deprecated, Reserved: t.Reserved}
}
