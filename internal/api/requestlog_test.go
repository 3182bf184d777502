package api_test

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// lockedBuffer collects log lines written from the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines decodes the JSON log lines.
func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.b.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// TestRequestLogAndID: every API request gets one log line naming its
// method, route pattern, status, duration, account, key prefix and request
// id, and the id comes back in X-Request-Id: the caller's own when it is
// plain, a new one otherwise. Probes log at debug only. The requests are
// counted by route pattern, never by raw path.
func TestRequestLogAndID(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	b := setupWith(t, options{reg: reg, log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})

	var wh struct {
		WebhookID string `json:"webhook_id"`
	}
	st, env := b.do(t, "POST", "/v1/webhooks", b.A.Full, map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"*"}})
	must(t, json.Unmarshal(ok(t, st, env, 201), &wh))
	created := env.Header.Get("X-Request-Id")

	req, _ := http.NewRequest("GET", b.URL+"/v1/webhooks/"+wh.WebhookID, nil)
	req.Header.Set("Authorization", "Bearer "+b.A.Read)
	req.Header.Set("X-Request-Id", "trace-42.a:b_c")
	st, env = b.roundTrip(t, req)
	ok(t, st, env, 200)
	if got := env.Header.Get("X-Request-Id"); got != "trace-42.a:b_c" {
		t.Fatalf("a plain incoming X-Request-Id was not kept: %q", got)
	}
	req, _ = http.NewRequest("GET", b.URL+"/v1/webhooks?account_id="+b.B.ID, nil)
	req.Header.Set("Authorization", "Bearer "+b.Operator)
	req.Header.Set("X-Request-Id", `forged" level=ERROR msg="`+strings.Repeat("x", 200))
	st, env = b.roundTrip(t, req)
	ok(t, st, env, 200)
	replaced := env.Header.Get("X-Request-Id")
	if !strings.HasPrefix(replaced, "req_") {
		t.Fatalf("an unsafe incoming X-Request-Id was echoed: %q", replaced)
	}
	st, env = b.do(t, "GET", "/v1/webhooks/wh_nope", "hrk_not-a-key", nil)
	if st != 401 {
		t.Fatalf("bad key: %d", st)
	}
	unauthorized := env.Header.Get("X-Request-Id")
	st, env = b.do(t, "GET", "/v1/nowhere/"+wh.WebhookID, b.A.Read, nil)
	if st != 404 {
		t.Fatalf("unknown route: %d", st)
	}
	if env.Header.Get("X-Request-Id") == "" || created == "" || unauthorized == "" {
		t.Fatal("a response lacks X-Request-Id")
	}
	if st, _ := b.do(t, "GET", "/healthz", "", nil); st != 200 {
		t.Fatal("healthz")
	}

	type want struct {
		route, account, keyPrefix string
		status                    float64
	}
	wants := map[string]want{
		created:          {"POST /v1/webhooks", b.A.ID, b.A.Full[:10] + "…", 201},
		"trace-42.a:b_c": {"GET /v1/webhooks/{webhook_id}", b.A.ID, b.A.Read[:10] + "…", 200},
		replaced:         {"GET /v1/webhooks", b.B.ID, b.Operator[:11] + "…", 200},
		unauthorized:     {"GET /v1/webhooks/{webhook_id}", "", "", 401},
	}
	var requests []map[string]any
	for _, l := range logs.lines(t) {
		if l["msg"] == "request" {
			requests = append(requests, l)
		}
	}
	if len(requests) != 5 {
		t.Fatalf("%d request lines for 5 API requests (and a /healthz, which logs at debug): %v", len(requests), requests)
	}
	for _, l := range requests {
		id, _ := l["request_id"].(string)
		w, found := wants[id]
		if !found {
			if l["route"] != "unmatched" || l["status"] != float64(404) {
				t.Errorf("unexpected request line %v", l)
			}
			continue
		}
		if l["route"] != w.route || l["status"] != w.status || l["method"] != strings.Fields(w.route)[0] || l["duration"] == nil {
			t.Errorf("line %v, want route %q status %v", l, w.route, w.status)
		}
		if acc, _ := l["account"].(string); acc != w.account {
			t.Errorf("line %v: account %q, want %q", l, acc, w.account)
		}
		if kp, _ := l["key_prefix"].(string); kp != w.keyPrefix {
			t.Errorf("line %v: key_prefix %q, want %q", l, kp, w.keyPrefix)
		}
	}
	all := logs.b.String()
	for _, secret := range []string{b.A.Full, b.A.Read, b.Operator, "hrk_not-a-key"} {
		if strings.Contains(all, secret) {
			t.Fatalf("a key appears in the logs:\n%s", all)
		}
	}

	for route, n := range map[[2]string]float64{
		{"POST /v1/webhooks", "201"}:             1,
		{"GET /v1/webhooks/{webhook_id}", "200"}: 1,
		{"GET /v1/webhooks/{webhook_id}", "401"}: 1,
		{"unmatched", "404"}:                     1,
		{"GET /healthz", "200"}:                  1,
	} {
		c, err := requestsCounter(reg, route[0], route[1])
		if err != nil || c != n {
			t.Errorf("hookrelay_http_requests_total{route=%q,status=%q} = %v (%v), want %v", route[0], route[1], c, err, n)
		}
	}
	// Labels are patterns: no raw id ever becomes a series.
	mfs, err := reg.Gather()
	must(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "hookrelay_http_requests_total" && len(mf.GetMetric()) != 6 {
			t.Errorf("%d request series, want 6: %v", len(mf.GetMetric()), mf.GetMetric())
		}
	}
}

func requestsCounter(reg *prometheus.Registry, route, status string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() != "hookrelay_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["route"] == route && labels["status"] == status {
				return m.GetCounter().GetValue(), nil
			}
		}
	}
	return 0, nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
