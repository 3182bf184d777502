package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// exerciseOps covers what operators run: the admin removals, the
// scrape-time stats and retention.
func exerciseOps(t *testing.T, open Opener) {
	t.Run("OperatorKeyList", func(t *testing.T) { t.Parallel(); testOperatorKeyList(t, open) })
	t.Run("AccountDelete", func(t *testing.T) { t.Parallel(); testAccountDelete(t, open) })
	t.Run("EventTypeDelete", func(t *testing.T) { t.Parallel(); testEventTypeDelete(t, open) })
	t.Run("Stats", func(t *testing.T) { t.Parallel(); testStats(t, open) })
	t.Run("Retention", func(t *testing.T) { t.Parallel(); testRetention(t, open) })
}

func testOperatorKeyList(t *testing.T, open Opener) {
	b := setup(t, open)
	mk := func(id, account string) {
		_, err := b.s.APIKeyCreate(b.ctx, store.APIKeyCreateParams{ID: id, AccountID: account, Name: id, Prefix: "p…",
			Hash: []byte("hash-" + id), Scopes: []string{"webhooks:read"}, Now: t0})
		must(t, err)
	}
	mk("key_op1", "")
	mk("key_acc", b.acc.ID)
	mk("key_op2", "")
	must(t, b.s.APIKeyRevoke(b.ctx, store.APIKeyRevokeParams{ID: "key_op1", Now: t0}))
	page, err := b.s.APIKeyList(b.ctx, store.APIKeyListParams{Limit: 50})
	must(t, err)
	var ids []string
	for _, k := range page.Items {
		ids = append(ids, k.ID)
	}
	if !slices.Equal(ids, []string{"key_op2", "key_op1"}) || page.Items[1].RevokedAt == nil {
		t.Fatalf("operator keys = %v (%+v), want key_op2, key_op1 (revoked)", ids, page.Items)
	}
}

func testAccountDelete(t *testing.T, open Opener) {
	b := setup(t, open)
	keep, err := b.s.AccountCreate(b.ctx, store.AccountCreateParams{ID: "acc_keep", Name: "keep", Now: t0})
	must(t, err)
	for _, acc := range []string{b.acc.ID, keep.ID} {
		_, err := b.s.APIKeyCreate(b.ctx, store.APIKeyCreateParams{ID: "key_" + acc, AccountID: acc, Name: "k", Prefix: "p…",
			Hash: []byte("hash-" + acc), Scopes: []string{"webhooks:read"}, Now: t0})
		must(t, err)
		_, err = b.s.MemberCreate(b.ctx, store.MemberCreateParams{ID: "mem_" + acc, AccountID: acc, Email: "o@example.com",
			Role: webhook.RolePrimaryOwner, PasswordHash: "h", Now: t0})
		must(t, err)
		_, err = b.s.CreditAlertsSet(b.ctx, store.CreditAlertsSetParams{AccountID: acc, Thresholds: []float64{5}, Now: t0})
		must(t, err)
	}
	gone := b.endpoint(t, b.acc.ID, "*")
	kept := b.endpoint(t, keep.ID, "*")
	ev := b.event("generation.completed")
	other := ev
	other.AccountID = keep.ID
	b.publish(t, t0, ev, other)
	d := b.deliveries(t, gone.ID)[0]
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{{DeliveryID: d.ID, Status: webhook.StatusDelivered, ScheduleAttempt: 1,
		Attempt: webhook.Attempt{AttemptedAt: t0, StatusCode: 200}}}))

	wantErr(t, b.s.AccountDelete(b.ctx, store.AccountDeleteParams{ID: webhook.OperatorAccountID}), webhook.ErrConflict, "delete the operator account")
	wantErr(t, b.s.AccountDelete(b.ctx, store.AccountDeleteParams{ID: "acc_missing"}), webhook.ErrNotFound, "delete a missing account")
	must(t, b.s.AccountDelete(b.ctx, store.AccountDeleteParams{ID: b.acc.ID}))

	wantErr(t, ignore(b.s.AccountGet(b.ctx, b.acc.ID)), webhook.ErrNotFound, "the deleted account")
	wantErr(t, ignore(b.s.APIKeyGetByHash(b.ctx, []byte("hash-"+b.acc.ID))), webhook.ErrNotFound, "its key")
	wantErr(t, ignore(b.s.EndpointGet(b.ctx, store.EndpointGetParams{AccountID: b.acc.ID, ID: gone.ID, Now: t0})), webhook.ErrNotFound, "its endpoint")
	wantErr(t, ignore(b.s.DeliveryGet(b.ctx, store.DeliveryGetParams{AccountID: b.acc.ID, EndpointID: gone.ID, ID: d.ID})), webhook.ErrNotFound, "its delivery")
	members, err := b.s.MemberList(b.ctx, store.MemberListParams{AccountID: b.acc.ID, Limit: 10})
	must(t, err)
	events, err := b.s.EventList(b.ctx, store.EventListParams{AccountID: b.acc.ID, Limit: 10})
	must(t, err)
	alerts, err := b.s.CreditAlertsGet(b.ctx, store.CreditAlertsGetParams{AccountID: b.acc.ID})
	if len(members.Items) != 0 || len(events.Items) != 0 || (err == nil && len(alerts.Thresholds) != 0) {
		t.Fatalf("left behind: %d members, %d events, alerts %+v", len(members.Items), len(events.Items), alerts)
	}
	// A publish to the deleted account's types reaches nobody of it.
	res := b.publish(t, t0, b.event("generation.completed"))
	if len(res[0].EndpointIDs) != 0 {
		t.Fatalf("the deleted account's endpoint still receives: %v", res[0].EndpointIDs)
	}
	// The other account is untouched.
	if _, err := b.s.APIKeyGetByHash(b.ctx, []byte("hash-"+keep.ID)); err != nil {
		t.Fatalf("the other account's key: %v", err)
	}
	if ds := b.deliveriesOf(t, keep.ID, kept.ID); len(ds) != 1 {
		t.Fatalf("the other account has %d deliveries, want 1", len(ds))
	}
	st, err := b.s.StatsGet(b.ctx, store.StatsGetParams{Now: t0})
	must(t, err)
	if st.EndpointsActive != 1 || st.DeliveriesPending != 1 {
		t.Fatalf("stats after delete = %+v, want the other account's endpoint and delivery only", st)
	}
}

func (b *bundle) deliveriesOf(t *testing.T, account, endpointID string) []webhook.Delivery {
	t.Helper()
	page, err := b.s.DeliveryList(b.ctx, store.DeliveryListParams{AccountID: account, EndpointID: endpointID, Limit: 250})
	must(t, err)
	return page.Items
}

func testEventTypeDelete(t *testing.T, open Opener) {
	b := setup(t, open)
	wantErr(t, b.s.EventTypeDelete(b.ctx, store.EventTypeDeleteParams{Name: webhook.EventTypeTest}), webhook.ErrConflict, "delete a reserved type")
	wantErr(t, b.s.EventTypeDelete(b.ctx, store.EventTypeDeleteParams{Name: "no.such"}), webhook.ErrNotFound, "delete a missing type")
	ep := b.endpoint(t, b.acc.ID, "generation.completed")
	wantErr(t, b.s.EventTypeDelete(b.ctx, store.EventTypeDeleteParams{Name: "generation.completed"}), webhook.ErrConflict, "delete a subscribed type")
	must(t, b.s.EventTypeDelete(b.ctx, store.EventTypeDeleteParams{Name: "generation.failed"}))
	// Once its only subscriber is gone, the type can go.
	_, err := b.s.EndpointDelete(b.ctx, store.EndpointDeleteParams{AccountID: b.acc.ID, ID: ep.ID, Now: t0})
	must(t, err)
	must(t, b.s.EventTypeDelete(b.ctx, store.EventTypeDeleteParams{Name: "generation.completed"}))
	list, err := b.s.EventTypeList(b.ctx)
	must(t, err)
	for _, et := range list {
		if et.Name == "generation.completed" || et.Name == "generation.failed" {
			t.Fatalf("%s is still in the catalog", et.Name)
		}
	}
}

func testStats(t *testing.T, open Opener) {
	b := setup(t, open)
	st, err := b.s.StatsGet(b.ctx, store.StatsGetParams{Now: t0, TopFailing: 3})
	must(t, err)
	if st.DeliveriesPending != 0 || st.OldestDueAt != nil || st.EndpointsActive != 0 || len(st.TopFailing) != 0 {
		t.Fatalf("stats of an empty database = %+v", st)
	}
	var eps []webhook.Endpoint
	for range 6 {
		eps = append(eps, b.endpoint(t, b.acc.ID, "*"))
	}
	b.publish(t, t0, b.event("generation.completed"))                  // 6 pending, due t0
	b.publish(t, t0.Add(time.Minute), b.event("generation.completed")) // 6 more, due t0+1m
	now := t0.Add(5 * time.Minute)

	// Failures in a row: eps[0] 7 with its breaker open, eps[1] 3, eps[2]
	// 9, eps[3] 1; eps[4] is disabled (its deliveries become queued).
	claimed, err := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n1", Now: now, LeaseUntil: now.Add(time.Hour), Limit: 10})
	must(t, err)
	if len(claimed) != 6 {
		t.Fatalf("claimed %d endpoints, want 6", len(claimed))
	}
	openUntil := now.Add(time.Minute)
	var results []store.AttemptResult
	for i, fails := range []int{7, 3, 9, 1} {
		h := store.EndpointHealth{ConsecutiveFailures: fails}
		if i == 0 {
			h.BreakerOpenUntil = &openUntil
		}
		d := b.deliveries(t, eps[i].ID)
		results = append(results, store.AttemptResult{DeliveryID: d[1].ID, Status: webhook.StatusPending, // the older one
			NextAttemptAt: now.Add(time.Hour), ScheduleAttempt: 1, Attempt: webhook.Attempt{AttemptedAt: now, StatusCode: 500},
			EndpointID: eps[i].ID, Owner: "n1", Health: &h})
	}
	must(t, b.s.DeliveriesRecord(b.ctx, results))
	_, err = b.s.EndpointDisable(b.ctx, store.EndpointDisableParams{AccountID: b.acc.ID, ID: eps[4].ID, Reason: "x", Now: now})
	must(t, err)
	_, err = b.s.EndpointDelete(b.ctx, store.EndpointDeleteParams{AccountID: b.acc.ID, ID: eps[5].ID, Now: now})
	must(t, err)

	st, err = b.s.StatsGet(b.ctx, store.StatsGetParams{Now: now, TopFailing: 3})
	must(t, err)
	// Pending: eps[0..3] keep 2 each (one retried), eps[4]'s are queued,
	// eps[5]'s dropped with it.
	if st.DeliveriesPending != 8 || st.DeliveriesQueued != 2 {
		t.Errorf("pending %d, queued %d; want 8 and 2", st.DeliveriesPending, st.DeliveriesQueued)
	}
	if st.EndpointsActive != 3 || st.EndpointsBreakerOpen != 1 || st.EndpointsDisabled != 1 {
		t.Errorf("endpoints active %d, breaker open %d, disabled %d; want 3, 1, 1", st.EndpointsActive, st.EndpointsBreakerOpen, st.EndpointsDisabled)
	}
	// The oldest due: the t0+1m deliveries of eps[1..3] (eps[0]'s breaker
	// is open; their t0 ones were retried to later).
	if st.OldestDueAt == nil || !st.OldestDueAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("oldest due = %v, want %v", st.OldestDueAt, t0.Add(time.Minute))
	}
	var top []string
	for _, f := range st.TopFailing {
		top = append(top, fmt.Sprintf("%s=%d", f.ID, f.ConsecutiveFailures))
		if f.AccountID != b.acc.ID {
			t.Errorf("top failing %s: account %q", f.ID, f.AccountID)
		}
	}
	want := []string{eps[2].ID + "=9", eps[0].ID + "=7", eps[1].ID + "=3"}
	if !slices.Equal(top, want) {
		t.Errorf("top failing = %v, want %v (at most 3, most first)", top, want)
	}
	// Nothing is due before the first publish's time.
	st, err = b.s.StatsGet(b.ctx, store.StatsGetParams{Now: t0.Add(-time.Second)})
	must(t, err)
	if st.OldestDueAt != nil || st.TopFailing != nil {
		t.Errorf("before anything was due: oldest %v, top %v", st.OldestDueAt, st.TopFailing)
	}
}

// testRetention writes deliveries (delivered, failed, pending), attempts,
// events with and without deliveries and idempotency records at ages on
// both sides of the retention period, on a fake clock, then prunes as the
// dispatcher's janitor does (small batches until a call deletes less than
// its limit) and checks exactly what is left.
func testRetention(t *testing.T, open Opener) {
	b := setup(t, open)
	const retention = 30 * 24 * time.Hour
	const idempotencyWindow = 24 * time.Hour
	quiet, err := b.s.AccountCreate(b.ctx, store.AccountCreateParams{ID: "acc_quiet", Name: "no endpoints", Now: t0})
	must(t, err)
	ep := b.endpoint(t, b.acc.ID, "*")
	now := t0.Add(90 * 24 * time.Hour)
	clk := clock.NewFake(now)

	type written struct {
		age                                time.Duration
		delivered, failed, pending         string // delivery ids
		deliveredEvt, pendingEvt, quietEvt string // event ids
		idem                               store.IdempotencyKey
	}
	ages := []time.Duration{60 * 24 * time.Hour, retention + time.Hour, retention + time.Millisecond, retention,
		retention - time.Hour, 2 * idempotencyWindow, idempotencyWindow + time.Millisecond, idempotencyWindow, time.Hour, 0}
	var all []written
	for i, age := range ages {
		clk.Set(now.Add(-age))
		at := clk.Now()
		w := written{age: age}
		res := b.publish(t, at, b.event("generation.completed"), b.event("generation.completed"), b.event("generation.completed"),
			store.PublishEvent{AccountID: quiet.ID, Type: "generation.completed", Data: json.RawMessage(`{}`)})
		w.deliveredEvt, w.pendingEvt, w.quietEvt = res[0].Event.ID, res[2].Event.ID, res[3].Event.ID
		ds := b.deliveries(t, ep.ID) // newest first: this age's three lead
		w.pending, w.failed, w.delivered = ds[0].ID, ds[1].ID, ds[2].ID
		must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{
			{DeliveryID: w.delivered, Status: webhook.StatusDelivered, ScheduleAttempt: 1, Attempt: webhook.Attempt{AttemptedAt: at, StatusCode: 200}},
			{DeliveryID: w.failed, Status: webhook.StatusFailed, ScheduleAttempt: 1, Attempt: webhook.Attempt{AttemptedAt: at, StatusCode: 500}},
			{DeliveryID: w.pending, Status: webhook.StatusPending, NextAttemptAt: now.Add(time.Hour), ScheduleAttempt: 1,
				Attempt: webhook.Attempt{AttemptedAt: at, StatusCode: 503}},
		}))
		w.idem = store.IdempotencyKey{Scope: "key_1", Key: fmt.Sprintf("k%d", i)}
		_, err := b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: w.idem, Fingerprint: []byte("f"), Now: at, StaleAfter: time.Minute})
		must(t, err)
		must(t, b.s.IdempotencyComplete(b.ctx, store.IdempotencyCompleteParams{IdempotencyKey: w.idem, Status: 202, Body: []byte(`{}`), Now: at}))
		all = append(all, w)
	}

	clk.Set(now)
	const limit = 2 // smaller than each kind's backlog: the loop must drain them all
	calls := 0
	for {
		calls++
		n, err := b.s.Prune(b.ctx, store.PruneParams{Before: clk.Now().Add(-retention), Limit: limit,
			IdempotencyBefore: clk.Now().Add(-idempotencyWindow)})
		must(t, err)
		if n > limit {
			t.Fatalf("prune deleted %d rows of one kind with limit %d", n, limit)
		}
		if n < limit {
			break
		}
		if calls > 100 {
			t.Fatal("prune never drained")
		}
	}
	if calls < 2 {
		t.Fatalf("prune drained everything in %d call with limit %d: the limit is not applied", calls, limit)
	}

	events, err := b.s.EventList(b.ctx, store.EventListParams{AccountID: b.acc.ID, Limit: 250})
	must(t, err)
	quietEvents, err := b.s.EventList(b.ctx, store.EventListParams{AccountID: quiet.ID, Limit: 250})
	must(t, err)
	has := func(list []webhook.Event, id string) bool {
		return slices.ContainsFunc(list, func(e webhook.Event) bool { return e.ID == id })
	}
	for _, w := range all {
		old := w.age > retention // created before the cut-off
		for _, id := range []string{w.delivered, w.failed, w.pending} {
			d, err := b.s.DeliveryGet(b.ctx, store.DeliveryGetParams{AccountID: b.acc.ID, EndpointID: ep.ID, ID: id})
			kept := err == nil
			if err != nil && !errors.Is(err, webhook.ErrNotFound) {
				t.Fatal(err)
			}
			wantKept := !old || id == w.pending // unfinished work is never pruned
			if kept != wantKept {
				t.Errorf("age %s: delivery %s kept %v, want %v", w.age, id, kept, wantKept)
			}
			if kept && len(d.Attempts) != 1 {
				t.Errorf("age %s: kept delivery %s has %d attempts, want 1", w.age, id, len(d.Attempts))
			}
		}
		if got := has(events.Items, w.deliveredEvt); got != !old {
			t.Errorf("age %s: event of finished deliveries kept %v, want %v", w.age, got, !old)
		}
		if !has(events.Items, w.pendingEvt) {
			t.Errorf("age %s: the event of a pending delivery was pruned", w.age)
		}
		if got := has(quietEvents.Items, w.quietEvt); got != !old {
			t.Errorf("age %s: event without deliveries kept %v, want %v", w.age, got, !old)
		}
		r, err := b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: w.idem, Fingerprint: []byte("f"), Now: now, StaleAfter: time.Minute})
		must(t, err)
		if kept, want := r != nil, w.age <= idempotencyWindow; kept != want {
			t.Errorf("age %s: idempotency record kept %v, want %v", w.age, kept, want)
		}
	}
}
