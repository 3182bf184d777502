package intake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/intake"
	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// countingStore counts EventsPublish transactions over a real database,
// and refuses any batch holding the event id refuse (a request the store
// cannot take).
type countingStore struct {
	intake.Publisher
	refuse string
	mu     sync.Mutex
	calls  []int // events per call
}

func (c *countingStore) EventsPublish(ctx context.Context, p store.EventsPublishParams) ([]store.PublishResult, error) {
	c.mu.Lock()
	c.calls = append(c.calls, len(p.Events))
	c.mu.Unlock()
	for _, e := range p.Events {
		if c.refuse != "" && e.EventID == c.refuse {
			return nil, errors.New("refused")
		}
	}
	return c.Publisher.EventsPublish(ctx, p)
}

func setup(t *testing.T) (*countingStore, *intake.Intake, func()) {
	t.Helper()
	cs, in, stop, _ := setupWith(t, intake.Config{}, metrics.New(prometheus.NewRegistry(), false))
	return cs, in, stop
}

// setupWith also returns the database under the counting store.
func setupWith(t *testing.T, cfg intake.Config, m *metrics.Metrics) (*countingStore, *intake.Intake, func(), store.Store) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "i.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AccountCreate(ctx, store.AccountCreateParams{ID: "acc_1", Name: "a", Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Publisher: st}
	in := intake.New(cs, clock.Real{}, nil, m, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { in.Run(runCtx); close(done) }()
	return cs, in, func() { cancel(); <-done }, st
}

func event(id string) []store.PublishEvent {
	return []store.PublishEvent{{AccountID: "acc_1", EventID: id, Type: "generation.completed", Data: json.RawMessage(`{}`)}}
}

// TestConcurrentPublishesShareCommits: publishes that arrive while a
// commit runs go into the next one together (group commit), and each gets
// its own result.
func TestConcurrentPublishesShareCommits(t *testing.T) {
	cs, in, stop := setup(t)
	defer stop()
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			res, err := in.Publish(context.Background(), event("evt_"+string(rune('a'+i%26))+string(rune('a'+i/26))))
			if err == nil && (len(res) != 1 || res[0].Event.ID == "") {
				err = errors.New("no result for the event")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.calls) >= n {
		t.Fatalf("%d transactions for %d concurrent publishes: no group commit", len(cs.calls), n)
	}
	t.Logf("%d publishes in %d transactions", n, len(cs.calls))
}

// TestOneBadRequestDoesNotFailItsNeighbours: a request the store refuses
// inside a group is retried alone; the others in its group commit.
func TestOneBadRequestDoesNotFailItsNeighbours(t *testing.T) {
	cs, in, stop := setup(t)
	defer stop()
	cs.refuse = "evt_bad"
	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		id := "evt_good_" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if i == n/2 {
			id = "evt_bad"
		}
		wg.Go(func() { _, errs[i] = in.Publish(context.Background(), event(id)) })
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == n/2 && err == nil:
			t.Fatal("the refused request was acknowledged")
		case i != n/2 && err != nil:
			t.Fatalf("publish %d failed beside a refused one: %v", i, err)
		}
	}
}

// TestPublishAfterStopFailsAtOnce: once the intake has stopped, a publish
// gets ErrClosed (the API answers 503), never hangs, and nothing commits.
func TestPublishAfterStopFailsAtOnce(t *testing.T) {
	cs, in, stop := setup(t)
	stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 5000 { // more than the queue holds: none may wait for a commit loop that is gone
		if _, err := in.Publish(ctx, event("evt_late")); !errors.Is(err, intake.ErrClosed) {
			t.Fatalf("publish after stop: %v, want ErrClosed", err)
		}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.calls) != 0 {
		t.Fatalf("%d commits after stop", len(cs.calls))
	}
}

// TestQueueLimitDropsAreCounted: deliveries that publishes push out of a
// disabled endpoint's queue are counted once each, by reason queue_limit,
// also when a group commit failed and its requests were retried alone.
func TestQueueLimitDropsAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	cs, in, stop, st := setupWith(t, intake.Config{QueueMax: 2}, metrics.New(reg, false))
	defer stop()
	ctx := context.Background()
	now := time.Now()
	if _, err := st.EndpointCreate(ctx, store.EndpointCreateParams{ID: "wh_1", AccountID: "acc_1", URL: "https://example.com/",
		Events: []string{"*"}, Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EndpointDisable(ctx, store.EndpointDisableParams{AccountID: "acc_1", ID: "wh_1", Reason: "r", Now: now}); err != nil {
		t.Fatal(err)
	}
	cs.refuse = "evt_bad"
	const n = 30
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for i := range n {
		id := "evt_" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if i == n/2 {
			id = "evt_bad"
		}
		wg.Go(func() {
			if _, err := in.Publish(ctx, event(id)); err == nil {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if accepted != n-1 {
		t.Fatalf("%d publishes accepted, want %d", accepted, n-1)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "hookrelay_deliveries_dropped_total" {
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if want := float64(accepted - 2); got["queue_limit"] != want || got["age"] != 0 || got["endpoint_deleted"] != 0 {
		t.Fatalf("dropped counted %v, want queue_limit %v (all but the 2 kept) and no other reason", got, want)
	}
}
