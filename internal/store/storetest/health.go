package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

func exerciseHealth(t *testing.T, open Opener) {
	t.Run("DisableQueuesAndPublishes", func(t *testing.T) { t.Parallel(); testDisable(t, open) })
	t.Run("EnableAndDeliverQueued", func(t *testing.T) { t.Parallel(); testEnableDeliver(t, open) })
	t.Run("QueueLimits", func(t *testing.T) { t.Parallel(); testQueueLimits(t, open) })
	t.Run("StrictOrderDue", func(t *testing.T) { t.Parallel(); testStrictDue(t, open) })
	t.Run("RecordAfterDisable", func(t *testing.T) { t.Parallel(); testRecordAfterDisable(t, open) })
	t.Run("DeliveryFailedEvent", func(t *testing.T) { t.Parallel(); testDeliveryFailedEvent(t, open) })
	t.Run("HealthAndBreaker", func(t *testing.T) { t.Parallel(); testHealth(t, open) })
}

// operatorInbox subscribes an operator endpoint to the operational types
// and returns a function listing the event types it has received.
func (b *bundle) operatorInbox(t *testing.T) func() []string {
	t.Helper()
	ep, err := b.s.EndpointCreate(b.ctx, store.EndpointCreateParams{ID: webhook.NewID("wh", t0), AccountID: webhook.OperatorAccountID,
		URL: "https://ops.example.com/", Events: []string{webhook.EventTypeEndpointDisabled, webhook.EventTypeEndpointEnabled, webhook.EventTypeDeliveryFailed},
		Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"}, Now: t0})
	must(t, err)
	return func() []string {
		page, err := b.s.DeliveryList(b.ctx, store.DeliveryListParams{AccountID: webhook.OperatorAccountID, EndpointID: ep.ID, Limit: 250})
		must(t, err)
		var out []string
		for i := len(page.Items) - 1; i >= 0; i-- {
			out = append(out, page.Items[i].EventType)
		}
		return out
	}
}

func (b *bundle) get(t *testing.T, id string, now time.Time) webhook.Endpoint {
	t.Helper()
	e, err := b.s.EndpointGet(b.ctx, store.EndpointGetParams{AccountID: b.acc.ID, ID: id, Now: now})
	must(t, err)
	return e
}

func testDisable(t *testing.T, open Opener) {
	b := setup(t, open)
	inbox := b.operatorInbox(t)
	ep := b.endpoint(t, b.acc.ID, "*")
	b.publish(t, t0, b.event("generation.completed"), b.event("generation.completed"))
	if _, err := b.s.EndpointDisable(b.ctx, store.EndpointDisableParams{AccountID: "acc_other", ID: ep.ID, Reason: "x", Now: t0}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("disable by another account: %v", err)
	}
	at := t0.Add(time.Minute)
	ok, err := b.s.EndpointDisable(b.ctx, store.EndpointDisableParams{AccountID: b.acc.ID, ID: ep.ID, Reason: "the endpoint answered 410 Gone", Now: at})
	must(t, err)
	if !ok {
		t.Fatal("disable reported no change")
	}
	e := b.get(t, ep.ID, at)
	if e.Status != webhook.EndpointDisabled || e.DisabledReason != "the endpoint answered 410 Gone" || e.DisabledAt == nil || !e.DisabledAt.Equal(at) || e.QueuedCount != 2 {
		t.Fatalf("disabled endpoint = %+v", e)
	}
	for _, d := range b.deliveries(t, ep.ID) {
		if d.Status != webhook.StatusQueued || d.NextAttemptAt != nil {
			t.Fatalf("pending delivery not queued: %+v", d)
		}
	}
	ok, err = b.s.EndpointDisable(b.ctx, store.EndpointDisableParams{AccountID: b.acc.ID, ID: ep.ID, Reason: "again", Now: at.Add(time.Hour)})
	must(t, err)
	if ok || b.get(t, ep.ID, at).DisabledReason != "the endpoint answered 410 Gone" {
		t.Fatal("a second disable changed the endpoint")
	}
	if got := inbox(); len(got) != 1 || got[0] != webhook.EventTypeEndpointDisabled {
		t.Fatalf("operator received %v, want one endpoint.disabled", got)
	}
	res := b.publish(t, at, b.event("generation.completed"))[0]
	if res.Event.Deliveries != 1 || len(res.EndpointIDs) != 0 {
		t.Fatalf("publish to a disabled endpoint: %+v (a delivery, but nothing to wake)", res)
	}
	if e := b.get(t, ep.ID, at); e.QueuedCount != 3 {
		t.Fatalf("queued_count = %d, want 3", e.QueuedCount)
	}
	if c, _ := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n", Now: at, LeaseUntil: at.Add(time.Minute), Limit: 5}); claims(c, ep.ID) {
		t.Fatal("a disabled endpoint was claimed")
	}
	if _, err := b.s.DeliveryReplay(b.ctx, store.DeliveryReplayParams{AccountID: b.acc.ID, EndpointID: ep.ID, ID: b.deliveries(t, ep.ID)[0].ID, Now: at}); !errors.Is(err, webhook.ErrConflict) {
		t.Fatalf("replay on a disabled endpoint: err = %v, want ErrConflict", err)
	}
	if _, err := b.s.DeliveryCreateTest(b.ctx, store.DeliveryCreateTestParams{AccountID: b.acc.ID, EndpointID: ep.ID, EventID: "evt_t",
		DeliveryID: "dlv_t", Data: json.RawMessage(`{}`), Now: at}); !errors.Is(err, webhook.ErrConflict) {
		t.Fatalf("test on a disabled endpoint: err = %v, want ErrConflict", err)
	}
}

func testEnableDeliver(t *testing.T, open Opener) {
	b := setup(t, open)
	inbox := b.operatorInbox(t)
	ep := b.endpoint(t, b.acc.ID, "*")
	_, err := b.s.EndpointDisable(b.ctx, store.EndpointDisableParams{AccountID: b.acc.ID, ID: ep.ID, Reason: "by hand", Now: t0})
	must(t, err)
	for i := range 3 {
		b.publish(t, t0.Add(time.Duration(i)*time.Second), b.event("generation.completed"))
	}
	if _, err := b.s.DeliveriesQueuedDeliver(b.ctx, store.DeliveriesQueuedDeliverParams{AccountID: b.acc.ID, EndpointID: ep.ID, Now: t0}); !errors.Is(err, webhook.ErrConflict) {
		t.Fatalf("deliver queued while disabled: err = %v, want ErrConflict", err)
	}
	later := t0.Add(time.Hour)
	ok, err := b.s.EndpointEnable(b.ctx, store.EndpointEnableParams{AccountID: b.acc.ID, ID: ep.ID, Now: later})
	must(t, err)
	if !ok {
		t.Fatal("enable reported no change")
	}
	if ok, _ := b.s.EndpointEnable(b.ctx, store.EndpointEnableParams{AccountID: b.acc.ID, ID: ep.ID, Now: later}); ok {
		t.Fatal("a second enable reported a change")
	}
	e := b.get(t, ep.ID, later)
	if e.Status != webhook.EndpointActive || e.DisabledReason != "" || e.DisabledAt != nil || e.QueuedCount != 3 {
		t.Fatalf("enabled endpoint = %+v", e)
	}
	if c, _ := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n", Now: later, LeaseUntil: later.Add(time.Minute), Limit: 5}); claims(c, ep.ID) {
		t.Fatal("enabling alone made queued work claimable")
	}
	page, err := b.s.DeliveryQueuedList(b.ctx, store.DeliveryQueuedListParams{AccountID: b.acc.ID, EndpointID: ep.ID, Limit: 2})
	must(t, err)
	if len(page.Items) != 2 || page.NextCursor == "" || !page.Items[0].CreatedAt.Equal(t0) {
		t.Fatalf("queued page = %+v", page)
	}
	n, err := b.s.DeliveriesQueuedDeliver(b.ctx, store.DeliveriesQueuedDeliverParams{AccountID: b.acc.ID, EndpointID: ep.ID, Now: later})
	must(t, err)
	if n != 3 || b.get(t, ep.ID, later).QueuedCount != 0 {
		t.Fatalf("delivered %d queued", n)
	}
	due, err := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: later, Limit: 10})
	must(t, err)
	if len(due) != 3 || !due[0].PublishedAt.Equal(t0) || !due[2].PublishedAt.Equal(t0.Add(2*time.Second)) || due[0].ID != page.Items[0].ID {
		t.Fatalf("queued deliveries are not due oldest first with their ids: %+v", due)
	}
	if c, _ := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n2", Now: later, LeaseUntil: later.Add(time.Minute), Limit: 5}); !claims(c, ep.ID) {
		t.Fatal("delivered queue not claimable")
	}
	if got := inbox(); len(got) != 2 || got[1] != webhook.EventTypeEndpointEnabled {
		t.Fatalf("operator received %v", got)
	}
}

func testQueueLimits(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "*")
	_, err := b.s.EndpointDisable(b.ctx, store.EndpointDisableParams{AccountID: b.acc.ID, ID: ep.ID, Reason: "by hand", Now: t0})
	must(t, err)
	for i := range 4 {
		res, err := b.s.EventsPublish(b.ctx, store.EventsPublishParams{Now: t0.Add(time.Duration(i) * time.Hour), QueueMax: 3,
			Events: []store.PublishEvent{b.event("generation.completed")}})
		must(t, err)
		// The caller counts drops from the result (the drop metric).
		if want := max(0, i-2); res[0].Dropped != want {
			t.Fatalf("publish %d reports %d dropped, want %d", i, res[0].Dropped, want)
		}
	}
	e := b.get(t, ep.ID, t0)
	if e.QueuedCount != 3 || e.DroppedCount != 1 {
		t.Fatalf("queued %d dropped %d, want 3 and 1", e.QueuedCount, e.DroppedCount)
	}
	oldest := b.deliveries(t, ep.ID)[3]
	if oldest.Status != webhook.StatusDropped || oldest.LastError != "queue limit: more than 3 queued" {
		t.Fatalf("oldest = %+v", oldest)
	}
	n, err := b.s.QueueExpire(b.ctx, store.QueueExpireParams{Before: t0.Add(2*time.Hour + time.Minute), Now: t0.Add(9 * time.Hour), Reason: "too old", Limit: 100})
	must(t, err)
	if n != 2 {
		t.Fatalf("expired %d, want the 2 queued before the cut-off", n)
	}
	e = b.get(t, ep.ID, t0)
	if e.QueuedCount != 1 || e.DroppedCount != 3 {
		t.Fatalf("after expiry: queued %d dropped %d", e.QueuedCount, e.DroppedCount)
	}
	ds := b.deliveries(t, ep.ID)
	if ds[0].Status != webhook.StatusQueued || ds[1].Status != webhook.StatusDropped || ds[1].LastError != "too old" {
		t.Fatalf("after expiry: %+v", ds[:2])
	}
	// A batch overflowing the queue reports its drops once, so the sum
	// over its results is what it dropped: 1 queued + 5 = 6, 3 beyond.
	var evs []store.PublishEvent
	for range 5 {
		evs = append(evs, b.event("generation.completed"))
	}
	res, err := b.s.EventsPublish(b.ctx, store.EventsPublishParams{Now: t0.Add(10 * time.Hour), QueueMax: 3, Events: evs})
	must(t, err)
	sum := 0
	for _, r := range res {
		sum += r.Dropped
	}
	if e := b.get(t, ep.ID, t0); sum != 3 || e.QueuedCount != 3 || e.DroppedCount != 6 {
		t.Fatalf("batch: results report %d dropped; queued %d dropped %d; want 3, 3 and 6", sum, e.QueuedCount, e.DroppedCount)
	}
}

func testStrictDue(t *testing.T, open Opener) {
	b := setup(t, open)
	ep, err := b.s.EndpointCreate(b.ctx, store.EndpointCreateParams{ID: "wh_strict", AccountID: b.acc.ID, URL: "https://example.com/",
		Events: []string{"*"}, StrictOrder: true, Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"}, Now: t0})
	must(t, err)
	if !ep.StrictOrder {
		t.Fatal("strict_order not stored")
	}
	for i := range 3 {
		b.publish(t, t0.Add(time.Duration(i)*time.Millisecond), b.event("generation.completed"))
	}
	now := t0.Add(time.Second)
	due, err := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: now, Limit: 10, StrictOrder: true})
	must(t, err)
	if len(due) != 1 {
		t.Fatalf("strict due = %d deliveries, want only the head", len(due))
	}
	head := due[0].ID
	if d, _ := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: now, Limit: 10, StrictOrder: true, After: &due[0].Position}); len(d) != 0 {
		t.Fatal("strict due skipped over the head held in flight")
	}
	retry := now.Add(time.Minute)
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{{DeliveryID: head, Status: webhook.StatusPending, NextAttemptAt: retry,
		ScheduleAttempt: 1, Attempt: webhook.Attempt{AttemptedAt: now, StatusCode: 500}}}))
	if d, _ := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: now, Limit: 10, StrictOrder: true}); len(d) != 0 {
		t.Fatal("a later delivery overtook the head waiting for its retry")
	}
	_, err = b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n1", Now: now, LeaseUntil: now.Add(time.Hour), Limit: 1})
	must(t, err)
	ok, err := b.s.EndpointRelease(b.ctx, store.EndpointReleaseParams{Owner: "n1", EndpointID: ep.ID, Now: now})
	must(t, err)
	if !ok {
		t.Fatal("release refused while only the head's future retry can go next")
	}
	if c, _ := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n2", Now: retry.Add(-time.Second), LeaseUntil: retry, Limit: 1}); len(c) != 0 {
		t.Fatal("claimed before the head's retry")
	}
	d, _ := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: retry, Limit: 10, StrictOrder: true})
	if len(d) != 1 || d[0].ID != head {
		t.Fatalf("at the retry time strict due = %+v, want the head", d)
	}
}

func testRecordAfterDisable(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "*")
	b.publish(t, t0, b.event("generation.completed"), b.event("generation.completed"))
	ds := b.deliveries(t, ep.ID)
	// Both were in flight when the endpoint was disabled.
	_, err := b.s.EndpointDisable(b.ctx, store.EndpointDisableParams{AccountID: b.acc.ID, ID: ep.ID, Reason: "by hand", Now: t0})
	must(t, err)
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{
		{DeliveryID: ds[0].ID, Status: webhook.StatusPending, NextAttemptAt: t0.Add(time.Minute), ScheduleAttempt: 1, Attempt: webhook.Attempt{AttemptedAt: t0, StatusCode: 500}},
		{DeliveryID: ds[1].ID, Status: webhook.StatusDelivered, ScheduleAttempt: 1, Attempt: webhook.Attempt{AttemptedAt: t0, StatusCode: 200}},
	}))
	got := map[string]webhook.DeliveryStatus{}
	for _, d := range b.deliveries(t, ep.ID) {
		got[d.ID] = d.Status
	}
	if got[ds[0].ID] != webhook.StatusQueued || got[ds[1].ID] != webhook.StatusDelivered {
		t.Fatalf("statuses = %v: a failed attempt stays queued, a 2xx counts as delivered", got)
	}
	if e := b.get(t, ep.ID, t0); e.QueuedCount != 1 {
		t.Fatalf("queued_count = %d, want 1", e.QueuedCount)
	}
}

func testDeliveryFailedEvent(t *testing.T, open Opener) {
	b := setup(t, open)
	inbox := b.operatorInbox(t)
	ep := b.endpoint(t, b.acc.ID, "*")
	b.publish(t, t0, b.event("generation.completed"))
	id := b.deliveries(t, ep.ID)[0].ID
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{{DeliveryID: id, Status: webhook.StatusFailed, ScheduleAttempt: 5,
		Attempt: webhook.Attempt{AttemptedAt: t0, StatusCode: 502, Error: "unexpected status 502"}}}))
	if got := inbox(); len(got) != 1 || got[0] != webhook.EventTypeDeliveryFailed {
		t.Fatalf("operator received %v, want one delivery.failed", got)
	}
	// A failed operational delivery does not report itself (no loop).
	ops, err := b.s.DeliveryList(b.ctx, store.DeliveryListParams{AccountID: webhook.OperatorAccountID, EndpointID: opEndpoint(t, b), Limit: 5})
	must(t, err)
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{{DeliveryID: ops.Items[0].ID, Status: webhook.StatusFailed, ScheduleAttempt: 5,
		Attempt: webhook.Attempt{AttemptedAt: t0, StatusCode: 500}}}))
	if got := inbox(); len(got) != 1 {
		t.Fatalf("a failed operational delivery emitted another event: %v", got)
	}
}

func opEndpoint(t *testing.T, b *bundle) string {
	page, err := b.s.EndpointList(b.ctx, store.EndpointListParams{AccountID: webhook.OperatorAccountID, Now: t0, Limit: 5})
	must(t, err)
	return page.Items[0].ID
}

func testHealth(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "*")
	b.publish(t, t0, b.event("generation.completed"), b.event("generation.completed"))
	c, err := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n1", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 1})
	must(t, err)
	if len(c) != 1 || c[0].Health.BreakerOpenUntil != nil || c[0].Health.ConsecutiveFailures != 0 || !c[0].CreatedAt.Equal(t0) {
		t.Fatalf("claimed health = %+v", c)
	}
	ds := b.deliveries(t, ep.ID)
	open1 := t0.Add(30 * time.Second)
	success := t0.Add(-time.Hour)
	h := store.EndpointHealth{ConsecutiveFailures: 5, BreakerTrips: 1, BreakerOpenUntil: &open1, FailedDeliveries: 2, LastSuccessAt: &success}
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{{DeliveryID: ds[0].ID, Status: webhook.StatusPending, NextAttemptAt: t0.Add(time.Second),
		ScheduleAttempt: 1, Attempt: webhook.Attempt{AttemptedAt: t0, StatusCode: 500}, EndpointID: ep.ID, Owner: "n1", Health: &h}}))
	// A stale owner's health is ignored.
	stale := store.EndpointHealth{}
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{{DeliveryID: ds[1].ID, Status: webhook.StatusPending, NextAttemptAt: t0.Add(time.Second),
		ScheduleAttempt: 1, Attempt: webhook.Attempt{AttemptedAt: t0, StatusCode: 500}, EndpointID: ep.ID, Owner: "n0", Health: &stale}}))
	ok, err := b.s.EndpointRelease(b.ctx, store.EndpointReleaseParams{Owner: "n1", EndpointID: ep.ID, Now: t0.Add(2 * time.Second)})
	must(t, err)
	if !ok {
		t.Fatal("release refused while the breaker is open")
	}
	if c, _ := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n2", Now: t0.Add(29 * time.Second), LeaseUntil: t0.Add(time.Hour), Limit: 1}); len(c) != 0 {
		t.Fatal("claimed while the breaker is open")
	}
	c, err = b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n2", Now: open1, LeaseUntil: t0.Add(time.Hour), Limit: 1})
	must(t, err)
	if len(c) != 1 {
		t.Fatal("not claimable when the cool-down ends")
	}
	got := c[0].Health
	if got.ConsecutiveFailures != 5 || got.BreakerTrips != 1 || got.BreakerOpenUntil == nil || !got.BreakerOpenUntil.Equal(open1) ||
		got.FailedDeliveries != 2 || got.LastSuccessAt == nil || !got.LastSuccessAt.Equal(success) {
		t.Fatalf("health after restart = %+v, want %+v", got, h)
	}
	// Enabling (after a disable) resets health.
	_, err = b.s.EndpointDisable(b.ctx, store.EndpointDisableParams{AccountID: b.acc.ID, ID: ep.ID, Reason: "x", Now: open1})
	must(t, err)
	_, err = b.s.EndpointEnable(b.ctx, store.EndpointEnableParams{AccountID: b.acc.ID, ID: ep.ID, Now: open1})
	must(t, err)
	_, err = b.s.DeliveriesQueuedDeliver(b.ctx, store.DeliveriesQueuedDeliverParams{AccountID: b.acc.ID, EndpointID: ep.ID, Now: open1})
	must(t, err)
	c, err = b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n3", Now: open1, LeaseUntil: open1.Add(time.Hour), Limit: 1})
	must(t, err)
	if len(c) != 1 || c[0].Health.BreakerOpenUntil != nil || c[0].Health.ConsecutiveFailures != 0 || c[0].Health.FailedDeliveries != 0 {
		t.Fatalf("health after enable = %+v", c)
	}
}

// claims reports whether id is among the claimed endpoints (the operator's
// own endpoint may be claimed too: it has operational events to send).
func claims(c []store.ClaimedEndpoint, id string) bool {
	for _, e := range c {
		if e.ID == id {
			return true
		}
	}
	return false
}
