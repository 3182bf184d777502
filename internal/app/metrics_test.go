package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/app"
	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// TestMetricsOfAnOperatorsDay: /metrics carries the request counts by
// route, the intake's group commit, and the database gauges read at
// scrape time — pending deliveries and the age of the oldest due one,
// endpoints by state — with bounded labels.
func TestMetricsOfAnOperatorsDay(t *testing.T) {
	t.Parallel()
	// No dispatcher in this process: what is published stays due, and the
	// fake clock says for how long.
	clk := clock.NewFake(time.Now().Add(-time.Hour))
	r := start(t, true, app.Options{Clock: clk}, "--dispatcher=false")
	ctx := context.Background()
	now := clk.Now()
	acc, err := r.app.Store.AccountCreate(ctx, store.AccountCreateParams{ID: webhook.NewID("acc", now), Name: "a", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.app.Store.EventTypeCreate(ctx, store.EventTypeCreateParams{Name: "x.y", Description: "d", Now: now}); err != nil {
		t.Fatal(err)
	}
	key, hash := auth.NewKey(false)
	if _, err := r.app.Store.APIKeyCreate(ctx, store.APIKeyCreateParams{ID: webhook.NewID("key", now), AccountID: acc.ID,
		Name: "k", Prefix: auth.DisplayPrefix(key), Hash: hash, Scopes: auth.Scopes, Now: now}); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string, want int) {
		t.Helper()
		req, _ := http.NewRequest(method, r.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
	}
	call("POST", "/v1/webhooks", `{"url":"http://127.0.0.1:9/a","events":["x.y"]}`, 201)
	call("POST", "/v1/webhooks", `{"url":"http://127.0.0.1:9/b","events":["x.y"]}`, 201)
	for range 3 {
		call("POST", "/v1/events", `{"event_type":"x.y","data":{}}`, 202)
	}
	call("GET", "/v1/webhooks/wh_nope", "", 404)
	// One endpoint has failed three attempts in a row, as a dispatcher
	// holding it would record.
	claimed, err := r.app.Store.EndpointsClaim(ctx, store.EndpointsClaimParams{Owner: "test", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 1})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	due, err := r.app.Store.DeliveriesDue(ctx, store.DeliveriesDueParams{EndpointID: claimed[0].ID, Now: now, Limit: 1})
	if err != nil || len(due) != 1 {
		t.Fatalf("due: %v %v", due, err)
	}
	if err := r.app.Store.DeliveriesRecord(ctx, []store.AttemptResult{{DeliveryID: due[0].ID, Status: webhook.StatusPending,
		NextAttemptAt: now.Add(time.Hour), ScheduleAttempt: 1, Attempt: webhook.Attempt{AttemptedAt: now, StatusCode: 500},
		EndpointID: claimed[0].ID, Owner: "test", Health: &store.EndpointHealth{ConsecutiveFailures: 3}}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(90 * time.Second)

	resp, err := http.Get(r.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(raw)
	value := func(series string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("/metrics lacks %s", series)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	if v := value("hookrelay_store_stats_up"); v != 1 {
		t.Fatalf("store stats up = %v", v)
	}
	if v := value("hookrelay_deliveries_pending"); v != 6 {
		t.Errorf("pending = %v, want 6 (3 events × 2 endpoints)", v)
	}
	if v := value("hookrelay_oldest_due_delivery_age_seconds"); v < 90 || v > 91 {
		t.Errorf("oldest due age = %v, want 90s (the fake clock's advance)", v)
	}
	if v := value(`hookrelay_endpoints{state="active"}`); v != 2 {
		t.Errorf("active endpoints = %v, want 2", v)
	}
	value(`hookrelay_endpoints{state="disabled"}`)
	value(`hookrelay_endpoints{state="breaker_open"}`)
	value("hookrelay_deliveries_queued")
	if v := value(`hookrelay_endpoint_consecutive_failures{account_id="` + acc.ID + `",webhook_id="` + claimed[0].ID + `"}`); v != 3 {
		t.Errorf("failing endpoint gauge = %v, want 3", v)
	}
	if n := strings.Count(text, "\nhookrelay_endpoint_consecutive_failures{"); n != 1 {
		t.Errorf("%d failing endpoints named, want only the one failing", n)
	}
	if v := value(`hookrelay_http_requests_total{route="POST /v1/events",status="202"}`); v != 3 {
		t.Errorf("publish requests = %v, want 3", v)
	}
	value(`hookrelay_http_requests_total{route="GET /v1/webhooks/{webhook_id}",status="404"}`)
	if v := value("hookrelay_publish_commit_wait_seconds_count"); v != 3 {
		t.Errorf("commit waits observed = %v, want 3", v)
	}
	value("hookrelay_publish_commit_seconds_count")
	if strings.Contains(text, "wh_nope") {
		t.Error("a raw path became a label")
	}
}

// TestMetricsCountDropsRetriesAndQueue: the deliveries SPEC §7 names —
// retried, queued, dropped — show on /metrics as they happen. Every
// delivery this process turns into dropped is counted, by a reason of a
// few fixed values: beyond the queue's size limit at publish, past its age
// limit in the dispatcher's sweep, and still waiting when its endpoint was
// deleted.
func TestMetricsCountDropsRetriesAndQueue(t *testing.T) {
	t.Parallel()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer failing.Close()
	clk := clock.NewFake(time.Now())
	// The retry is a day away so that moving the clock past the queue's
	// age limit does not send it again.
	r := start(t, true, app.Options{Clock: clk}, "--queue-max=2", "--queue-max-age=1h", "--retry-schedule=24h")
	ctx := context.Background()
	now := clk.Now()
	acc, err := r.app.Store.AccountCreate(ctx, store.AccountCreateParams{ID: webhook.NewID("acc", now), Name: "a", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"x.fail", "x.queue"} {
		if _, err := r.app.Store.EventTypeCreate(ctx, store.EventTypeCreateParams{Name: name, Description: "d", Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	key, hash := auth.NewKey(false)
	if _, err := r.app.Store.APIKeyCreate(ctx, store.APIKeyCreateParams{ID: webhook.NewID("key", now), AccountID: acc.ID,
		Name: "k", Prefix: auth.DisplayPrefix(key), Hash: hash, Scopes: auth.Scopes, Now: now}); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string, want int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, r.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env struct {
			Data map[string]any `json:"data"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&env)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
		return env.Data
	}
	call("POST", "/v1/webhooks", `{"url":"`+failing.URL+`","events":["x.fail"]}`, 201)
	held, _ := call("POST", "/v1/webhooks", `{"url":"http://127.0.0.1:9/held","events":["x.queue"]}`, 201)["webhook_id"].(string)
	call("POST", "/v1/webhooks/"+held+"/disable", "", 200)
	for range 4 {
		call("POST", "/v1/events", `{"event_type":"x.queue","data":{}}`, 202)
	}
	call("POST", "/v1/events", `{"event_type":"x.fail","data":{}}`, 202)

	dropped := func(reason string) string { return `hookrelay_deliveries_dropped_total{reason="` + reason + `"}` }
	want := func(step string, series map[string]float64) {
		t.Helper()
		text := scrape(t, r.base)
		for s, v := range series {
			if got := metricValue(t, text, s); got != v {
				t.Errorf("%s: %s = %v, want %v", step, s, got, v)
			}
		}
	}
	retried := `hookrelay_delivery_attempts_total{outcome="retried"}`
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(scrape(t, r.base), retried+" 1") {
		if time.Now().After(deadline) {
			t.Fatal("the failed attempt was never counted as retried")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Queue limit 2: of the 4 events held for the disabled endpoint, the
	// 2 oldest are dropped at publish.
	want("after publishing", map[string]float64{
		retried: 1, "hookrelay_deliveries_queued": 2,
		dropped("queue_limit"): 2, dropped("age"): 0, dropped("endpoint_deleted"): 0,
	})

	// Two hours on, one more event pushes the oldest out again, and the
	// sweep drops the one left from before the age limit.
	clk.Advance(2 * time.Hour)
	call("POST", "/v1/events", `{"event_type":"x.queue","data":{}}`, 202)
	r.app.Dispatcher.Sweep(ctx)
	want("after the age limit", map[string]float64{
		"hookrelay_deliveries_queued": 1, dropped("queue_limit"): 3, dropped("age"): 1, dropped("endpoint_deleted"): 0,
	})

	call("DELETE", "/v1/webhooks/"+held, "", 200)
	want("after deleting the endpoint", map[string]float64{
		"hookrelay_deliveries_queued": 0, dropped("queue_limit"): 3, dropped("age"): 1, dropped("endpoint_deleted"): 1,
	})
}

// scrape returns the text of /metrics.
func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// metricValue reads one series (name and labels as Prometheus prints
// them) from a scrape.
func metricValue(t *testing.T, text, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("/metrics lacks %s", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}
