package dispatch_test

import (
	"encoding/json"
	"github.com/hookrelay/hookrelay/internal/store/storetest"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/dispatch"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// recorder is a receiver that logs the event number of each request and
// answers with status(n, attempt).
type recorder struct {
	mu     sync.Mutex
	seen   []int
	ids    []string
	status func(n, attempt int) int
	counts map[int]int
}

func newRecorder(status func(n, attempt int) int) (*recorder, *httptest.Server) {
	rc := &recorder{status: status, counts: map[int]int{}}
	return rc, httptest.NewServer(rc)
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Data json.RawMessage `json:"webhook_data"`
	}
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	var data struct {
		I int `json:"i"`
	}
	_ = json.Unmarshal(body.Data, &data)
	rc.mu.Lock()
	rc.counts[data.I]++
	attempt := rc.counts[data.I]
	rc.seen = append(rc.seen, data.I)
	rc.ids = append(rc.ids, r.Header.Get("webhook-id"))
	rc.mu.Unlock()
	w.WriteHeader(rc.status(data.I, attempt))
}

func (rc *recorder) n() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.seen)
}

func (rc *recorder) log() ([]int, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.seen), slices.Clone(rc.ids)
}

func (h *harness) endpointState(id string) webhook.Endpoint {
	h.t.Helper()
	e, err := h.store.EndpointGet(h.ctx, store.EndpointGetParams{AccountID: h.account, ID: id, Now: h.clock.Now()})
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

// quiet waits long enough for a dispatcher that would wrongly send to do so.
func quiet() { time.Sleep(100 * time.Millisecond) }

func TestBreakerTripsCoolsProbesCloses(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	rc, srv := newRecorder(func(n, attempt int) int {
		if healthy.Load() {
			return 200
		}
		return 500
	})
	defer srv.Close()
	h := setup(t, options{cfg: dispatch.Config{
		MaxInFlightPerEndpoint: 1, // one request at a time makes the count exact
		Policy:                 dispatch.Policy{Delays: []time.Duration{time.Hour}},
		Breaker:                dispatch.Breaker{Threshold: 3, Cooldown: 30 * time.Second, MaxCooldown: 10 * time.Minute},
	}})
	ep, _ := h.endpoint(srv.URL)
	h.publish(10)

	eventually(t, "3 failures", func() bool { return rc.n() == 3 })
	quiet()
	if n := rc.n(); n != 3 {
		t.Fatalf("%d requests after the breaker tripped, want 3", n)
	}
	// Once the 3 failures are written, 7 deliveries are untouched behind
	// the open breaker: they keep their retries.
	eventually(t, "7 deliveries untouched behind the open breaker", func() bool {
		waiting := 0
		for _, d := range h.deliveries(ep) {
			if d.AttemptCount == 0 {
				waiting++
			}
		}
		return waiting == 7
	})

	h.clock.Advance(29 * time.Second)
	quiet()
	if n := rc.n(); n != 3 {
		t.Fatalf("sent during the cool-down: %d requests", n)
	}
	h.clock.Advance(2 * time.Second)
	eventually(t, "one probe", func() bool { return rc.n() == 4 })
	quiet()
	if n := rc.n(); n != 4 {
		t.Fatalf("half-open sent %d requests, want one probe", n)
	}
	// The probe failed: open again, for twice as long.
	h.clock.Advance(59 * time.Second)
	quiet()
	if n := rc.n(); n != 4 {
		t.Fatalf("sent during the second, longer cool-down: %d requests", n)
	}
	healthy.Store(true)
	h.clock.Advance(2 * time.Second)
	// 3 failures, 1 failed probe, then the successful probe and the 5
	// deliveries that waited behind it, none of them having used a retry.
	eventually(t, "the probe and then the 5 waiting deliveries", func() bool { return rc.n() == 10 })
	e := h.endpointState(ep)
	if e.Status != webhook.EndpointActive {
		t.Fatalf("endpoint %s after recovery", e.Status)
	}
	eventually(t, "6 recorded as delivered", func() bool {
		delivered := 0
		for _, d := range h.deliveries(ep) {
			if d.Status == webhook.StatusDelivered {
				delivered++
			}
		}
		return delivered == 6
	})
}

func TestBreakerSurvivesRestart(t *testing.T) { storetest.OnBothDrivers(t, testBreakerSurvivesRestart) }

func testBreakerSurvivesRestart(t *testing.T) {
	t.Parallel()
	rc, srv := newRecorder(func(int, int) int { return 503 })
	defer srv.Close()
	h := setup(t, options{cfg: dispatch.Config{
		MaxInFlightPerEndpoint: 1,
		Policy:                 dispatch.Policy{Delays: []time.Duration{time.Hour}},
		Breaker:                dispatch.Breaker{Threshold: 2, Cooldown: time.Minute},
	}})
	h.endpoint(srv.URL)
	h.publish(5)
	eventually(t, "trip", func() bool { return rc.n() == 2 })
	quiet()
	h.stop()
	// A new dispatcher on the same database honours the open breaker.
	h2 := setup2(t, h, options{cfg: dispatch.Config{Breaker: dispatch.Breaker{Threshold: 2, Cooldown: time.Minute}}})
	h2.d.Notify(nil)
	quiet()
	if n := rc.n(); n != 2 {
		t.Fatalf("a restarted dispatcher ignored the open breaker: %d requests", n)
	}
	h.clock.Advance(61 * time.Second)
	eventually(t, "probe after restart", func() bool { return rc.n() == 3 })
}

func TestAutoDisableAtTheEdge(t *testing.T) {
	t.Parallel()
	rc, srv := newRecorder(func(int, int) int { return 500 })
	defer srv.Close()
	var ops []string
	var opsMu sync.Mutex
	opSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		opsMu.Lock()
		ops = append(ops, string(b))
		opsMu.Unlock()
	}))
	defer opSrv.Close()
	h := setup(t, options{cfg: dispatch.Config{
		Policy:      dispatch.Policy{Delays: []time.Duration{}}, // one attempt per delivery
		Breaker:     dispatch.Breaker{Threshold: 1000},
		AutoDisable: dispatch.AutoDisable{Failures: 3, After: time.Hour},
	}})
	ep, _ := h.endpoint(srv.URL)
	// The operator subscribes to endpoint.disabled with an ordinary endpoint.
	opID := webhook.NewID("wh", t0)
	if _, err := h.store.EndpointCreate(h.ctx, store.EndpointCreateParams{ID: opID, AccountID: webhook.OperatorAccountID,
		URL: opSrv.URL, Events: []string{webhook.EventTypeEndpointDisabled},
		Secret: webhook.EndpointSecret{Ciphertext: h.box.Seal([]byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), []byte(opID)), Prefix: "p"}, Now: t0}); err != nil {
		t.Fatal(err)
	}

	h.publish(2)
	eventually(t, "2 failed deliveries", func() bool { return rc.n() == 2 })
	h.clock.Advance(2 * time.Hour)
	h.publish(1)
	eventually(t, "3rd failure", func() bool { return rc.n() == 3 })
	// 3 failed in a row, but the first two were within the hour after
	// creation; the rule counts failures and time since the last success
	// (here: creation). 3 ≥ 3 and 2h ≥ 1h: disabled now.
	eventually(t, "disable", func() bool { return h.endpointState(ep).Status == webhook.EndpointDisabled })
	e := h.endpointState(ep)
	if !strings.Contains(e.DisabledReason, "3 deliveries in a row exhausted their retries") || e.DisabledAt == nil {
		t.Fatalf("disabled without a reason: %+v", e)
	}
	eventually(t, "the endpoint.disabled event at the operator's endpoint", func() bool {
		opsMu.Lock()
		defer opsMu.Unlock()
		return len(ops) == 1
	})
	var ev struct {
		Event string                       `json:"webhook_event"`
		Data  webhook.EndpointDisabledData `json:"webhook_data"`
	}
	opsMu.Lock()
	_ = json.Unmarshal([]byte(ops[0]), &ev)
	opsMu.Unlock()
	if ev.Event != webhook.EventTypeEndpointDisabled || ev.Data.WebhookID != ep || ev.Data.Reason != e.DisabledReason || ev.Data.AccountID != h.account {
		t.Fatalf("operational event = %+v", ev)
	}
	// Published while disabled: queued, never attempted.
	h.publish(3)
	quiet()
	if n := rc.n(); n != 3 {
		t.Fatalf("a disabled endpoint was sent to: %d requests", n)
	}
	if e := h.endpointState(ep); e.QueuedCount != 3 {
		t.Fatalf("queued_count = %d, want 3", e.QueuedCount)
	}
	opsMu.Lock()
	defer opsMu.Unlock()
	if len(ops) != 1 {
		t.Fatalf("%d endpoint.disabled events, want exactly 1", len(ops))
	}
}

func TestAutoDisableNotBeforeTheEdge(t *testing.T) {
	t.Parallel()
	rc, srv := newRecorder(func(int, int) int { return 500 })
	defer srv.Close()
	h := setup(t, options{cfg: dispatch.Config{
		Policy:      dispatch.Policy{Delays: []time.Duration{}},
		Breaker:     dispatch.Breaker{Threshold: 1000},
		AutoDisable: dispatch.AutoDisable{Failures: 3, After: time.Hour},
	}})
	ep, _ := h.endpoint(srv.URL)
	h.clock.Advance(2 * time.Hour)
	h.publish(2)
	eventually(t, "2 failures", func() bool { return rc.n() == 2 })
	quiet()
	if e := h.endpointState(ep); e.Status != webhook.EndpointActive {
		t.Fatalf("disabled after 2 failed deliveries (rule says 3): %s", e.DisabledReason)
	}
}

func TestGoneDisablesAtOnce(t *testing.T) { storetest.OnBothDrivers(t, testGoneDisablesAtOnce) }

func testGoneDisablesAtOnce(t *testing.T) {
	t.Parallel()
	rc, srv := newRecorder(func(int, int) int { return 410 })
	defer srv.Close()
	h := setup(t, options{cfg: dispatch.Config{MaxInFlightPerEndpoint: 1}})
	ep, _ := h.endpoint(srv.URL)
	res := h.publish(3)
	eventually(t, "disable on 410", func() bool { return h.endpointState(ep).Status == webhook.EndpointDisabled })
	quiet()
	if n := rc.n(); n != 1 {
		t.Fatalf("%d requests, want 1: a 410 disables at once", n)
	}
	// SPEC §2: the delivery that got the 410 is failed with that response
	// recorded; only the later events are queued.
	e := h.endpointState(ep)
	if e.DisabledReason != "the endpoint answered 410 Gone" || e.QueuedCount != 2 {
		t.Fatalf("after 410: reason %q, queued %d (want the 2 later events)", e.DisabledReason, e.QueuedCount)
	}
	first := h.delivery(ep, deliveryID(res[0], h, ep))
	if first.Status != webhook.StatusFailed || first.AttemptCount != 1 || first.LastStatusCode != 410 ||
		len(first.Attempts) != 1 || first.Attempts[0].StatusCode != 410 {
		t.Fatalf("the delivery that got 410: %+v", first)
	}
	for _, r := range res[1:] {
		if d := h.delivery(ep, deliveryID(r, h, ep)); d.Status != webhook.StatusQueued || d.AttemptCount != 0 {
			t.Fatalf("a later delivery: %s after %d attempts, want queued, never attempted", d.Status, d.AttemptCount)
		}
	}
	queued, err := h.store.DeliveryQueuedList(h.ctx, store.DeliveryQueuedListParams{AccountID: h.account, EndpointID: ep, Limit: 50})
	if err != nil || len(queued.Items) != 2 {
		t.Fatalf("queued list: %d items, %v; want 2", len(queued.Items), err)
	}
}

func TestQueuedDeliverInPublishOrder(t *testing.T) {
	storetest.OnBothDrivers(t, testQueuedDeliverInPublishOrder)
}

func testQueuedDeliverInPublishOrder(t *testing.T) {
	t.Parallel()
	rc, srv := newRecorder(func(int, int) int { return 200 })
	defer srv.Close()
	h := setup(t, options{cfg: dispatch.Config{MaxInFlightPerEndpoint: 1}})
	ep, _ := h.endpoint(srv.URL)
	if ok, err := h.store.EndpointDisable(h.ctx, store.EndpointDisableParams{AccountID: h.account, ID: ep, Reason: "disabled by hand", Now: t0}); err != nil || !ok {
		t.Fatalf("disable: %v %v", ok, err)
	}
	h.publish(6)
	queued, err := h.store.DeliveryQueuedList(h.ctx, store.DeliveryQueuedListParams{AccountID: h.account, EndpointID: ep, Limit: 50})
	if err != nil || len(queued.Items) != 6 {
		t.Fatalf("queued = %d, %v", len(queued.Items), err)
	}
	if _, err := h.store.DeliveriesQueuedDeliver(h.ctx, store.DeliveriesQueuedDeliverParams{AccountID: h.account, EndpointID: ep, Now: t0}); err == nil {
		t.Fatal("delivering the queue of a disabled endpoint was allowed")
	}
	if _, err := h.store.EndpointEnable(h.ctx, store.EndpointEnableParams{AccountID: h.account, ID: ep, Now: t0}); err != nil {
		t.Fatal(err)
	}
	h.d.Notify([]string{ep})
	quiet()
	if n := rc.n(); n != 0 {
		t.Fatalf("enabling sent %d queued deliveries by itself", n)
	}
	n, err := h.store.DeliveriesQueuedDeliver(h.ctx, store.DeliveriesQueuedDeliverParams{AccountID: h.account, EndpointID: ep, Now: h.clock.Now()})
	if err != nil || n != 6 {
		t.Fatalf("deliver queued = %d, %v", n, err)
	}
	h.d.Notify([]string{ep})
	eventually(t, "6 deliveries", func() bool { return rc.n() == 6 })
	_, ids := rc.log()
	for i, d := range queued.Items {
		if ids[i] != d.ID {
			t.Fatalf("request %d carried %s, want queued delivery %s (original id, publish order)", i, ids[i], d.ID)
		}
	}
}

func TestQueueLimitsDrop(t *testing.T) { storetest.OnBothDrivers(t, testQueueLimitsDrop) }

func testQueueLimitsDrop(t *testing.T) {
	t.Parallel()
	_, srv := newRecorder(func(int, int) int { return 200 })
	defer srv.Close()
	h := setup(t, options{cfg: dispatch.Config{QueueMaxAge: 7 * 24 * time.Hour}})
	ep, _ := h.endpoint(srv.URL)
	if _, err := h.store.EndpointDisable(h.ctx, store.EndpointDisableParams{AccountID: h.account, ID: ep, Reason: "by hand", Now: t0}); err != nil {
		t.Fatal(err)
	}
	var evs []store.PublishEvent
	for range 5 {
		evs = append(evs, store.PublishEvent{AccountID: h.account, Type: "generation.completed", Data: json.RawMessage(`{}`)})
	}
	if _, err := h.store.EventsPublish(h.ctx, store.EventsPublishParams{Events: evs, Now: t0, QueueMax: 3}); err != nil {
		t.Fatal(err)
	}
	e := h.endpointState(ep)
	if e.QueuedCount != 3 || e.DroppedCount != 2 {
		t.Fatalf("queued %d dropped %d, want 3 and 2", e.QueuedCount, e.DroppedCount)
	}
	ds := h.deliveries(ep) // newest first: the two oldest were dropped
	for i, d := range ds {
		want := webhook.StatusQueued
		if i >= 3 {
			want = webhook.StatusDropped
		}
		if d.Status != want {
			t.Fatalf("delivery %d (newest first) is %s, want %s", i, d.Status, want)
		}
		if want == webhook.StatusDropped && d.LastError != "queue limit: more than 3 queued" {
			t.Fatalf("dropped without the reason: %q", d.LastError)
		}
	}
	h.clock.Advance(7*24*time.Hour + time.Minute)
	h.d.Sweep(h.ctx)
	e = h.endpointState(ep)
	if e.QueuedCount != 0 || e.DroppedCount != 5 {
		t.Fatalf("after the age limit: queued %d dropped %d, want 0 and 5", e.QueuedCount, e.DroppedCount)
	}
	// The sweep counts what it drops; the publish's drops are its caller's
	// to count (the intake), not the dispatcher's.
	if n := counter(t, h, "hookrelay_deliveries_dropped_total", "reason", "age"); n != 3 {
		t.Fatalf("dropped by age counted %v, want 3", n)
	}
	if d := h.deliveries(ep)[0]; d.Status != webhook.StatusDropped || !strings.HasPrefix(d.LastError, "queue limit: queued longer than") {
		t.Fatalf("aged-out delivery: %s %q", d.Status, d.LastError)
	}
}

func TestStrictOrderWaitsForTheHead(t *testing.T) {
	storetest.OnBothDrivers(t, testStrictOrderWaitsForTheHead)
}

func testStrictOrderWaitsForTheHead(t *testing.T) {
	t.Parallel()
	rc, srv := newRecorder(func(n, attempt int) int {
		if n == 0 && attempt <= 2 {
			return 500
		}
		return 200
	})
	defer srv.Close()
	mid := func() float64 { return 0.5 }
	h := setup(t, options{cfg: dispatch.Config{Policy: dispatch.Policy{Delays: dispatch.DefaultDelays, Jitter: 0.1, Rand: mid}}})
	id := webhook.NewID("wh", t0)
	if _, err := h.store.EndpointCreate(h.ctx, store.EndpointCreateParams{ID: id, AccountID: h.account, URL: srv.URL,
		Events: []string{"*"}, StrictOrder: true,
		Secret: webhook.EndpointSecret{Ciphertext: h.box.Seal([]byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), []byte(id)), Prefix: "p"}, Now: t0}); err != nil {
		t.Fatal(err)
	}
	h.publish(5)
	eventually(t, "first attempt of the head", func() bool { return rc.n() == 1 })
	quiet()
	h.clock.Advance(time.Minute)
	eventually(t, "second attempt of the head", func() bool { return rc.n() == 2 })
	quiet()
	h.clock.Advance(5 * time.Minute)
	eventually(t, "all", func() bool { return rc.n() == 7 })
	seen, _ := rc.log()
	if !slices.Equal(seen, []int{0, 0, 0, 1, 2, 3, 4}) {
		t.Fatalf("strict order sent %v, want [0 0 0 1 2 3 4]", seen)
	}
}
