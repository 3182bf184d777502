package dispatch_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/dispatch"
	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/internal/ssrf"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/storetest"
	"github.com/hookrelay/hookrelay/internal/webhook"
	"github.com/hookrelay/hookrelay/verify"
)

var t0 = time.Date(2026, 5, 12, 12, 0, 0, 0, time.UTC)

type harness struct {
	t       *testing.T
	ctx     context.Context
	store   store.Store
	clock   *clock.Fake
	box     *secretbox.Box
	d       *dispatch.Dispatcher
	reg     *prometheus.Registry
	log     *slog.Logger
	guard   *ssrf.Guard
	cfg     dispatch.Config
	account string
	stop    func()
}

type options struct {
	cfg     dispatch.Config
	clock   *clock.Fake
	noStart bool        // the test calls h.start after arranging the database
	guard   *ssrf.Guard // nil: loopback allowed, for httptest receivers
	logTo   io.Writer   // nil: logs are discarded
	// logHandler, when set, receives the dispatcher's logs instead of a
	// text handler on logTo: tests that read log records need JSON and
	// debug level.
	logHandler slog.Handler
}

func setup(t *testing.T, o options) *harness {
	t.Helper()
	st := storetest.Open(t) // SQLite, or PostgreSQL under storetest.OnBothDrivers
	ctx := context.Background()
	box, _ := secretbox.New(make([]byte, 32))
	c := o.clock
	if c == nil {
		c = clock.NewFake(t0)
	}
	acc, err := st.AccountCreate(ctx, store.AccountCreateParams{ID: "acc_1", Name: "A", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.EventTypeCreate(ctx, store.EventTypeCreateParams{Name: "generation.completed", Description: "d", Now: t0}); err != nil {
		t.Fatal(err)
	}
	cfg := o.cfg
	if cfg.Policy.Delays == nil {
		cfg.Policy = dispatch.Policy{Delays: dispatch.DefaultDelays, Jitter: 0.1}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	cfg.PollInterval = 5 * time.Millisecond
	cfg.RecordInterval = time.Millisecond
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 2 * time.Second
	}
	guard := o.guard
	if guard == nil {
		guard = ssrf.New(ssrf.Options{AllowLoopback: true})
	}
	logTo := o.logTo
	if logTo == nil {
		logTo = io.Discard
	}
	var handler slog.Handler = slog.NewTextHandler(logTo, nil)
	if o.logHandler != nil {
		handler = o.logHandler
	}
	log := slog.New(handler)
	h := &harness{t: t, ctx: ctx, store: st, clock: c, box: box, account: acc.ID, log: log, guard: guard, cfg: cfg}
	h.d = newDispatcher(h, st, cfg)
	h.stop = func() {}
	t.Cleanup(h.stop) // before the store closes: cleanups run last first
	if !o.noStart {
		h.start()
	}
	return h
}

// setup2 starts a second dispatcher on h's database and clock, as a
// restarted or additional node would.
func setup2(t *testing.T, h *harness, o options) *harness {
	t.Helper()
	cfg := o.cfg
	if cfg.Policy.Delays == nil {
		cfg.Policy = dispatch.Policy{Delays: dispatch.DefaultDelays, Jitter: 0.1}
	}
	cfg.PollInterval, cfg.RecordInterval, cfg.ShutdownTimeout = 5*time.Millisecond, time.Millisecond, 2*time.Second
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	guard := ssrf.New(ssrf.Options{AllowLoopback: true})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h2 := &harness{t: t, ctx: h.ctx, store: h.store, clock: h.clock, box: h.box, account: h.account, stop: func() {}}
	h2.d = dispatch.New(h.store, guard.Client(10, 0), h.box, signing.NewSigner("X-Hookrelay-", "hookrelay/test"), h.clock, log,
		metrics.New(prometheus.NewRegistry(), false), cfg)
	t.Cleanup(func() { h2.stop() })
	h2.start()
	return h2
}

// newDispatcher builds a dispatcher on h's clock and keys over s, with
// cfg's zero test settings taken from h's, and metrics on a registry of
// its own (h.reg).
func newDispatcher(h *harness, s dispatch.Store, cfg dispatch.Config) *dispatch.Dispatcher {
	if cfg.Policy.Delays == nil {
		cfg.Policy = h.cfg.Policy
	}
	cfg.PollInterval, cfg.RecordInterval = h.cfg.PollInterval, h.cfg.RecordInterval
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = h.cfg.LeaseTTL
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = h.cfg.ShutdownTimeout
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = h.cfg.Timeout
	}
	h.reg = prometheus.NewRegistry()
	return dispatch.New(s, h.guard.Client(10, 0), h.box, signing.NewSigner("X-Hookrelay-", "hookrelay/test"), h.clock, h.log,
		metrics.New(h.reg, false), cfg)
}

// gauge reads a gauge's value from h's registry.
func gauge(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// counter reads the series of a counter with label=value from h's
// registry.
func counter(t *testing.T, h *harness, name, label, value string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no counter %s{%s=%q}", name, label, value)
	return 0
}

func (h *harness) start() {
	runCtx, cancel := context.WithCancel(h.ctx)
	done := make(chan struct{})
	go func() { _ = h.d.Run(runCtx); close(done) }()
	var once sync.Once
	h.stop = func() { once.Do(func() { cancel(); <-done }) }
}

// endpoint registers url and returns its id and secret.
func (h *harness) endpoint(url string) (string, string) {
	h.t.Helper()
	secret, _ := signing.NewSecret()
	id := webhook.NewID("wh", t0)
	_, err := h.store.EndpointCreate(h.ctx, store.EndpointCreateParams{ID: id, AccountID: h.account, URL: url,
		Events: []string{"*"}, Secret: webhook.EndpointSecret{Ciphertext: h.box.Seal([]byte(secret), []byte(id)), Prefix: "p"}, Now: t0})
	if err != nil {
		h.t.Fatal(err)
	}
	return id, secret
}

func (h *harness) publish(n int) []store.PublishResult {
	h.t.Helper()
	var evs []store.PublishEvent
	for i := range n {
		evs = append(evs, store.PublishEvent{AccountID: h.account, Type: "generation.completed",
			Data: json.RawMessage(`{"i":` + itoa(i) + `}`)})
	}
	res, err := h.store.EventsPublish(h.ctx, store.EventsPublishParams{Events: evs, Now: h.clock.Now()})
	if err != nil {
		h.t.Fatal(err)
	}
	var woken []string
	for _, r := range res {
		woken = append(woken, r.EndpointIDs...)
	}
	h.d.Notify(woken)
	return res
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func (h *harness) deliveries(endpointID string) []webhook.Delivery {
	h.t.Helper()
	page, err := h.store.DeliveryList(h.ctx, store.DeliveryListParams{AccountID: h.account, EndpointID: endpointID, Limit: 250})
	if err != nil {
		h.t.Fatal(err)
	}
	return page.Items
}

func (h *harness) delivery(endpointID, id string) webhook.Delivery {
	h.t.Helper()
	d, err := h.store.DeliveryGet(h.ctx, store.DeliveryGetParams{AccountID: h.account, EndpointID: endpointID, ID: id})
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// eventually polls cond; the dispatcher works in real time (only its notion
// of "now" is fake), so conditions settle in milliseconds. The deadline is
// generous because -race on a machine shared with other test binaries can
// stall a goroutine for seconds; a passing condition returns at once.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// waitStatus waits until the delivery has n attempts recorded and status s.
func (h *harness) waitStatus(endpointID, id string, attempts int, s webhook.DeliveryStatus) webhook.Delivery {
	h.t.Helper()
	var d webhook.Delivery
	eventually(h.t, "delivery "+string(s), func() bool {
		d = h.delivery(endpointID, id)
		return d.AttemptCount == attempts && d.Status == s
	})
	return d
}

func deliveryID(r store.PublishResult, h *harness, ep string) string {
	for _, d := range h.deliveries(ep) {
		if d.EventID == r.Event.ID {
			return d.ID
		}
	}
	h.t.Fatalf("no delivery for %s", r.Event.ID)
	return ""
}

func TestRetryUntilSuccessKeepsID(t *testing.T) {
	storetest.OnBothDrivers(t, testRetryUntilSuccessKeepsID)
}

func testRetryUntilSuccessKeepsID(t *testing.T) {
	t.Parallel()
	// Jitter pinned to its middle so the schedule is exact (the policy's own
	// test covers the spread).
	mid := func() float64 { return 0.5 }
	h := setup(t, options{cfg: dispatch.Config{Policy: dispatch.Policy{Delays: dispatch.DefaultDelays, Jitter: 0.1, Rand: mid}}})
	var calls atomic.Int32
	var mu sync.Mutex
	var seen []string
	var bodies []string
	var secret string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Header.Get("webhook-id"))
		bodies = append(bodies, string(body))
		mu.Unlock()
		// Every attempt verifies with the official library, with the fake
		// attempt time as its clock.
		wh, _ := standardwebhooks.NewWebhook(secret)
		ts, _ := time.Parse(time.RFC3339, time.Unix(mustInt(r.Header.Get("webhook-timestamp")), 0).UTC().Format(time.RFC3339))
		if _, err := wh.Sign(r.Header.Get("webhook-id"), ts, body); err != nil {
			t.Error(err)
		}
		v, _ := verify.New(secret, verify.WithClock(func() time.Time { return ts }))
		if err := v.VerifyStandard(body, r.Header); err != nil {
			t.Errorf("attempt %d does not verify: %v", calls.Load()+1, err)
		}
		if err := v.VerifyBranded(body, r.Header); err != nil {
			t.Errorf("attempt %d branded signature: %v", calls.Load()+1, err)
		}
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "try later")
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	ep, sec := h.endpoint(srv.URL)
	secret = sec
	id := deliveryID(h.publish(1)[0], h, ep)

	d := h.waitStatus(ep, id, 1, webhook.StatusPending)
	if d.LastStatusCode != 500 || d.LastError == "" || d.NextAttemptAt == nil {
		t.Fatalf("after first failure: %+v", d)
	}
	if wait := d.NextAttemptAt.Sub(t0); wait != time.Minute {
		t.Fatalf("first retry in %v, want 1m", wait)
	}
	h.clock.Advance(59 * time.Second)
	time.Sleep(50 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("retried before its time (%d calls)", n)
	}
	h.clock.Advance(time.Second)
	d = h.waitStatus(ep, id, 2, webhook.StatusPending)
	if wait := d.NextAttemptAt.Sub(h.clock.Now()); wait != 5*time.Minute {
		t.Fatalf("second retry in %v, want 5m", wait)
	}
	h.clock.Advance(5 * time.Minute)
	d = h.waitStatus(ep, id, 3, webhook.StatusDelivered)
	if d.ID != id || len(d.Attempts) != 3 || d.Attempts[0].ResponseBody != "try later" || d.Attempts[2].StatusCode != 200 {
		t.Fatalf("delivered = %+v", d)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range seen {
		if seen[i] != id {
			t.Fatalf("attempt %d carried webhook-id %s, want %s", i, seen[i], id)
		}
		if bodies[i] != bodies[0] {
			t.Fatalf("attempt %d body differs: %s vs %s", i, bodies[i], bodies[0])
		}
	}
	if string(d.Payload) != bodies[0] {
		t.Fatalf("stored payload %s differs from the body sent %s", d.Payload, bodies[0])
	}
}

func mustInt(s string) int64 {
	var n int64
	_ = json.Unmarshal([]byte(s), &n)
	return n
}

func TestRedirectIsFailureAndNotFollowed(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	var followed atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Add(1) }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	ep, _ := h.endpoint(srv.URL)
	id := deliveryID(h.publish(1)[0], h, ep)
	d := h.waitStatus(ep, id, 1, webhook.StatusPending)
	if d.LastStatusCode != 302 || d.LastError != "redirect not followed: 302 Found to "+target.URL+"/elsewhere" {
		t.Fatalf("redirect attempt = code %d, error %q", d.LastStatusCode, d.LastError)
	}
	if followed.Load() != 0 {
		t.Fatal("the Location was requested")
	}
}

func TestTimeoutAndRefusedAreRetried(t *testing.T) {
	t.Parallel()
	h := setup(t, options{cfg: dispatch.Config{Timeout: 200 * time.Millisecond}})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // nothing listens there any more: connection refused

	slowEP, _ := h.endpoint(slow.URL)
	deadEP, _ := h.endpoint(deadURL)
	res := h.publish(1)
	slowID, deadID := deliveryID(res[0], h, slowEP), deliveryID(res[0], h, deadEP)

	d := h.waitStatus(slowEP, slowID, 1, webhook.StatusPending)
	if d.LastStatusCode != 0 || d.LastError != "timeout: no complete response within 200ms" {
		t.Fatalf("timeout attempt: code %d, error %q", d.LastStatusCode, d.LastError)
	}
	d = h.waitStatus(deadEP, deadID, 1, webhook.StatusPending)
	if d.LastStatusCode != 0 || d.LastError != "connect: connection refused" || d.NextAttemptAt == nil {
		t.Fatalf("refused attempt: %+v", d)
	}
	h.clock.Advance(2 * time.Minute)
	h.waitStatus(slowEP, slowID, 2, webhook.StatusPending)
	h.waitStatus(deadEP, deadID, 2, webhook.StatusPending)
}

func TestRetryAfterHonouredWithinBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status     int
		retryAfter string
		want       time.Duration // exact: Retry-After replaces jitter
	}{
		{429, "90", 90 * time.Second},
		{503, "3600", 2 * time.Minute}, // clamped to twice the scheduled 1m
		{429, "1", time.Minute},        // never sooner than scheduled
		// Absurd values slow us down as much as allowed, no more: a week,
		// beyond int64, and an HTTP date years ahead are all twice 1m.
		{503, "604801", 2 * time.Minute},
		{429, "999999999999999999999", 2 * time.Minute},
		{503, "Wed, 21 Oct 2099 07:28:00 GMT", 2 * time.Minute},
	} {
		t.Run(tc.retryAfter, func(t *testing.T) {
			t.Parallel()
			h := setup(t, options{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tc.retryAfter)
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			ep, _ := h.endpoint(srv.URL)
			id := deliveryID(h.publish(1)[0], h, ep)
			d := h.waitStatus(ep, id, 1, webhook.StatusPending)
			if got := d.NextAttemptAt.Sub(h.clock.Now()); got != tc.want {
				t.Fatalf("next attempt in %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExhaustedBecomesFailed(t *testing.T) { storetest.OnBothDrivers(t, testExhaustedBecomesFailed) }

func testExhaustedBecomesFailed(t *testing.T) {
	t.Parallel()
	h := setup(t, options{cfg: dispatch.Config{Policy: dispatch.Policy{Delays: []time.Duration{time.Minute, time.Minute}}}})
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	ep, _ := h.endpoint(srv.URL)
	id := deliveryID(h.publish(1)[0], h, ep)
	for n := 1; n <= 2; n++ {
		h.waitStatus(ep, id, n, webhook.StatusPending)
		h.clock.Advance(2 * time.Minute)
	}
	d := h.waitStatus(ep, id, 3, webhook.StatusFailed)
	if d.NextAttemptAt != nil || d.LastStatusCode != 502 {
		t.Fatalf("failed delivery = %+v", d)
	}
	h.clock.Advance(24 * time.Hour)
	time.Sleep(50 * time.Millisecond)
	if calls.Load() != 3 {
		t.Fatalf("%d requests after the schedule ended, want 3", calls.Load())
	}
}

func TestPublishOrderAndInFlightCap(t *testing.T) {
	storetest.OnBothDrivers(t, testPublishOrderAndInFlightCap)
}

func testPublishOrderAndInFlightCap(t *testing.T) {
	t.Parallel()
	t.Run("order with one in flight", func(t *testing.T) {
		t.Parallel()
		h := setup(t, options{cfg: dispatch.Config{MaxInFlightPerEndpoint: 1}})
		var mu sync.Mutex
		var got []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got = append(got, r.Header.Get("webhook-id"))
			mu.Unlock()
		}))
		defer srv.Close()
		ep, _ := h.endpoint(srv.URL)
		for range 5 {
			h.publish(20)
		}
		eventually(t, "100 deliveries", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 100 })
		ds := h.deliveries(ep) // newest first
		for i, d := range ds {
			if got[len(ds)-1-i] != d.ID {
				t.Fatalf("request %d was %s, want %s (publish order)", len(ds)-1-i, got[len(ds)-1-i], d.ID)
			}
		}
	})
	t.Run("cap", func(t *testing.T) {
		t.Parallel()
		h := setup(t, options{cfg: dispatch.Config{MaxInFlightPerEndpoint: 4}})
		var now, peak, total atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := now.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			now.Add(-1)
			total.Add(1)
		}))
		defer srv.Close()
		h.endpoint(srv.URL)
		h.publish(60)
		eventually(t, "60 deliveries", func() bool { return total.Load() == 60 })
		if p := peak.Load(); p != 4 {
			t.Fatalf("peak in flight = %d, want exactly the cap of 4", p)
		}
	})
}

func TestSlowEndpointDoesNotHoldBackOthers(t *testing.T) {
	t.Parallel()
	h := setup(t, options{cfg: dispatch.Config{Timeout: 5 * time.Second}})
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	var fast atomic.Int32
	quick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fast.Add(1) }))
	defer quick.Close()
	h.endpoint(slow.URL)
	h.endpoint(quick.URL)
	h.publish(50)
	eventually(t, "the healthy endpoint's 50 deliveries", func() bool { return fast.Load() == 50 })
}

func TestLeaseTakeoverAfterCrash(t *testing.T) {
	storetest.OnBothDrivers(t, testLeaseTakeoverAfterCrash)
}

func testLeaseTakeoverAfterCrash(t *testing.T) {
	t.Parallel()
	c := clock.NewFake(t0)
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	defer srv.Close()
	h := setup(t, options{clock: c, cfg: dispatch.Config{LeaseTTL: 10 * time.Second}, noStart: true})
	ep, _ := h.endpoint(srv.URL)
	// A node that crashed holding the endpoint: its lease is live.
	if _, err := h.store.EventsPublish(h.ctx, store.EventsPublishParams{Now: t0, Events: []store.PublishEvent{
		{AccountID: h.account, Type: "generation.completed", Data: json.RawMessage(`{}`)}}}); err != nil {
		t.Fatal(err)
	}
	claimed, err := h.store.EndpointsClaim(h.ctx, store.EndpointsClaimParams{Owner: "dead-node", Now: t0, LeaseUntil: t0.Add(10 * time.Second), Limit: 1})
	if err != nil || len(claimed) != 1 || claimed[0].ID != ep {
		t.Fatalf("claim by the dead node: %v %v", claimed, err)
	}
	h.start()
	h.d.Notify([]string{ep})
	time.Sleep(50 * time.Millisecond)
	if got.Load() != 0 {
		t.Fatal("sent to an endpoint leased by another node")
	}
	c.Advance(11 * time.Second)
	eventually(t, "takeover after the lease expired", func() bool { return got.Load() == 1 })
}

func TestShutdownReleasesEndpoints(t *testing.T) {
	storetest.OnBothDrivers(t, testShutdownReleasesEndpoints)
}

func testShutdownReleasesEndpoints(t *testing.T) {
	t.Parallel()
	h := setup(t, options{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
	}))
	defer srv.Close()
	ep, _ := h.endpoint(srv.URL)
	id := deliveryID(h.publish(1)[0], h, ep)
	h.waitStatus(ep, id, 1, webhook.StatusPending)
	h.stop()
	// After a clean stop nothing stays leased: another node claims the
	// endpoint as soon as its retry is due, not a lease TTL later.
	h.clock.Advance(2 * time.Minute)
	c, err := h.store.EndpointsClaim(h.ctx, store.EndpointsClaimParams{Owner: "other", Now: h.clock.Now(), LeaseUntil: h.clock.Now().Add(time.Minute), Limit: 5})
	if err != nil || len(c) != 1 {
		t.Fatalf("claim after shutdown = %v, %v", c, err)
	}
}
