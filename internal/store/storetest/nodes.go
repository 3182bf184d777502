package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/engine"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// exerciseNodes is what several processes on one database must get right.
func exerciseNodes(t *testing.T, newDB NewDatabase) {
	t.Run("Nodes/ClaimContention", func(t *testing.T) { t.Parallel(); testClaimContention(t, newDB) })
	t.Run("Nodes/FanOutSeesOtherNodes", func(t *testing.T) { t.Parallel(); testFanOutNodes(t, newDB) })
	t.Run("Nodes/EventCursorWaitsForLateCommit", func(t *testing.T) { t.Parallel(); testCursorLateCommit(t, newDB) })
	t.Run("Nodes/DuePositionWaitsForLateCommit", func(t *testing.T) { t.Parallel(); testDueLateCommit(t, newDB) })
	t.Run("Nodes/PollerSeesEveryEvent", func(t *testing.T) { t.Parallel(); testPollerUnderLoad(t, newDB) })
	t.Run("Nodes/PublishTimesMonotone", func(t *testing.T) { t.Parallel(); testPublishClock(t, newDB) })
	t.Run("Nodes/DisableRacesPublish", func(t *testing.T) { t.Parallel(); testDisableRace(t, newDB) })
	t.Run("Nodes/IdempotencyKeyOneWinner", func(t *testing.T) { t.Parallel(); testIdempotencyRace(t, newDB) })
}

// nodes sets up an account and event types on a fresh database and opens
// n handles on it.
func nodes(t *testing.T, newDB NewDatabase, n int) (*bundle, []store.Store) {
	db := newDB(t)
	b := setup(t, func(t *testing.T) store.Store { return db(t) })
	out := []store.Store{b.s}
	for len(out) < n {
		out = append(out, db(t))
	}
	return b, out
}

// txStore is a store whose transactions a test can hold open: the engine.
type txStore interface {
	InTx(ctx context.Context, fn func(engine.Tx) error) error
	EventsPublishTx(ctx context.Context, tx engine.Tx, p store.EventsPublishParams) ([]store.PublishResult, error)
}

// holdPublish publishes ev on s inside a transaction that stays open until
// release is closed; published is closed once the rows are written.
func holdPublish(t *testing.T, s store.Store, now time.Time, ev store.PublishEvent) (published, release chan struct{}, done chan error) {
	ts, ok := s.(txStore)
	if !ok {
		t.Skip("the store does not expose its transactions")
	}
	published, release, done = make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- ts.InTx(context.Background(), func(tx engine.Tx) error {
			_, err := ts.EventsPublishTx(context.Background(), tx, store.EventsPublishParams{Now: now, Events: []store.PublishEvent{ev}})
			close(published)
			<-release
			return err
		})
	}()
	return published, release, done
}

// testClaimContention: nodes claiming at once never lease one endpoint to
// two of them, and together they take every endpoint with work.
func testClaimContention(t *testing.T, newDB NewDatabase) {
	b, ns := nodes(t, newDB, 3)
	const endpoints = 30
	for range endpoints {
		b.endpoint(t, b.acc.ID, "*")
	}
	b.publish(t, t0, b.event("generation.completed"))
	var mu sync.Mutex
	owner := map[string]string{}
	var wg sync.WaitGroup
	for i, s := range ns {
		name := fmt.Sprintf("n%d", i)
		wg.Go(func() {
			for range 10 {
				c, err := s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: name, Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 4})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, e := range c {
					if prev, ok := owner[e.ID]; ok {
						t.Errorf("endpoint %s claimed by %s and %s", e.ID, prev, name)
					}
					owner[e.ID] = name
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(owner) != endpoints {
		t.Fatalf("%d of %d endpoints with due work were claimed", len(owner), endpoints)
	}
}

// testFanOutNodes: a node's fan-out cache never misses an endpoint another
// node created, nor keeps sending to one it deleted or disabled.
func testFanOutNodes(t *testing.T, newDB NewDatabase) {
	b, ns := nodes(t, newDB, 2)
	a, other := ns[0], ns[1]
	publish := func() store.PublishResult {
		res, err := a.EventsPublish(b.ctx, store.EventsPublishParams{Now: t0, Events: []store.PublishEvent{b.event("generation.completed")}})
		must(t, err)
		return res[0]
	}
	if n := publish().Event.Deliveries; n != 0 {
		t.Fatalf("%d deliveries with no endpoint", n)
	}
	ep, err := other.EndpointCreate(b.ctx, store.EndpointCreateParams{ID: webhook.NewID("wh", t0), AccountID: b.acc.ID,
		URL: "https://example.com/", Events: []string{"*"}, Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"}, Now: t0})
	must(t, err)
	if r := publish(); r.Event.Deliveries != 1 || len(r.EndpointIDs) != 1 {
		t.Fatalf("after another node created an endpoint: %+v, want one pending delivery", r)
	}
	_, err = other.EndpointDisable(b.ctx, store.EndpointDisableParams{AccountID: b.acc.ID, ID: ep.ID, Reason: "r", Now: t0})
	must(t, err)
	if r := publish(); r.Event.Deliveries != 1 || len(r.EndpointIDs) != 0 {
		t.Fatalf("after another node disabled the endpoint: %+v, want one queued delivery", r)
	}
	dropped, err := other.EndpointDelete(b.ctx, store.EndpointDeleteParams{AccountID: b.acc.ID, ID: ep.ID, Now: t0})
	must(t, err)
	if dropped != 2 {
		t.Fatalf("delete dropped %d, want the 2 queued deliveries", dropped)
	}
	if n := publish().Event.Deliveries; n != 0 {
		t.Fatalf("%d deliveries after another node deleted the endpoint, want 0", n)
	}
}

// testCursorLateCommit interleaves two publishes on two nodes: the first
// draws its position and stays uncommitted while the second tries to
// publish and a poller reads. The first's event must not end up behind the
// poller's cursor: either the second waits for the first to commit, or the
// poller does not pass the first's position.
func testCursorLateCommit(t *testing.T, newDB NewDatabase) {
	b, ns := nodes(t, newDB, 3)
	first, second, poller := ns[0], ns[1], ns[2]
	published, release, done := holdPublish(t, first, t0, b.event("generation.completed"))
	<-published
	secondDone := make(chan error, 1)
	go func() {
		_, err := second.EventsPublish(b.ctx, store.EventsPublishParams{Now: t0, Events: []store.PublishEvent{b.event("generation.failed")}})
		secondDone <- err
	}()
	// Time for the second publish to commit, if anything lets it.
	select {
	case err := <-secondDone:
		secondDone <- err
	case <-time.After(300 * time.Millisecond):
	}
	var seen []string
	cursor := ""
	poll := func() {
		page, err := poller.EventList(b.ctx, store.EventListParams{AccountID: b.acc.ID, Cursor: cursor, Limit: 10})
		must(t, err)
		for _, e := range page.Items {
			seen = append(seen, e.Type)
		}
		if page.NextCursor != "" {
			cursor = page.NextCursor
		}
	}
	poll()
	close(release)
	must(t, <-done)
	must(t, <-secondDone)
	poll()
	if !slices.Equal(seen, []string{"generation.completed", "generation.failed"}) {
		t.Fatalf("poller saw %v, want both events in commit order", seen)
	}
}

// testDueLateCommit is the same interleaving for the dispatcher's due scan:
// a scan that continues after its last position never skips a delivery
// whose publish committed late.
func testDueLateCommit(t *testing.T, newDB NewDatabase) {
	b, ns := nodes(t, newDB, 3)
	ep := b.endpoint(t, b.acc.ID, "*")
	first, second, reader := ns[0], ns[1], ns[2]
	published, release, done := holdPublish(t, first, t0, b.event("generation.completed"))
	<-published
	secondDone := make(chan error, 1)
	go func() {
		_, err := second.EventsPublish(b.ctx, store.EventsPublishParams{Now: t0, Events: []store.PublishEvent{b.event("generation.failed")}})
		secondDone <- err
	}()
	select {
	case err := <-secondDone:
		secondDone <- err
	case <-time.After(300 * time.Millisecond):
	}
	var seen []string
	var after *store.DuePosition
	scan := func() {
		due, err := reader.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: t0.Add(time.Second), Limit: 10, After: after})
		must(t, err)
		for _, d := range due {
			seen = append(seen, d.EventType)
			p := d.Position
			after = &p
		}
	}
	scan()
	close(release)
	must(t, <-done)
	must(t, <-secondDone)
	scan()
	if !slices.Equal(seen, []string{"generation.completed", "generation.failed"}) {
		t.Fatalf("due scan saw %v, want both deliveries in commit order", seen)
	}
}

// testPollerUnderLoad: while three nodes publish at once, a poller that
// follows GET /v1/events with its cursor sees every event exactly once.
func testPollerUnderLoad(t *testing.T, newDB NewDatabase) {
	b, ns := nodes(t, newDB, 4)
	const perNode = 60
	var wg sync.WaitGroup
	for i, s := range ns[:3] {
		wg.Go(func() {
			for j := range perNode {
				ev := b.event("generation.completed")
				ev.EventID = fmt.Sprintf("evt_n%d_%03d", i, j)
				if _, err := s.EventsPublish(b.ctx, store.EventsPublishParams{Now: t0, Events: []store.PublishEvent{ev}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	stop := make(chan struct{})
	go func() { wg.Wait(); close(stop) }()
	seen := map[string]int{}
	cursor := ""
	for last := false; ; {
		page, err := ns[3].EventList(b.ctx, store.EventListParams{AccountID: b.acc.ID, Cursor: cursor, Limit: 7})
		must(t, err)
		for _, e := range page.Items {
			seen[e.ID]++
		}
		if page.NextCursor != "" {
			cursor = page.NextCursor
		}
		if last && len(page.Items) == 0 {
			break
		}
		select {
		case <-stop:
			last = true
		default:
		}
	}
	if len(seen) != 3*perNode {
		t.Fatalf("the poller saw %d distinct events of %d published", len(seen), 3*perNode)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("the poller saw %s %d times", id, n)
		}
	}
}

// testPublishClock: a node whose clock is behind never stamps an event
// earlier than one already committed, so due order is publish order.
func testPublishClock(t *testing.T, newDB NewDatabase) {
	b, ns := nodes(t, newDB, 2)
	ep := b.endpoint(t, b.acc.ID, "*")
	ahead, behind := ns[0], ns[1]
	r1, err := ahead.EventsPublish(b.ctx, store.EventsPublishParams{Now: t0.Add(time.Second), Events: []store.PublishEvent{b.event("generation.completed")}})
	must(t, err)
	r2, err := behind.EventsPublish(b.ctx, store.EventsPublishParams{Now: t0, Events: []store.PublishEvent{b.event("generation.failed")}})
	must(t, err)
	if r2[0].Event.CreatedAt.Before(r1[0].Event.CreatedAt) {
		t.Fatalf("second publish stamped %v, before the first's %v", r2[0].Event.CreatedAt, r1[0].Event.CreatedAt)
	}
	due, err := ahead.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: t0.Add(time.Minute), Limit: 10})
	must(t, err)
	if len(due) != 2 || due[0].EventType != "generation.completed" || due[1].EventType != "generation.failed" {
		t.Fatalf("due order %+v, want publish order", due)
	}
}

// testDisableRace: an endpoint disabled on one node while others publish
// to it ends with every delivery either queued (and counted) or pending
// from before the disable; none pending after it, none miscounted.
func testDisableRace(t *testing.T, newDB NewDatabase) {
	b, ns := nodes(t, newDB, 3)
	ep := b.endpoint(t, b.acc.ID, "*")
	var wg sync.WaitGroup
	for _, s := range ns[1:] {
		wg.Go(func() {
			for range 30 {
				if _, err := s.EventsPublish(b.ctx, store.EventsPublishParams{Now: t0, Events: []store.PublishEvent{b.event("generation.completed")}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	_, err := ns[0].EndpointDisable(b.ctx, store.EndpointDisableParams{AccountID: b.acc.ID, ID: ep.ID, Reason: "test", Now: t0})
	must(t, err)
	wg.Wait()
	page, err := b.s.DeliveryList(b.ctx, store.DeliveryListParams{AccountID: b.acc.ID, EndpointID: ep.ID, Limit: 250})
	must(t, err)
	queued := 0
	for _, d := range page.Items {
		switch d.Status {
		case webhook.StatusQueued:
			queued++
		default:
			t.Errorf("delivery %s is %s after the endpoint was disabled", d.ID, d.Status)
		}
	}
	got, err := b.s.EndpointGet(b.ctx, store.EndpointGetParams{AccountID: b.acc.ID, ID: ep.ID, Now: t0})
	must(t, err)
	if len(page.Items) != 60 || got.QueuedCount != queued {
		t.Fatalf("%d deliveries, %d queued, queued_count %d; want 60 all queued and counted", len(page.Items), queued, got.QueuedCount)
	}
}

// testIdempotencyRace: nodes beginning one key at once: exactly one owns
// it, the others are told it is in progress.
func testIdempotencyRace(t *testing.T, newDB NewDatabase) {
	b, ns := nodes(t, newDB, 3)
	for i, s := range ns { // each node a live process
		must(t, s.ProcessHeartbeat(b.ctx, store.Process{ID: fmt.Sprintf("proc_%d", i), StartedAt: t0, HeartbeatAt: t0}))
	}
	for round := range 10 {
		key := store.IdempotencyKey{Scope: "key_1", Key: fmt.Sprintf("k%d", round)}
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, busy := 0, 0
		for i, s := range ns {
			wg.Go(func() {
				out, err := s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: key, Owner: fmt.Sprintf("proc_%d", i),
					Fingerprint: []byte("fp"), Now: t0, AliveSince: t0.Add(-time.Minute), StaleAfter: time.Hour})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && out == nil:
					won++
				case err != nil && isConflict(err):
					busy++
				default:
					t.Errorf("begin: %+v, %v", out, err)
				}
			})
		}
		wg.Wait()
		if won != 1 || busy != len(ns)-1 {
			t.Fatalf("round %d: %d nodes own the key, %d told it is busy", round, won, busy)
		}
	}
}

func isConflict(err error) bool {
	var ce *webhook.ConflictError
	return errors.As(err, &ce)
}
