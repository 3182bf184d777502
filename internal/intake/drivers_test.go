package intake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/intake"
	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/storetest"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// TestGroupCommit: concurrent publishes share transactions, each caller
// gets its own results once they are committed, a repeated event id is a
// duplicate, and the endpoints given work are passed to notify.
func TestGroupCommit(t *testing.T) { storetest.OnBothDrivers(t, testGroupCommit) }

func testGroupCommit(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t)
	ctx := context.Background()
	now := time.Date(2026, 5, 12, 12, 0, 0, 0, time.UTC)
	if _, err := st.AccountCreate(ctx, store.AccountCreateParams{ID: "acc_1", Name: "a", Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EventTypeCreate(ctx, store.EventTypeCreateParams{Name: "x.y", Description: "d", Now: now}); err != nil {
		t.Fatal(err)
	}
	ep, err := st.EndpointCreate(ctx, store.EndpointCreateParams{ID: "wh_1", AccountID: "acc_1", URL: "https://example.com/",
		Events: []string{"*"}, Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	notified := map[string]int{}
	in := intake.New(st, clock.NewFake(now), func(ids []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			notified[id]++
		}
	}, metrics.New(prometheus.NewRegistry(), false), slog.New(slog.NewTextHandler(io.Discard, nil)), intake.Config{})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { in.Run(rctx); close(done) }()
	defer func() { stop(); <-done }()

	const n = 64
	var wg sync.WaitGroup
	results := make([][]store.PublishResult, n)
	for i := range n {
		wg.Go(func() {
			ev := store.PublishEvent{AccountID: "acc_1", Type: "x.y", EventID: fmt.Sprintf("evt_%d", i%(n/2)), Data: json.RawMessage(`{}`)}
			res, err := in.Publish(ctx, []store.PublishEvent{ev})
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = res
		})
	}
	wg.Wait()
	fresh, dup := 0, 0
	for i, r := range results {
		if len(r) != 1 || r[0].Event.ID != fmt.Sprintf("evt_%d", i%(n/2)) {
			t.Fatalf("publish %d got %+v", i, r)
		}
		if r[0].Duplicate {
			dup++
		} else {
			fresh++
		}
	}
	if fresh != n/2 || dup != n/2 {
		t.Fatalf("%d new and %d duplicates, want %d of each", fresh, dup, n/2)
	}
	page, err := st.DeliveryList(ctx, store.DeliveryListParams{AccountID: "acc_1", EndpointID: ep.ID, Limit: 250})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(page.Items) != n/2 || notified[ep.ID] == 0 {
		t.Fatalf("%d deliveries (want %d), endpoint notified %d times", len(page.Items), n/2, notified[ep.ID])
	}
}
