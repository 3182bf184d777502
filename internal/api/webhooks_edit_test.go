package api_test

import (
	"github.com/hookrelay/hookrelay/internal/store/storetest"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestUpdateWebhook(t *testing.T) { storetest.OnBothDrivers(t, testUpdateWebhook) }

func testUpdateWebhook(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wh := b.createWebhook(t, b.A.Full, "generation.completed")
	st, env := b.do(t, "PATCH", "/v1/webhooks/"+wh, b.A.Full, map[string]any{
		"url": "https://127.0.0.1/v2", "events": []string{"generation.failed", "generation.failed"},
		"description": "moved", "strict_order": true,
	})
	w := decodeAs[webhookJSON](t, ok(t, st, env, http.StatusOK))
	if w.URL != "https://127.0.0.1/v2" || !slices.Equal(w.Events, []string{"generation.failed"}) || w.Description != "moved" || !w.StrictOrder {
		t.Fatalf("after PATCH: %s", env.Raw)
	}
	// The fan-out follows the new subscriptions.
	if got := b.publish(t, b.A.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{}}); got.Deliveries != 0 {
		t.Fatalf("old subscription still receives: %+v", got)
	}
	if got := b.publish(t, b.A.Full, map[string]any{"event_type": "generation.failed", "data": map[string]any{}}); got.Deliveries != 1 {
		t.Fatalf("new subscription does not receive: %+v", got)
	}
	// Only what is given changes.
	st, env = b.do(t, "PATCH", "/v1/webhooks/"+wh, b.A.Full, map[string]any{"strict_order": false})
	w = decodeAs[webhookJSON](t, ok(t, st, env, http.StatusOK))
	if w.StrictOrder || w.URL != "https://127.0.0.1/v2" || w.Description != "moved" {
		t.Fatalf("partial PATCH: %s", env.Raw)
	}
	b.runBad(t, b.A.Full, []badCase{
		{name: "empty patch", method: "PATCH", path: "/v1/webhooks/" + wh, body: `{}`, want: 400, words: []string{"at least one"}},
		{name: "bad url", method: "PATCH", path: "/v1/webhooks/" + wh, body: `{"url":"ftp://x"}`, want: 400, words: []string{"url"}},
		{name: "empty events", method: "PATCH", path: "/v1/webhooks/" + wh, body: `{"events":[]}`, want: 400, words: []string{"events"}},
		{name: "unknown type", method: "PATCH", path: "/v1/webhooks/" + wh, body: `{"events":["nope.nope"]}`, want: 400, words: []string{"events[0]"}},
		{name: "long description", method: "PATCH", path: "/v1/webhooks/" + wh, body: `{"description":"` + strings.Repeat("x", 501) + `"}`, want: 400, words: []string{"description"}},
		{name: "secret is not patchable", method: "PATCH", path: "/v1/webhooks/" + wh, body: `{"secret":"whsec_x"}`, want: 400, words: []string{"secret"}},
		{name: "missing webhook", method: "PATCH", path: "/v1/webhooks/wh_missing", body: `{"description":"x"}`, want: 404},
	})
}

func TestRotateSecretAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st, env := b.do(t, "POST", "/v1/webhooks", b.A.Full, map[string]any{"url": "https://127.0.0.1/h", "events": []string{"*"}})
	first := decodeAs[webhookJSON](t, ok(t, st, env, http.StatusCreated))

	for _, body := range []any{nil, map[string]any{"grace_period_seconds": 3600}} {
		st, env = b.do(t, "POST", "/v1/webhooks/"+first.WebhookID+"/rotate-secret", b.A.Full, body)
		got := decodeAs[map[string]string](t, ok(t, st, env, http.StatusOK))
		if k := keys(t, env.Data); !slices.Equal(k, []string{"secret", "secret_prefix"}) {
			t.Fatalf("rotate answered keys %v", k)
		}
		if !strings.HasPrefix(got["secret"], "whsec_") || got["secret"] == first.Secret || got["secret_prefix"] != got["secret"][:10]+"…" {
			t.Fatalf("rotate answered %s", env.Raw)
		}
		st, env = b.do(t, "GET", "/v1/webhooks/"+first.WebhookID, b.A.Read, nil)
		if w := decodeAs[webhookJSON](t, ok(t, st, env, http.StatusOK)); w.SecretPrefix != got["secret_prefix"] || strings.Contains(string(env.Raw), got["secret"]) {
			t.Fatalf("after rotation GET shows %s", env.Raw)
		}
	}
	b.runBad(t, b.A.Full, []badCase{
		{name: "negative grace", method: "POST", path: "/v1/webhooks/" + first.WebhookID + "/rotate-secret", body: `{"grace_period_seconds":-1}`, want: 400, words: []string{"grace_period_seconds"}},
		{name: "grace over 7 days", method: "POST", path: "/v1/webhooks/" + first.WebhookID + "/rotate-secret", body: `{"grace_period_seconds":604801}`, want: 400, words: []string{"grace_period_seconds"}},
		{name: "grace as a string", method: "POST", path: "/v1/webhooks/" + first.WebhookID + "/rotate-secret", body: `{"grace_period_seconds":"1h"}`, want: 400, words: []string{"grace_period_seconds"}},
	})
}

func TestRecoverAPI(t *testing.T) { storetest.OnBothDrivers(t, testRecoverAPI) }

func testRecoverAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wh := b.createWebhook(t, b.A.Full, "*")
	b.publish(t, b.A.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{}})
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	st, env := b.do(t, "POST", "/v1/webhooks/"+wh+"/recover", b.A.Full, map[string]any{"since": since})
	if got := decodeAs[map[string]int](t, ok(t, st, env, http.StatusAccepted)); got["count"] != 0 {
		t.Fatalf("recovered %d with nothing failed", got["count"])
	}
	b.runBad(t, b.A.Full, []badCase{
		{name: "missing since", method: "POST", path: "/v1/webhooks/" + wh + "/recover", body: `{}`, want: 400, words: []string{"since"}},
		{name: "bad since", method: "POST", path: "/v1/webhooks/" + wh + "/recover", body: `{"since":"yesterday"}`, want: 400, words: []string{"since"}},
		{name: "until before since", method: "POST", path: "/v1/webhooks/" + wh + "/recover", body: `{"since":"2026-01-02T00:00:00Z","until":"2026-01-01T00:00:00Z"}`, want: 400, words: []string{"until"}},
	})
	st, env = b.do(t, "POST", "/v1/webhooks/"+wh+"/disable", b.A.Full, nil)
	ok(t, st, env, http.StatusOK)
	st, env = b.do(t, "POST", "/v1/webhooks/"+wh+"/recover", b.A.Full, map[string]any{"since": since})
	wantError(t, st, env, http.StatusConflict, "disabled")
}

func TestEventsPollingAPI(t *testing.T) { storetest.OnBothDrivers(t, testEventsPollingAPI) }

func testEventsPollingAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []string
	for i := range 5 {
		typ := "generation.completed"
		if i%2 == 1 {
			typ = "generation.failed"
		}
		ids = append(ids, b.publish(t, b.A.Full, map[string]any{"event_type": typ, "subject_id": "gen_x", "data": map[string]any{"i": i}}).EventID)
	}
	b.publish(t, b.B.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{}})

	type ev struct {
		EventID   string         `json:"event_id"`
		EventType string         `json:"event_type"`
		SubjectID *string        `json:"subject_id"`
		Data      map[string]int `json:"data"`
		CreatedAt string         `json:"created_at"`
	}
	var got []string
	cursor := ""
	for range 5 {
		st, env := b.do(t, "GET", "/v1/events?limit=2&cursor="+cursor, b.A.Read, nil)
		page := decodeAs[[]ev](t, ok(t, st, env, http.StatusOK))
		for _, e := range page {
			got = append(got, e.EventID)
			if e.SubjectID == nil || *e.SubjectID != "gen_x" || !apiTimeRE.MatchString(e.CreatedAt) {
				t.Fatalf("event %+v", e)
			}
		}
		if env.NextCursor == nil {
			t.Fatal("the polling API must always answer a cursor to resume from")
		}
		if len(page) == 0 {
			break
		}
		cursor = *env.NextCursor
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("polled %v, want A's events oldest first %v", got, ids)
	}
	// Polling again from the last cursor sees only what is new.
	late := b.publish(t, b.A.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{}}).EventID
	st, env := b.do(t, "GET", "/v1/events?cursor="+cursor, b.A.Read, nil)
	if page := decodeAs[[]ev](t, ok(t, st, env, http.StatusOK)); len(page) != 1 || page[0].EventID != late {
		t.Fatalf("resumed poll = %s", env.Raw)
	}
	st, env = b.do(t, "GET", "/v1/events?event_type=generation.failed", b.A.Read, nil)
	if page := decodeAs[[]ev](t, ok(t, st, env, http.StatusOK)); len(page) != 2 || page[0].EventID != ids[1] {
		t.Fatalf("filtered = %s", env.Raw)
	}
	st, env = b.do(t, "GET", "/v1/events", b.A.Full, nil)
	ok(t, st, env, http.StatusOK)
	_, publishOnly := b.newKey(t, b.A.ID, "events:publish")
	st, env = b.do(t, "GET", "/v1/events", publishOnly, nil)
	wantError(t, st, env, http.StatusForbidden, "webhooks:read")
}
