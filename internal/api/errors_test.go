package api_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"
)

// TestErrorsSayWhatIsWrong: each message names the real fault, not a
// neighbouring one.
func TestErrorsSayWhatIsWrong(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wh := b.createWebhook(t, b.A.Full, "*")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"url":"https://127.0.0.1/h","events":["*"]}`))
	zw.Close()

	for _, c := range []struct {
		name, method, path string
		header             map[string]string
		body               []byte
		want               int
		words              []string
		not                string
	}{
		{name: "a fraction where an integer goes", method: "POST", path: "/v1/webhooks/" + wh + "/rotate-secret",
			body: []byte(`{"grace_period_seconds":1.5}`), want: 400, words: []string{"grace_period_seconds", "integer", "1.5"}, not: "got number"},
		{name: "a string where an integer goes", method: "POST", path: "/v1/webhooks/" + wh + "/rotate-secret",
			body: []byte(`{"grace_period_seconds":"60"}`), want: 400, words: []string{"grace_period_seconds", "integer", "string"}},
		{name: "truncated JSON", method: "POST", path: "/v1/webhooks", body: []byte(`{"url":"x"`), want: 400, words: []string{"truncated"}, not: "empty"},
		{name: "truncated batch", method: "POST", path: "/v1/events/batch", body: []byte(`{"events":[{"event_type":"generation.completed"`), want: 400, words: []string{"truncated"}, not: "empty"},
		{name: "an empty body", method: "POST", path: "/v1/webhooks", body: []byte(" "), want: 400, words: []string{"empty"}},
		{name: "a gzip body with its Content-Encoding", method: "POST", path: "/v1/webhooks", header: map[string]string{"Content-Encoding": "gzip"},
			body: gz.Bytes(), want: 415, words: []string{"gzip"}, not: "UTF-8"},
		{name: "a gzip body without Content-Encoding", method: "POST", path: "/v1/webhooks", body: gz.Bytes(), want: 415, words: []string{"gzip"}, not: "UTF-8"},
		{name: "a gzip batch", method: "POST", path: "/v1/events/batch", header: map[string]string{"Content-Encoding": "gzip"},
			body: gz.Bytes(), want: 415, words: []string{"gzip"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := b.snapshot(t)
			req, _ := http.NewRequest(c.method, b.URL+c.path, bytes.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer "+b.A.Full)
			req.Header.Set("Content-Type", "application/json")
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			st, env := b.roundTrip(t, req)
			wantError(t, st, env, c.want, c.words...)
			if c.not != "" && strings.Contains(env.Error.Message, c.not) {
				t.Fatalf("message %q says %q", env.Error.Message, c.not)
			}
			if b.snapshot(t) != before {
				t.Fatal("a refused request changed state")
			}
		})
	}
}

// TestOversizedHeaderGetsTheEnvelope: a request whose headers are too
// large is refused with 431 in the JSON envelope, like every other error.
func TestOversizedHeaderGetsTheEnvelope(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req, _ := http.NewRequest("GET", b.URL+"/v1/webhooks", nil)
	req.Header.Set("Authorization", "Bearer "+b.A.Full)
	req.Header.Set("X-Padding", strings.Repeat("a", 100<<10))
	st, env := b.roundTrip(t, req)
	wantError(t, st, env, http.StatusRequestHeaderFieldsTooLarge, "header")
}

// TestOperatorNamesTheAccountOnce: an operator publish naming one account
// in the query and another in the body is refused instead of silently
// using one of them.
func TestOperatorNamesTheAccountOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createWebhook(t, b.A.Full, "*")
	b.createWebhook(t, b.B.Full, "*")
	before := b.snapshot(t)
	q := "?account_id=" + b.B.ID
	for _, c := range []struct {
		path string
		body any
	}{
		{"/v1/events" + q, map[string]any{"account_id": b.A.ID, "event_type": "generation.completed", "data": map[string]any{}}},
		{"/v1/events/batch" + q, map[string]any{"account_id": b.A.ID, "events": []any{map[string]any{"event_type": "generation.completed", "data": map[string]any{}}}}},
		{"/v1/events/batch" + q, map[string]any{"events": []any{map[string]any{"account_id": b.A.ID, "event_type": "generation.completed", "data": map[string]any{}}}}},
	} {
		st, env := b.do(t, "POST", c.path, b.Operator, c.body)
		wantError(t, st, env, http.StatusBadRequest, "account_id", b.A.ID, b.B.ID)
	}
	if b.snapshot(t) != before {
		t.Fatal("a refused publish changed state")
	}
	// The same account named twice is fine.
	st, env := b.do(t, "POST", "/v1/events"+q, b.Operator, map[string]any{"account_id": b.B.ID, "event_type": "generation.completed", "data": map[string]any{}})
	ok(t, st, env, http.StatusAccepted)
}
