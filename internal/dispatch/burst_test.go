package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/dispatch"
	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// countingReceiver answers 200 at once and counts distinct delivery ids.
type countingReceiver struct {
	mu       sync.Mutex
	seen     map[string]bool
	requests atomic.Int64
}

func newCountingReceiver() (*countingReceiver, *httptest.Server) {
	rc := &countingReceiver{seen: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.requests.Add(1)
		rc.mu.Lock()
		rc.seen[r.Header.Get("webhook-id")] = true
		rc.mu.Unlock()
	}))
	return rc, srv
}

func (rc *countingReceiver) unique() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.seen)
}

// endpointFor registers an endpoint of url subscribed to events.
func (h *harness) endpointFor(url string, events []string) string {
	h.t.Helper()
	secret, _ := signing.NewSecret()
	id := webhook.NewID("wh", t0)
	_, err := h.store.EndpointCreate(h.ctx, store.EndpointCreateParams{ID: id, AccountID: h.account, URL: url,
		Events: events, Secret: webhook.EndpointSecret{Ciphertext: h.box.Seal([]byte(secret), []byte(id)), Prefix: "p"}, Now: t0})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// waitAll waits for want distinct deliveries, failing with a goroutine
// dump (which names a cycle at once) if they stop coming.
func waitAll(t *testing.T, rc *countingReceiver, want int, d *dispatch.Dispatcher, diag func() string) {
	t.Helper()
	last, lastChange := -1, time.Now()
	for {
		n := rc.unique()
		if n == want {
			return
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		// A cycle stops deliveries for good; a busy machine only slows
		// them, so the window is wide.
		if time.Since(lastChange) > 60*time.Second {
			var b strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("stalled at %d of %d deliveries (watchdog: %v)\npending:\n%s\n%s", n, want, d.Stalled(context.Background()), diag(), b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBurstOnManyEndpointsNeverStalls is the shape that once deadlocked
// the dispatcher for good: a burst of batch publishes over 100+ endpoints
// with receivers that answer at once, so results pile up faster than they
// are written. Internal capacities are tiny so that any cycle between the
// workers and the completer closes within a second.
func TestBurstOnManyEndpointsNeverStalls(t *testing.T) {
	t.Parallel()
	const endpoints = 120
	for _, shape := range []struct {
		name     string
		events   int
		fanout   bool
		inFlight int
	}{
		// One in flight per endpoint leaves the smallest buffers between
		// workers and completer: the shape that closed the old cycle.
		{"spread/in-flight-1", 6000, false, 1},
		{"spread/in-flight-10", 3000, false, 10},
		{"fanout/in-flight-10", 25, true, 10}, // 25 × 120 = 3,000 deliveries
	} {
		t.Run(shape.name, func(t *testing.T) {
			t.Parallel()
			rc, srv := newCountingReceiver()
			defer srv.Close()
			// A generous timeout and breaker: under -race on a busy machine a
			// loopback request can be slow, and with the fake clock standing
			// still an open breaker would never close. Neither is under test.
			// With one in flight per endpoint the completer's batch and
			// backlog are tiny (4 and 8): the buffers that once closed the
			// cycle. Ten in flight over 120 endpoints overshoots any small
			// backlog by 1,200 results, so there they are merely small.
			batch := 4
			if shape.inFlight > 1 {
				batch = 50
			}
			h := setup(t, options{cfg: dispatch.Config{RecordBatch: batch, RecordBacklog: 2 * batch, MaxInFlightPerEndpoint: shape.inFlight,
				Timeout: time.Minute, Breaker: dispatch.Breaker{Threshold: 1 << 20}}})
			for i := range endpoints {
				events := []string{"*"}
				if !shape.fanout {
					events = []string{fmt.Sprintf("bench.e%d", i)}
					if _, err := h.store.EventTypeCreate(h.ctx, store.EventTypeCreateParams{Name: events[0], Description: "d", Now: t0}); err != nil {
						t.Fatal(err)
					}
				}
				h.endpointFor(fmt.Sprintf("%s/ep/%d", srv.URL, i), events)
			}
			want := shape.events
			if shape.fanout {
				want *= endpoints
			}
			// Batches of 500, as fast as the store commits them.
			for from := 0; from < shape.events; from += 500 {
				var evs []store.PublishEvent
				for i := from; i < min(from+500, shape.events); i++ {
					typ := "generation.completed"
					if !shape.fanout {
						typ = fmt.Sprintf("bench.e%d", i%endpoints)
					}
					evs = append(evs, store.PublishEvent{AccountID: h.account, Type: typ, Data: json.RawMessage(`{"i":` + itoa(i) + `}`)})
				}
				res, err := h.store.EventsPublish(h.ctx, store.EventsPublishParams{Events: evs, Now: h.clock.Now()})
				if err != nil {
					t.Fatal(err)
				}
				var woken []string
				for _, r := range res {
					woken = append(woken, r.EndpointIDs...)
				}
				h.d.Notify(woken)
			}
			waitAll(t, rc, want, h.d, func() string {
				var b strings.Builder
				eps, _ := h.store.EndpointList(h.ctx, store.EndpointListParams{AccountID: h.account, Now: h.clock.Now(), Limit: 250})
				for _, e := range eps.Items {
					page, _ := h.store.DeliveryList(h.ctx, store.DeliveryListParams{AccountID: h.account, EndpointID: e.ID, Status: webhook.StatusPending, Limit: 3})
					for _, dl := range page.Items {
						fmt.Fprintf(&b, "%s %s %s attempts=%d err=%q next=%v\n", e.ID, e.Status, dl.ID, dl.AttemptCount, dl.LastError, dl.NextAttemptAt)
					}
				}
				return b.String()
			})
			// Every result reaches the database too.
			eventually(t, "every delivery recorded as delivered", func() bool {
				n, err := countDeliveries(h, webhook.StatusDelivered)
				if err != nil {
					t.Fatal(err)
				}
				return n == want
			})
			if err := h.d.Stalled(h.ctx); err != nil {
				t.Fatalf("watchdog: %v", err)
			}
			t.Logf("%d deliveries, %d requests (%d repeated)", want, rc.requests.Load(), rc.requests.Load()-int64(want))
		})
	}
}

// countDeliveries counts the account's deliveries with status s.
func countDeliveries(h *harness, s webhook.DeliveryStatus) (int, error) {
	eps, err := h.store.EndpointList(h.ctx, store.EndpointListParams{AccountID: h.account, Now: h.clock.Now(), Limit: 250})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range eps.Items {
		cursor := ""
		for {
			page, err := h.store.DeliveryList(h.ctx, store.DeliveryListParams{AccountID: h.account, EndpointID: e.ID, Status: s, Cursor: cursor, Limit: 250})
			if err != nil {
				return 0, err
			}
			n += len(page.Items)
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
	}
	return n, nil
}

// TestSharedHostReusesConnections: twenty endpoints on one host (as
// customers of one automation service are) keep their connections alive
// between deliveries instead of opening one per request.
func TestSharedHostReusesConnections(t *testing.T) {
	t.Parallel()
	rc := &countingReceiver{seen: map[string]bool{}}
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.requests.Add(1)
		rc.mu.Lock()
		rc.seen[r.Header.Get("webhook-id")] = true
		rc.mu.Unlock()
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	h := setup(t, options{cfg: dispatch.Config{MaxInFlightPerEndpoint: 10, Timeout: time.Minute}})
	const endpoints = 20
	for i := range endpoints {
		h.endpointFor(fmt.Sprintf("%s/ep/%d", srv.URL, i), []string{"*"})
	}
	for range 10 {
		h.publish(10) // 10 events × 20 endpoints per wave
	}
	waitAll(t, rc, 100*endpoints, h.d, func() string { return "" })
	// About one connection per request that can be in flight at once (the
	// transport may dial while a connection is being handed back, so up to
	// twice that); a pool sized for one endpoint opened one per request.
	if n := conns.Load(); n > 2*endpoints*10 {
		t.Fatalf("%d connections opened for %d deliveries to one host, want at most %d", n, 100*endpoints, 2*endpoints*10)
	}
	t.Logf("%d connections for %d deliveries", conns.Load(), 100*endpoints)
}

// TestProcessWideInFlightCap: --max-in-flight bounds the requests in flight
// across all endpoints (memory), endpoints take turns for them, and every
// delivery still goes out.
func TestProcessWideInFlightCap(t *testing.T) {
	t.Parallel()
	var now, peak atomic.Int64
	rc := &countingReceiver{seen: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond) // slow enough for requests to pile up
		now.Add(-1)
		rc.requests.Add(1)
		rc.mu.Lock()
		rc.seen[r.Header.Get("webhook-id")] = true
		rc.mu.Unlock()
	}))
	defer srv.Close()
	const endpoints, limit = 8, 15
	h := setup(t, options{cfg: dispatch.Config{MaxInFlightPerEndpoint: 10, MaxInFlight: limit, Timeout: time.Minute}})
	for i := range endpoints {
		h.endpointFor(fmt.Sprintf("%s/ep/%d", srv.URL, i), []string{"*"})
	}
	h.publish(30) // 30 events × 8 endpoints, 80 slots wanted, 15 allowed
	waitAll(t, rc, 30*endpoints, h.d, func() string { return "" })
	if p := peak.Load(); p > limit || p < limit/2 {
		t.Fatalf("at most %d requests were in flight at once, want about the cap of %d and never more", p, limit)
	}
	t.Logf("peak %d in flight with --max-in-flight %d", peak.Load(), limit)
}
