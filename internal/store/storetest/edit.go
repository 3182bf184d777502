package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

func exerciseEdit(t *testing.T, open Opener) {
	t.Run("EndpointUpdate", func(t *testing.T) { t.Parallel(); testUpdate(t, open) })
	t.Run("RotateAndReload", func(t *testing.T) { t.Parallel(); testRotate(t, open) })
	t.Run("Recover", func(t *testing.T) { t.Parallel(); testRecover(t, open) })
	t.Run("EventList", func(t *testing.T) { t.Parallel(); testEventList(t, open) })
	t.Run("Idempotency", func(t *testing.T) { t.Parallel(); testIdempotency(t, open) })
}

func testUpdate(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "generation.completed")
	url, desc, strict := "https://example.com/new", "new", true
	got, err := b.s.EndpointUpdate(b.ctx, store.EndpointUpdateParams{AccountID: b.acc.ID, ID: ep.ID, URL: &url,
		Events: []string{"generation.failed"}, Description: &desc, StrictOrder: &strict, Now: t0.Add(time.Minute)})
	must(t, err)
	if got.URL != url || got.Description != desc || !got.StrictOrder || !slices.Equal(got.Events, []string{"generation.failed"}) ||
		!got.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("updated = %+v", got)
	}
	if r := b.publish(t, t0, b.event("generation.completed"))[0]; r.Event.Deliveries != 0 {
		t.Fatal("the old subscription still receives")
	}
	if r := b.publish(t, t0, b.event("generation.failed"))[0]; r.Event.Deliveries != 1 {
		t.Fatal("the new subscription does not receive")
	}
	got, err = b.s.EndpointUpdate(b.ctx, store.EndpointUpdateParams{AccountID: b.acc.ID, ID: ep.ID, Description: &url, Now: t0})
	must(t, err)
	if got.URL != url || !slices.Equal(got.Events, []string{"generation.failed"}) || !got.StrictOrder {
		t.Fatalf("a partial update changed other fields: %+v", got)
	}
	if _, err := b.s.EndpointUpdate(b.ctx, store.EndpointUpdateParams{AccountID: "acc_other", ID: ep.ID, Description: &desc, Now: t0}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("update by another account: %v", err)
	}
}

func testRotate(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "*")
	before, err := b.s.EndpointReload(b.ctx, store.EndpointReloadParams{EndpointID: ep.ID, Now: t0})
	must(t, err)
	if len(before.Secrets) != 1 || before.URL != ep.URL {
		t.Fatalf("reload = %+v", before)
	}
	rotate := func(ct string, grace time.Duration, at time.Time) {
		t.Helper()
		must(t, b.s.EndpointRotateSecret(b.ctx, store.EndpointRotateSecretParams{AccountID: b.acc.ID, ID: ep.ID,
			Secret: webhook.EndpointSecret{Ciphertext: []byte(ct), Prefix: "whsec_" + ct[:4] + "…"}, Grace: grace, Now: at}))
	}
	rotate("new1", time.Hour, t0)
	c, err := b.s.EndpointReload(b.ctx, store.EndpointReloadParams{EndpointID: ep.ID, Now: t0})
	must(t, err)
	if len(c.Secrets) != 2 || string(c.Secrets[0].Ciphertext) != "new1" || c.Secrets[1].ExpiresAt == nil ||
		!c.Secrets[1].ExpiresAt.Equal(t0.Add(time.Hour)) || c.SecretVersion <= before.SecretVersion {
		t.Fatalf("during grace: %+v", c)
	}
	if e := b.get(t, ep.ID, t0); e.SecretPrefix != "whsec_new1…" {
		t.Fatalf("secret_prefix = %q", e.SecretPrefix)
	}
	c, _ = b.s.EndpointReload(b.ctx, store.EndpointReloadParams{EndpointID: ep.ID, Now: t0.Add(time.Hour)})
	if len(c.Secrets) != 1 || string(c.Secrets[0].Ciphertext) != "new1" {
		t.Fatalf("after grace: %d secrets", len(c.Secrets))
	}
	// A second rotation never extends an older secret's life, and without
	// grace ends every old secret at once.
	rotate("new2", 0, t0.Add(time.Minute))
	c, _ = b.s.EndpointReload(b.ctx, store.EndpointReloadParams{EndpointID: ep.ID, Now: t0.Add(time.Minute)})
	if len(c.Secrets) != 1 || string(c.Secrets[0].Ciphertext) != "new2" {
		t.Fatalf("after an immediate rotation: %+v", c.Secrets)
	}
	claimed, err := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n", Now: t0.Add(time.Minute), LeaseUntil: t0.Add(time.Hour), Limit: 1})
	must(t, err)
	b.publish(t, t0.Add(time.Minute), b.event("generation.completed"))
	due, err := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: t0.Add(time.Minute), Limit: 5})
	must(t, err)
	if len(due) != 1 || due[0].SecretVersion != c.SecretVersion {
		t.Fatalf("due rows carry secret version %v, want %d", due, c.SecretVersion)
	}
	_ = claimed
	if err := b.s.EndpointRotateSecret(b.ctx, store.EndpointRotateSecretParams{AccountID: "acc_other", ID: ep.ID,
		Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"}, Now: t0}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("rotation by another account: %v", err)
	}
}

func testRecover(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "*")
	for i := range 4 {
		b.publish(t, t0.Add(time.Duration(i)*time.Hour), b.event("generation.completed"))
	}
	ds := b.deliveries(t, ep.ID) // newest first
	var rs []store.AttemptResult
	for _, d := range ds[:3] {
		rs = append(rs, store.AttemptResult{DeliveryID: d.ID, Status: webhook.StatusFailed, ScheduleAttempt: 5,
			Attempt: webhook.Attempt{AttemptedAt: t0, StatusCode: 500}})
	}
	must(t, b.s.DeliveriesRecord(b.ctx, rs))
	until := t0.Add(3 * time.Hour)
	later := t0.Add(10 * time.Hour)
	n, err := b.s.DeliveriesRecover(b.ctx, store.DeliveriesRecoverParams{AccountID: b.acc.ID, EndpointID: ep.ID,
		Since: t0.Add(time.Hour), Until: &until, Now: later})
	must(t, err)
	if n != 2 {
		t.Fatalf("recovered %d, want the 2 failed in [1h, 3h)", n)
	}
	due, err := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: later, Limit: 10})
	must(t, err)
	if len(due) != 3 || due[0].ScheduleAttempt != 0 { // two recovered and the never-failed one
		t.Fatalf("after recover: %+v", due)
	}
	if _, err := b.s.DeliveriesRecover(b.ctx, store.DeliveriesRecoverParams{AccountID: "acc_other", EndpointID: ep.ID, Since: t0, Now: later}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("recover by another account: %v", err)
	}
}

func testEventList(t *testing.T, open Opener) {
	b := setup(t, open)
	var ids []string
	for i := range 5 {
		ev := b.event("generation.completed")
		if i == 2 {
			ev.Type = "generation.failed"
		}
		ids = append(ids, b.publish(t, t0, ev)[0].Event.ID)
	}
	page, err := b.s.EventList(b.ctx, store.EventListParams{AccountID: b.acc.ID, Limit: 3})
	must(t, err)
	if len(page.Items) != 3 || page.Items[0].ID != ids[0] || page.NextCursor == "" || string(page.Items[0].Data) != `{"n":1}` {
		t.Fatalf("page 1 = %+v", page)
	}
	page, err = b.s.EventList(b.ctx, store.EventListParams{AccountID: b.acc.ID, Limit: 3, Cursor: page.NextCursor})
	must(t, err)
	if len(page.Items) != 2 || page.Items[1].ID != ids[4] || page.NextCursor == "" {
		t.Fatalf("last page = %+v (it keeps a cursor to poll from)", page)
	}
	empty, err := b.s.EventList(b.ctx, store.EventListParams{AccountID: b.acc.ID, Limit: 3, Cursor: page.NextCursor})
	must(t, err)
	if len(empty.Items) != 0 {
		t.Fatalf("past the end: %+v", empty)
	}
	f, err := b.s.EventList(b.ctx, store.EventListParams{AccountID: b.acc.ID, EventType: "generation.failed", Limit: 10})
	must(t, err)
	if len(f.Items) != 1 || f.Items[0].ID != ids[2] {
		t.Fatalf("filtered = %+v", f)
	}
	if o, _ := b.s.EventList(b.ctx, store.EventListParams{AccountID: "acc_other", Limit: 10}); len(o.Items) != 0 {
		t.Fatal("another account lists these events")
	}
}

func testIdempotency(t *testing.T, open Opener) {
	b := setup(t, open)
	k := store.IdempotencyKey{Scope: "key_1", Key: "k"}
	must(t, b.s.ProcessHeartbeat(b.ctx, store.Process{ID: "p1", PID: 1, StartedAt: t0, HeartbeatAt: t0}))
	alive := t0.Add(-time.Minute) // p1's heartbeat (t0) is after it: p1 is alive
	begin := func(fp string, at time.Time) (*store.IdempotentResponse, error) {
		return b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: k, Owner: "p1", Fingerprint: []byte(fp),
			Now: at, AliveSince: alive, StaleAfter: time.Minute})
	}
	r, err := begin("a", t0)
	must(t, err)
	if r != nil {
		t.Fatalf("a new key came back with %+v", r)
	}
	if _, err := begin("a", t0.Add(time.Hour)); !errors.Is(err, webhook.ErrConflict) {
		t.Fatalf("a key held by a live process: err = %v, want ErrConflict however long it runs", err)
	}
	if r, err := begin("b", t0.Add(time.Second)); err != nil || r == nil || !r.Mismatch {
		t.Fatalf("another request with the key: %+v %v", r, err)
	}
	// Only the holder completes it.
	must(t, b.s.IdempotencyComplete(b.ctx, store.IdempotencyCompleteParams{IdempotencyKey: k, Owner: "p2", Status: 500, Body: []byte(`{}`), Now: t0}))
	must(t, b.s.IdempotencyComplete(b.ctx, store.IdempotencyCompleteParams{IdempotencyKey: k, Owner: "p1", Status: 202, Body: []byte(`{"x":1}`), Now: t0}))
	r, err = begin("a", t0.Add(time.Hour))
	must(t, err)
	if r == nil || r.Status != 202 || !bytes.Equal(r.Body, []byte(`{"x":1}`)) {
		t.Fatalf("replay = %+v", r)
	}
	// Scoped: another API key may use the same key.
	if r, err := b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: store.IdempotencyKey{Scope: "key_2", Key: "k"},
		Owner: "p1", Fingerprint: []byte("z"), Now: t0, AliveSince: alive}); err != nil || r != nil {
		t.Fatalf("another scope: %+v %v", r, err)
	}

	// A key whose holder is gone is free at once, for any request: its row
	// removed, or its heartbeat older than AliveSince.
	k2 := store.IdempotencyKey{Scope: "key_1", Key: "k2"}
	begin2 := func(owner, fp string, aliveSince time.Time) (*store.IdempotentResponse, error) {
		return b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: k2, Owner: owner, Fingerprint: []byte(fp),
			Now: t0, AliveSince: aliveSince, StaleAfter: time.Minute})
	}
	_, err = begin2("p1", "a", alive)
	must(t, err)
	must(t, b.s.ProcessHeartbeat(b.ctx, store.Process{ID: "p2", PID: 2, StartedAt: t0, HeartbeatAt: t0.Add(time.Second)}))
	if r, err := begin2("p2", "other", t0.Add(time.Second)); err != nil || r != nil {
		t.Fatalf("a key held by a process whose heartbeat stopped was not taken over: %+v %v", r, err)
	}
	if _, err := begin2("p1", "other", alive); !errors.Is(err, webhook.ErrConflict) {
		t.Fatalf("p2 holds the key now: %v", err)
	}
	must(t, b.s.ProcessRemove(b.ctx, "p2"))
	must(t, b.s.ProcessHeartbeat(b.ctx, store.Process{ID: "p3", PID: 3, StartedAt: t0, HeartbeatAt: t0}))
	k3 := store.IdempotencyKey{Scope: "key_1", Key: "k3"}
	_, err = b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: k3, Owner: "p3", Fingerprint: []byte("a"), Now: t0, AliveSince: alive})
	must(t, err)
	must(t, b.s.ProcessRemove(b.ctx, "p3"))
	if r, err := b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: k3, Owner: "p1", Fingerprint: []byte("a"), Now: t0, AliveSince: alive}); err != nil || r != nil {
		t.Fatalf("a key of a removed process is still held: %+v %v", r, err)
	}
	// A process holds its own keys, registered or not yet.
	k5 := store.IdempotencyKey{Scope: "key_1", Key: "k5"}
	_, err = b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: k5, Owner: "p9", Fingerprint: []byte("a"), Now: t0, AliveSince: alive})
	must(t, err)
	if _, err := b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: k5, Owner: "p9", Fingerprint: []byte("a"), Now: t0, AliveSince: alive}); !errors.Is(err, webhook.ErrConflict) {
		t.Fatalf("an unregistered process's own key in progress: %v, want ErrConflict", err)
	}
	ps, err := b.s.ProcessList(b.ctx)
	must(t, err)
	if len(ps) != 1 || ps[0].ID != "p1" || ps[0].PID != 1 || !ps[0].HeartbeatAt.Equal(t0) {
		t.Fatalf("processes = %+v", ps)
	}
	must(t, b.s.ProcessHeartbeat(b.ctx, store.Process{ID: "p1", PID: 1, StartedAt: t0, HeartbeatAt: t0.Add(time.Minute)}))
	if ps, _ := b.s.ProcessList(b.ctx); len(ps) != 1 || !ps[0].HeartbeatAt.Equal(t0.Add(time.Minute)) || !ps[0].StartedAt.Equal(t0) {
		t.Fatalf("after a heartbeat: %+v", ps)
	}

	// Keys begun with no owner (an older version) are taken over once stale.
	k4 := store.IdempotencyKey{Scope: "key_1", Key: "k4"}
	_, err = b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: k4, Fingerprint: []byte("a"), Now: t0, StaleAfter: time.Minute})
	must(t, err)
	if _, err := b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: k4, Fingerprint: []byte("a"), Now: t0.Add(time.Second), StaleAfter: time.Minute}); !errors.Is(err, webhook.ErrConflict) {
		t.Fatalf("an ownerless key not stale yet: %v", err)
	}
	if r, err := b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: k4, Owner: "p1", Fingerprint: []byte("a"), Now: t0.Add(2 * time.Minute), AliveSince: alive, StaleAfter: time.Minute}); err != nil || r != nil {
		t.Fatalf("a stale ownerless key was not taken over: %+v %v", r, err)
	}
	// Aborted keys are free at once; an abort by another owner does nothing.
	must(t, b.s.IdempotencyAbort(b.ctx, store.IdempotencyAbortParams{IdempotencyKey: k4, Owner: "p2"}))
	if _, err := b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: k4, Owner: "p1", Fingerprint: []byte("a"), Now: t0, AliveSince: alive}); !errors.Is(err, webhook.ErrConflict) {
		t.Fatalf("another owner's abort freed the key: %v", err)
	}
	must(t, b.s.IdempotencyAbort(b.ctx, store.IdempotencyAbortParams{IdempotencyKey: k4, Owner: "p1"}))
	if r, err := b.s.IdempotencyBegin(b.ctx, store.IdempotencyBeginParams{IdempotencyKey: k4, Owner: "p1", Fingerprint: []byte("c"), Now: t0, AliveSince: alive}); err != nil || r != nil {
		t.Fatalf("an aborted key is still held: %+v %v", r, err)
	}
	// Pruned after the window.
	_, err = b.s.Prune(b.ctx, store.PruneParams{Before: t0, Limit: 10, IdempotencyBefore: t0.Add(time.Hour)})
	must(t, err)
	if r, err := begin("zzz", t0.Add(2*time.Hour)); err != nil || r != nil {
		t.Fatalf("a pruned key still answers: %+v %v", r, err)
	}
}
