package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// API is a client of hookrelay's /v1 API with one account key.
type API struct {
	base   string
	auth   string
	client *http.Client
}

// NewAPI returns a client that keeps up to conns connections alive, so
// that concurrent publishers never pay for a new connection.
func NewAPI(base, key string, conns int) *API {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
	}
	return &API{base: base, auth: "Bearer " + key, client: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

// Close drops idle connections.
func (a *API) Close() { a.client.CloseIdleConnections() }

// APIError is a response other than the expected status.
type APIError struct {
	Status int
	Body   string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Status, truncateString(strings.TrimSpace(e.Body), 300))
}

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// do sends body to path and decodes the envelope's data into out when the
// status is want.
func (a *API) do(ctx context.Context, method, path string, body []byte, want int, out any) error {
	if out == nil {
		_, err := a.roundTrip(ctx, method, path, body, want)
		return err
	}
	env := struct {
		Data any `json:"data"`
	}{Data: out}
	return a.decode(ctx, method, path, body, want, &env)
}

// decode sends body to path and decodes the whole response into out when
// the status is want.
func (a *API) decode(ctx context.Context, method, path string, body []byte, want int, out any) error {
	b, err := a.roundTrip(ctx, method, path, body, want)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode response %q: %w", truncateString(string(b), 200), err)
	}
	return nil
}

// roundTrip sends body to path and returns the response body when the
// status is want.
func (a *API) roundTrip(ctx context.Context, method, path string, body []byte, want int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", a.auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	// A connection that could not be made sent nothing, so trying again is
	// safe; loopback under a storm of 1,000 receivers' connections drops
	// the odd SYN, and one lost setup call should not fail a whole run.
	for try := 1; err != nil && isDialError(err) && try < 4 && ctx.Err() == nil; try++ {
		time.Sleep(time.Duration(try) * 200 * time.Millisecond)
		req.Body = io.NopCloser(bytes.NewReader(body))
		resp, err = a.client.Do(req)
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != want {
		return nil, &APIError{Status: resp.StatusCode, Body: string(b)}
	}
	return b, nil
}

// CreateWebhook registers url for events and returns its webhook_id.
func (a *API) CreateWebhook(ctx context.Context, url string, events []string) (string, error) {
	body, err := json.Marshal(map[string]any{"url": url, "events": events, "description": "hookrelay-bench"})
	if err != nil {
		return "", err
	}
	var v struct {
		WebhookID string `json:"webhook_id"`
	}
	if err := a.do(ctx, http.MethodPost, "/v1/webhooks", body, http.StatusCreated, &v); err != nil {
		return "", fmt.Errorf("POST /v1/webhooks %s: %w", url, err)
	}
	return v.WebhookID, nil
}

// CreateEventType adds name to the catalog (an operator key's call); one
// that already exists (a reused PostgreSQL database) is fine.
func (a *API) CreateEventType(ctx context.Context, name, description string) error {
	body, err := json.Marshal(map[string]any{"name": name, "description": description})
	if err != nil {
		return err
	}
	err = a.do(ctx, http.MethodPost, "/v1/event-types", body, http.StatusCreated, nil)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
		return nil
	}
	if err != nil {
		return fmt.Errorf("POST /v1/event-types %s: %w", name, err)
	}
	return nil
}

// Published is the result of one published event.
type Published struct {
	EventID    string `json:"event_id"`
	Deliveries int    `json:"deliveries"`
}

// Publish posts one event (a body from Payloads.Event).
func (a *API) Publish(ctx context.Context, body []byte) (Published, error) {
	var p Published
	err := a.do(ctx, http.MethodPost, "/v1/events", body, http.StatusAccepted, &p)
	return p, err
}

// PublishBatch posts a body from Payloads.Batch and returns one result per event.
func (a *API) PublishBatch(ctx context.Context, body []byte) ([]Published, error) {
	var p []Published
	err := a.do(ctx, http.MethodPost, "/v1/events/batch", body, http.StatusAccepted, &p)
	return p, err
}

// Payloads builds request bodies without encoding/json, so that the bench
// spends as little CPU as possible next to the process it measures.
type Payloads struct {
	Endpoints int // event seq goes to event type EventType(seq % Endpoints)
	DataBytes int // size of an event's data object
	// Fanout sends every event to event type EventType(0), to which every
	// endpoint subscribes.
	Fanout bool
	// Route, when set, replaces seq % Endpoints: event seq goes to event
	// type EventType(Route(seq)).
	Route func(seq int) int
}

// endpoint is the index of the endpoint (and event type) of event seq.
func (p Payloads) endpoint(seq int) int {
	if p.Fanout {
		return 0
	}
	if p.Route != nil {
		return p.Route(seq)
	}
	return seq % p.Endpoints
}

// EventType is the event type of endpoint i.
func EventType(i int) string { return "bench.e" + strconv.Itoa(i) }

// Data appends the data object of event seq: {"bench_seq":N,"pad":"…"},
// padded to DataBytes when it is large enough.
func (p Payloads) Data(b []byte, seq int) []byte {
	start := len(b)
	b = append(b, `{"bench_seq":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `,"pad":"`...)
	for n := p.DataBytes - (len(b) - start) - 2; n > 0; n-- {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// appendEvent appends one publish item.
func (p Payloads) appendEvent(b []byte, seq int) []byte {
	b = append(b, `{"event_type":"`...)
	b = append(b, EventType(p.endpoint(seq))...)
	b = append(b, `","subject_id":"sub_`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `","data":`...)
	b = p.Data(b, seq)
	return append(b, '}')
}

// Event is the body of POST /v1/events for seq.
func (p Payloads) Event(b []byte, seq int) []byte { return p.appendEvent(b[:0], seq) }

// Batch is the body of POST /v1/events/batch for seq from..to-1.
func (p Payloads) Batch(b []byte, from, to int) []byte {
	b = append(b[:0], `{"events":[`...)
	for seq := from; seq < to; seq++ {
		if seq > from {
			b = append(b, ',')
		}
		b = p.appendEvent(b, seq)
	}
	return append(b, "]}"...)
}

// isDialError reports whether err happened while connecting, before any
// byte of the request was written.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
