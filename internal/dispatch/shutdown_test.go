package dispatch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/dispatch"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// TestShutdownWithinTimeoutWhileSaturated: every endpoint's every slot is
// held by a receiver that never answers, and more work waits behind them.
// Stopping must still return within ShutdownTimeout, give every lease
// back (with a deadline of its own, not the cancelled context), and lose
// nothing: a restarted dispatcher delivers all of it under the same ids.
func TestShutdownWithinTimeoutWhileSaturated(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var hung atomic.Int32
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hung.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer dead.Close()
	defer close(release)

	const shutdown = 2 * time.Second
	logs := &lockedBuffer{}
	h := setup(t, options{cfg: dispatch.Config{ShutdownTimeout: shutdown, Timeout: time.Minute}, logTo: logs})
	const endpoints, events = 20, 400
	var eps []string
	for i := range endpoints {
		eps = append(eps, h.endpointFor(fmt.Sprintf("%s/ep/%d", dead.URL, i), []string{"*"}))
	}
	h.publish(events / endpoints) // fan-out: 20 events × 20 endpoints
	eventually(t, "every slot held", func() bool { return hung.Load() == endpoints*10 })

	start := time.Now()
	h.stop()
	took := time.Since(start)
	// The deadline is the point of the test; the margin absorbs -race and
	// a busy machine, not design slack (the plan ends at the deadline).
	if took > shutdown+time.Second {
		t.Fatalf("stop took %s with ShutdownTimeout %s\n%s", took, shutdown, logs)
	}
	t.Logf("stopped in %s", took.Round(time.Millisecond))
	// Another node claims every endpoint at once: the leases were given
	// back, not left to expire.
	c, err := h.store.EndpointsClaim(h.ctx, store.EndpointsClaimParams{Owner: "other", Now: h.clock.Now(),
		LeaseUntil: h.clock.Now().Add(time.Minute), Limit: endpoints})
	if err != nil || len(c) != endpoints {
		t.Fatalf("another node could claim %d of %d endpoints right after the stop (%v)\n%s", len(c), endpoints, err, logs)
	}
	// Hand them back and restart with a receiver that answers.
	for _, ep := range eps {
		if _, err := h.store.EndpointRelease(h.ctx, store.EndpointReleaseParams{Owner: "other", EndpointID: ep, Now: h.clock.Now(), Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	rc, ok := newCountingReceiver()
	defer ok.Close()
	for _, ep := range eps {
		url := ok.URL + "/" + ep
		if _, err := h.store.EndpointUpdate(h.ctx, store.EndpointUpdateParams{AccountID: h.account, ID: ep, URL: &url, Now: h.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	h2 := setup2(t, h, options{})
	h2.d.Notify(eps)
	waitAll(t, rc, events, h2.d, func() string { return "" })
	eventually(t, "every delivery recorded as delivered after the restart", func() bool {
		n, err := countDeliveries(h, webhook.StatusDelivered)
		if err != nil {
			t.Fatal(err)
		}
		return n == events
	})
}

// stallingStore blocks DeliveriesRecord while held: a database that has
// stopped answering writes.
type stallingStore struct {
	dispatch.Store
	mu   sync.Mutex
	hold chan struct{} // nil: writes pass
}

func (s *stallingStore) block() {
	s.mu.Lock()
	s.hold = make(chan struct{})
	s.mu.Unlock()
}

func (s *stallingStore) unblock() {
	s.mu.Lock()
	close(s.hold)
	s.hold = nil
	s.mu.Unlock()
}

func (s *stallingStore) DeliveriesRecord(ctx context.Context, rs []store.AttemptResult) error {
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Store.DeliveriesRecord(ctx, rs)
}

// TestWatchdogReportsAStall: when results stop being written while work
// waits, the watchdog says so (Stalled, hence /readyz, names the part and
// what it waits on) and clears once writes resume.
func TestWatchdogReportsAStall(t *testing.T) {
	t.Parallel()
	rc, srv := newCountingReceiver()
	defer srv.Close()
	h := setup(t, options{noStart: true})
	st := &stallingStore{Store: h.store}
	h.d = newDispatcher(h, st, dispatch.Config{StallAfter: 300 * time.Millisecond, Timeout: 100 * time.Millisecond})
	h.start()
	h.endpointFor(srv.URL, []string{"*"})
	st.block()
	h.publish(30)
	var err error
	eventually(t, "the watchdog to report the stall", func() bool { err = h.d.Stalled(h.ctx); return err != nil })
	// The report names the stuck part: the completer (results not
	// written) or the worker waiting on it (results to be written),
	// whichever stalled first.
	if msg := err.Error(); !strings.Contains(msg, "dispatcher stalled") ||
		!(strings.Contains(msg, "results not written") || strings.Contains(msg, "results to be written")) {
		t.Fatalf("stall report %q does not say that results are not being written", msg)
	}
	if got := gauge(t, h, "hookrelay_dispatcher_stalled"); got != 1 {
		t.Fatalf("stalled gauge = %v, want 1", got)
	}
	st.unblock()
	waitAll(t, rc, 30, h.d, func() string { return "" })
	eventually(t, "the stall to clear", func() bool { return h.d.Stalled(h.ctx) == nil })
	if got := gauge(t, h, "hookrelay_dispatcher_stalled"); got != 0 {
		t.Fatalf("stalled gauge = %v after recovery, want 0", got)
	}
}

// lockedBuffer collects logs written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
