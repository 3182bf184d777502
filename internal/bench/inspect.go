package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// WebhookState is what GET /v1/webhooks/{id} says about an endpoint's health.
type WebhookState struct {
	Status         string   `json:"status"`
	DisabledReason *string  `json:"disabled_reason"`
	QueuedCount    int      `json:"queued_count"`
	SuccessRate24h *float64 `json:"success_rate_24h"`
}

// GetWebhook reads an endpoint's state.
func (a *API) GetWebhook(ctx context.Context, id string) (WebhookState, error) {
	var v WebhookState
	if err := a.do(ctx, http.MethodGet, "/v1/webhooks/"+url.PathEscape(id), nil, http.StatusOK, &v); err != nil {
		return v, fmt.Errorf("GET /v1/webhooks/%s: %w", id, err)
	}
	return v, nil
}

// DeliveryTally sums an endpoint's delivery log.
type DeliveryTally struct {
	Deliveries int            `json:"deliveries"`
	Attempted  int            `json:"attempted"` // deliveries with at least one attempt recorded
	Attempts   int            `json:"attempts"`  // attempts recorded, all deliveries
	ByStatus   map[string]int `json:"by_status"`
	LastError  string         `json:"last_error,omitempty"` // of the most recent delivery with one
}

// TallyDeliveries pages through GET /v1/webhooks/{id}/deliveries.
func (a *API) TallyDeliveries(ctx context.Context, id string) (DeliveryTally, error) {
	t := DeliveryTally{ByStatus: map[string]int{}}
	cursor := ""
	for {
		path := "/v1/webhooks/" + url.PathEscape(id) + "/deliveries?limit=250"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Data []struct {
				Status       string  `json:"status"`
				AttemptCount int     `json:"attempt_count"`
				LastError    *string `json:"last_error"`
			} `json:"data"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := a.decode(ctx, http.MethodGet, path, nil, http.StatusOK, &page); err != nil {
			return t, fmt.Errorf("GET %s: %w", path, err)
		}
		for _, d := range page.Data {
			t.Deliveries++
			t.ByStatus[d.Status]++
			t.Attempts += d.AttemptCount
			if d.AttemptCount > 0 {
				t.Attempted++
			}
			if t.LastError == "" && d.LastError != nil {
				t.LastError = *d.LastError
			}
		}
		if page.NextCursor == nil || *page.NextCursor == "" || len(page.Data) == 0 {
			return t, nil
		}
		cursor = *page.NextCursor
	}
}

// Metric reads one unlabelled series from GET /metrics.
func (a *API) Metric(ctx context.Context, name string) (float64, error) {
	b, err := a.roundTrip(ctx, http.MethodGet, "/metrics", nil, http.StatusOK)
	if err != nil {
		return 0, fmt.Errorf("GET /metrics: %w", err)
	}
	v, ok := metricValue(string(b), name)
	if !ok {
		return 0, fmt.Errorf("GET /metrics: no series %s", name)
	}
	return v, nil
}

// metricValue finds "name value" in the Prometheus text format.
func metricValue(text, name string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || k != name {
			continue
		}
		fields := strings.Fields(v) // value, then maybe a timestamp
		if len(fields) == 0 {
			return 0, false
		}
		f, err := strconv.ParseFloat(fields[0], 64)
		return f, err == nil
	}
	return 0, false
}
