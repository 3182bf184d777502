// Package storetest is the behaviour suite every store driver must pass,
// unchanged: a driver's test calls Exercise with a function that makes a
// fresh, migrated, empty database for each test and returns a way to open
// handles on it. Each handle stands for a process (a node), so the suite
// also checks what several nodes on one database must get right: claims,
// releases racing publishes, fan-out caches and positions that hold with
// concurrent writers.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// NewDatabase makes a fresh, migrated, empty database for one test and
// returns the function that opens a handle on it. Handles close when the
// test ends.
type NewDatabase func(t *testing.T) Handle

// Handle opens another handle (a process) on the test's database.
type Handle func(t *testing.T) store.Store

// Opener opens a single handle on a fresh database.
type Opener func(t *testing.T) store.Store

var t0 = time.Date(2026, 5, 12, 12, 0, 0, 0, time.UTC)

type bundle struct {
	s   store.Store
	ctx context.Context
	acc webhook.Account
}

func setup(t *testing.T, open Opener) *bundle {
	t.Helper()
	s := open(t)
	ctx := context.Background()
	acc, err := s.AccountCreate(ctx, store.AccountCreateParams{ID: webhook.NewID("acc", t0), Name: "A", Now: t0})
	must(t, err)
	for _, name := range []string{"generation.completed", "generation.failed"} {
		_, err := s.EventTypeCreate(ctx, store.EventTypeCreateParams{Name: name, Description: name, Now: t0})
		must(t, err)
	}
	return &bundle{s: s, ctx: ctx, acc: acc}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) endpoint(t *testing.T, account string, events ...string) webhook.Endpoint {
	t.Helper()
	id := webhook.NewID("wh", t0)
	ep, err := b.s.EndpointCreate(b.ctx, store.EndpointCreateParams{
		ID: id, AccountID: account, URL: "https://example.com/" + id, Description: "endpoint " + id, Events: events,
		Secret: webhook.EndpointSecret{Ciphertext: []byte("ct-" + id), Prefix: "whsec_AbC1…"}, Now: t0,
	})
	must(t, err)
	return ep
}

func (b *bundle) publish(t *testing.T, now time.Time, events ...store.PublishEvent) []store.PublishResult {
	t.Helper()
	res, err := b.s.EventsPublish(b.ctx, store.EventsPublishParams{Events: events, Now: now})
	must(t, err)
	return res
}

func (b *bundle) event(typ string) store.PublishEvent {
	return store.PublishEvent{AccountID: b.acc.ID, Type: typ, SubjectID: "gen_1", Data: json.RawMessage(`{"n":1}`)}
}

func (b *bundle) deliveries(t *testing.T, endpointID string) []webhook.Delivery {
	t.Helper()
	page, err := b.s.DeliveryList(b.ctx, store.DeliveryListParams{AccountID: b.acc.ID, EndpointID: endpointID, Limit: 250})
	must(t, err)
	return page.Items
}

// Exercise runs the suite.
func Exercise(t *testing.T, newDB NewDatabase) {
	open := func(t *testing.T) store.Store { return newDB(t)(t) }
	exerciseNodes(t, newDB)
	t.Run("Accounts", func(t *testing.T) { t.Parallel(); testAccounts(t, open) })
	t.Run("APIKeys", func(t *testing.T) { t.Parallel(); testAPIKeys(t, open) })
	t.Run("Members", func(t *testing.T) { t.Parallel(); testMembers(t, open) })
	t.Run("EventTypes", func(t *testing.T) { t.Parallel(); testEventTypes(t, open) })
	t.Run("Endpoints", func(t *testing.T) { t.Parallel(); testEndpoints(t, open) })
	t.Run("EndpointListPages", func(t *testing.T) { t.Parallel(); testEndpointPages(t, open) })
	t.Run("PublishFanOut", func(t *testing.T) { t.Parallel(); testPublishFanOut(t, open) })
	t.Run("PublishIdempotent", func(t *testing.T) { t.Parallel(); testPublishIdempotent(t, open) })
	t.Run("DeliveryListFilters", func(t *testing.T) { t.Parallel(); testDeliveryFilters(t, open) })
	t.Run("DeliveryPagesStable", func(t *testing.T) { t.Parallel(); testDeliveryPages(t, open) })
	t.Run("ClaimAndLease", func(t *testing.T) { t.Parallel(); testClaim(t, open) })
	t.Run("ReleaseAllAtShutdown", func(t *testing.T) { t.Parallel(); testReleaseAll(t, open) })
	t.Run("DueOrderAndRecord", func(t *testing.T) { t.Parallel(); testDueAndRecord(t, open) })
	t.Run("DueBatch", func(t *testing.T) { t.Parallel(); testDueBatch(t, open) })
	t.Run("ReleaseRace", func(t *testing.T) { t.Parallel(); testReleaseRace(t, newDB) })
	t.Run("ReplayAndTest", func(t *testing.T) { t.Parallel(); testReplayAndTest(t, open) })
	t.Run("DeleteEndpoint", func(t *testing.T) { t.Parallel(); testDelete(t, open) })
	t.Run("Prune", func(t *testing.T) { t.Parallel(); testPrune(t, open) })
	t.Run("ConcurrentPublish", func(t *testing.T) { t.Parallel(); testConcurrentPublish(t, newDB) })
	exerciseHealth(t, open)
	exerciseEdit(t, open)
	exerciseOperator(t, open)
	exerciseOps(t, open)
	exerciseDashboard(t, open)
}

// testDueBatch: one batch of reads answers each read exactly as it would
// alone, continuation and strict order included, in the order asked.
func testDueBatch(t *testing.T, open Opener) {
	b := setup(t, open)
	a := b.endpoint(t, b.acc.ID, "generation.completed")
	c := b.endpoint(t, b.acc.ID, "*")
	strict := true
	_, err := b.s.EndpointUpdate(b.ctx, store.EndpointUpdateParams{AccountID: b.acc.ID, ID: c.ID, StrictOrder: &strict, Now: t0})
	must(t, err)
	for i := range 5 {
		ev := b.event("generation.completed")
		ev.Data = json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))
		b.publish(t, t0.Add(time.Duration(i)*time.Millisecond), ev)
	}
	now := t0.Add(time.Second)
	first2, err := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: a.ID, Now: now, Limit: 2})
	must(t, err)
	ps := []store.DeliveriesDueParams{
		{EndpointID: a.ID, Now: now, Limit: 10},
		{EndpointID: c.ID, Now: now, Limit: 10, StrictOrder: true},
		{EndpointID: a.ID, Now: now, Limit: 2, After: &first2[1].Position},
		{EndpointID: "wh_missing", Now: now, Limit: 10},
		{EndpointID: a.ID, Now: t0.Add(-time.Second), Limit: 10},
	}
	got, err := b.s.DeliveriesDueBatch(b.ctx, ps)
	must(t, err)
	if len(got) != len(ps) {
		t.Fatalf("%d answers to %d reads", len(got), len(ps))
	}
	for i, p := range ps {
		alone, err := b.s.DeliveriesDue(b.ctx, p)
		must(t, err)
		ids := func(ds []store.DueDelivery) []string {
			var out []string
			for _, d := range ds {
				out = append(out, d.ID)
			}
			return out
		}
		if !slices.Equal(ids(got[i]), ids(alone)) {
			t.Fatalf("read %d in a batch = %v, alone = %v", i, ids(got[i]), ids(alone))
		}
	}
	if len(got[0]) != 5 || len(got[1]) != 1 || len(got[2]) != 2 || len(got[3]) != 0 || len(got[4]) != 0 {
		t.Fatalf("answer sizes %d %d %d %d %d, want 5 1 2 0 0", len(got[0]), len(got[1]), len(got[2]), len(got[3]), len(got[4]))
	}
	if empty, err := b.s.DeliveriesDueBatch(b.ctx, nil); err != nil || len(empty) != 0 {
		t.Fatalf("an empty batch: %v %v", empty, err)
	}
}

func testAccounts(t *testing.T, open Opener) {
	b := setup(t, open)
	got, err := b.s.AccountGet(b.ctx, b.acc.ID)
	must(t, err)
	if got.Name != "A" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("AccountGet = %+v", got)
	}
	if _, err := b.s.AccountGet(b.ctx, "acc_missing"); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("missing account: err = %v, want ErrNotFound", err)
	}
	if _, err := b.s.AccountCreate(b.ctx, store.AccountCreateParams{ID: b.acc.ID, Name: "dup", Now: t0}); !errors.Is(err, webhook.ErrConflict) {
		t.Fatalf("duplicate account id: err = %v, want ErrConflict", err)
	}
	if _, err := b.s.AccountGet(b.ctx, webhook.OperatorAccountID); err != nil {
		t.Fatalf("the reserved operator account is missing: %v", err)
	}
}

func testAPIKeys(t *testing.T, open Opener) {
	b := setup(t, open)
	_, err := b.s.APIKeyCreate(b.ctx, store.APIKeyCreateParams{ID: "key_1", AccountID: b.acc.ID, Name: "k",
		Prefix: "hrk_abc…", Hash: []byte("hash-1"), Scopes: []string{"webhooks:read"}, Now: t0})
	must(t, err)
	_, err = b.s.APIKeyCreate(b.ctx, store.APIKeyCreateParams{ID: "key_op", Name: "op", Prefix: "hrop_x…",
		Hash: []byte("hash-op"), Scopes: []string{"webhooks:read"}, Now: t0})
	must(t, err)
	k, err := b.s.APIKeyGetByHash(b.ctx, []byte("hash-1"))
	must(t, err)
	if k.ID != "key_1" || k.AccountID != b.acc.ID || !slices.Equal(k.Scopes, []string{"webhooks:read"}) || k.RevokedAt != nil {
		t.Fatalf("APIKeyGetByHash = %+v", k)
	}
	op, err := b.s.APIKeyGetByHash(b.ctx, []byte("hash-op"))
	must(t, err)
	if !op.Operator() {
		t.Fatal("operator key came back as an account key")
	}
	if _, err := b.s.APIKeyGetByHash(b.ctx, []byte("nope")); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	if err := b.s.APIKeyRevoke(b.ctx, store.APIKeyRevokeParams{AccountID: "acc_other", ID: "key_1", Now: t0}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("revoking through another account: err = %v, want ErrNotFound", err)
	}
	must(t, b.s.APIKeyRevoke(b.ctx, store.APIKeyRevokeParams{AccountID: b.acc.ID, ID: "key_1", Now: t0.Add(time.Hour)}))
	k, err = b.s.APIKeyGetByHash(b.ctx, []byte("hash-1"))
	must(t, err)
	if k.RevokedAt == nil || !k.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("revoked_at = %v", k.RevokedAt)
	}
}

func testMembers(t *testing.T, open Opener) {
	b := setup(t, open)
	mk := func(id, email, role string) error {
		_, err := b.s.MemberCreate(b.ctx, store.MemberCreateParams{ID: id, AccountID: b.acc.ID, Email: email, Role: role, PasswordHash: "h", Now: t0})
		return err
	}
	must(t, mk("mem_1", "a@example.com", webhook.RolePrimaryOwner))
	must(t, mk("mem_2", "b@example.com", webhook.RoleOwner))
	if err := mk("mem_3", "c@example.com", webhook.RolePrimaryOwner); !errors.Is(err, webhook.ErrConflict) {
		t.Fatalf("second primary owner: err = %v, want ErrConflict", err)
	}
	if err := mk("mem_4", "a@example.com", webhook.RoleMember); !errors.Is(err, webhook.ErrConflict) {
		t.Fatalf("duplicate email: err = %v, want ErrConflict", err)
	}
}

func testEventTypes(t *testing.T, open Opener) {
	b := setup(t, open)
	list, err := b.s.EventTypeList(b.ctx)
	must(t, err)
	var names []string
	for _, et := range list {
		names = append(names, et.Name)
		if webhook.IsReservedEventType(et.Name) != et.Reserved {
			t.Errorf("%s reserved = %v", et.Name, et.Reserved)
		}
	}
	for _, want := range []string{"webhook.test", "endpoint.disabled", "endpoint.enabled", "delivery.failed", "generation.completed"} {
		if !slices.Contains(names, want) {
			t.Errorf("catalog lacks %s: %v", want, names)
		}
	}
	_, err = b.s.EventTypeCreate(b.ctx, store.EventTypeCreateParams{Name: "generation.completed", Description: "x", Now: t0})
	if !errors.Is(err, webhook.ErrConflict) {
		t.Fatalf("duplicate type: err = %v", err)
	}
	_, err = b.s.EventTypeCreate(b.ctx, store.EventTypeCreateParams{Name: "with.example", Description: "x",
		Example: json.RawMessage(`{"a":1}`), Now: t0})
	must(t, err)
	list, _ = b.s.EventTypeList(b.ctx)
	for _, et := range list {
		if et.Name == "with.example" && string(et.Example) != `{"a":1}` {
			t.Errorf("example = %s", et.Example)
		}
	}
}

func testEndpoints(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "generation.completed")
	if ep.Status != webhook.EndpointActive || ep.SecretPrefix != "whsec_AbC1…" || !slices.Equal(ep.Events, []string{"generation.completed"}) {
		t.Fatalf("created endpoint = %+v", ep)
	}
	if ep.SuccessRate24h != nil || ep.QueuedCount != 0 {
		t.Fatalf("new endpoint has stats: %+v", ep)
	}
	other, err := b.s.AccountCreate(b.ctx, store.AccountCreateParams{ID: "acc_other", Name: "B", Now: t0})
	must(t, err)
	if _, err := b.s.EndpointGet(b.ctx, store.EndpointGetParams{AccountID: other.ID, ID: ep.ID, Now: t0}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("another account's endpoint: err = %v, want ErrNotFound", err)
	}
	page, err := b.s.EndpointList(b.ctx, store.EndpointListParams{AccountID: other.ID, Now: t0, Limit: 50})
	must(t, err)
	if len(page.Items) != 0 {
		t.Fatalf("other account lists %d endpoints", len(page.Items))
	}
	// Search is literal (LIKE wildcards in the query match only themselves)
	// and ignores the case of letters, on both drivers.
	_, err = b.s.EndpointCreate(b.ctx, store.EndpointCreateParams{ID: "wh_pct", AccountID: b.acc.ID,
		URL: "https://example.com/100%_sure", Events: []string{"*"}, Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"}, Now: t0})
	must(t, err)
	for q, want := range map[string]int{"100%_": 1, "%": 1, "w_": 0, "h%s": 0, "example.com": 2, "EXAMPLE.Com": 2, "SURE": 1, "endpoint wh_": 1, "nothing": 0} {
		page, err := b.s.EndpointList(b.ctx, store.EndpointListParams{AccountID: b.acc.ID, Now: t0, Search: q, Limit: 50})
		must(t, err)
		if len(page.Items) != want {
			t.Errorf("search %q: %d results, want %d", q, len(page.Items), want)
		}
	}
}

func testEndpointPages(t *testing.T, open Opener) {
	b := setup(t, open)
	var ids []string
	for range 7 {
		ids = append(ids, b.endpoint(t, b.acc.ID, "*").ID)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, err := b.s.EndpointList(b.ctx, store.EndpointListParams{AccountID: b.acc.ID, Now: t0, Cursor: cursor, Limit: 3})
		must(t, err)
		for _, e := range page.Items {
			got = append(got, e.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	slices.Reverse(ids)
	if !slices.Equal(got, ids) {
		t.Fatalf("pages = %v, want newest first %v", got, ids)
	}
	if _, err := b.s.EndpointList(b.ctx, store.EndpointListParams{AccountID: b.acc.ID, Now: t0, Cursor: "garbage", Limit: 3}); !errors.Is(err, store.ErrInvalidCursor) {
		t.Fatalf("bad cursor: err = %v", err)
	}
}

func testPublishFanOut(t *testing.T, open Opener) {
	b := setup(t, open)
	specific := b.endpoint(t, b.acc.ID, "generation.completed")
	all := b.endpoint(t, b.acc.ID, "*")
	otherType := b.endpoint(t, b.acc.ID, "generation.failed")
	other, _ := b.s.AccountCreate(b.ctx, store.AccountCreateParams{ID: "acc_other", Name: "B", Now: t0})
	foreign := b.endpoint(t, other.ID, "*")

	res := b.publish(t, t0, b.event("generation.completed"))
	if res[0].Duplicate || res[0].Event.Deliveries != 2 || !strings.HasPrefix(res[0].Event.ID, "evt_") {
		t.Fatalf("publish result = %+v", res[0])
	}
	if !slices.Contains(res[0].EndpointIDs, specific.ID) || !slices.Contains(res[0].EndpointIDs, all.ID) || len(res[0].EndpointIDs) != 2 {
		t.Fatalf("woken endpoints = %v", res[0].EndpointIDs)
	}
	for _, c := range []struct {
		ep   webhook.Endpoint
		want int
	}{{specific, 1}, {all, 1}, {otherType, 0}} {
		if got := len(b.deliveries(t, c.ep.ID)); got != c.want {
			t.Errorf("endpoint subscribed to %v has %d deliveries, want %d", c.ep.Events, got, c.want)
		}
	}
	page, err := b.s.DeliveryList(b.ctx, store.DeliveryListParams{AccountID: other.ID, EndpointID: foreign.ID, Limit: 50})
	must(t, err)
	if len(page.Items) != 0 {
		t.Fatal("another account's endpoint received the event")
	}
	d := b.deliveries(t, specific.ID)[0]
	if d.Status != webhook.StatusPending || d.AttemptCount != 0 || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(t0) ||
		d.EventType != "generation.completed" || d.SubjectID != "gen_1" || d.EventID != res[0].Event.ID || !strings.HasPrefix(d.ID, "dlv_") {
		t.Fatalf("delivery = %+v", d)
	}
	// The event is fanned out to endpoints as they are at publish time.
	if b.publish(t, t0, store.PublishEvent{AccountID: b.acc.ID, Type: "generation.completed", Data: json.RawMessage(`{}`)})[0].Event.Deliveries != 2 {
		t.Fatal("second publish fanned out differently")
	}
}

func testPublishIdempotent(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "*")
	ev := b.event("generation.completed")
	ev.EventID = "evt_client_1"
	first := b.publish(t, t0, ev)[0]
	again := ev
	again.Data = json.RawMessage(`{"different":true}`)
	second := b.publish(t, t0.Add(time.Minute), again)[0]
	if !second.Duplicate || second.Event.ID != "evt_client_1" || second.Event.Deliveries != first.Event.Deliveries ||
		!second.Event.CreatedAt.Equal(t0) || len(second.EndpointIDs) != 0 {
		t.Fatalf("repeat = %+v, want the first result", second)
	}
	if n := len(b.deliveries(t, ep.ID)); n != 1 {
		t.Fatalf("repeat created deliveries: %d", n)
	}
	// Within one batch, the second copy is the duplicate.
	ev2 := ev
	ev2.EventID = "evt_client_2"
	res := b.publish(t, t0, ev2, ev2)
	if res[0].Duplicate || !res[1].Duplicate {
		t.Fatalf("in-batch duplicate: %+v", res)
	}
	// The same id in another account is another event.
	other, _ := b.s.AccountCreate(b.ctx, store.AccountCreateParams{ID: "acc_other", Name: "B", Now: t0})
	ev3 := ev
	ev3.AccountID = other.ID
	if r := b.publish(t, t0, ev3)[0]; r.Duplicate {
		t.Fatal("event ids leak across accounts")
	}
}

func testDeliveryFilters(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "*")
	for i := range 6 {
		ev := b.event("generation.completed")
		if i%2 == 1 {
			ev.Type = "generation.failed"
		}
		ev.SubjectID = fmt.Sprintf("gen_%d", i%3)
		b.publish(t, t0.Add(time.Duration(i)*time.Hour), ev)
	}
	since, until := t0.Add(2*time.Hour), t0.Add(4*time.Hour)
	for _, tc := range []struct {
		name string
		p    store.DeliveryListParams
		want int
	}{
		{"all", store.DeliveryListParams{}, 6},
		{"type", store.DeliveryListParams{EventType: "generation.failed"}, 3},
		{"subject", store.DeliveryListParams{SubjectID: "gen_0"}, 2},
		{"status", store.DeliveryListParams{Status: webhook.StatusPending}, 6},
		{"status none", store.DeliveryListParams{Status: webhook.StatusDelivered}, 0},
		{"since", store.DeliveryListParams{Since: &since}, 4},
		{"until (exclusive)", store.DeliveryListParams{Until: &until}, 4},
		{"window", store.DeliveryListParams{Since: &since, Until: &until}, 2},
		{"combined", store.DeliveryListParams{EventType: "generation.completed", SubjectID: "gen_1"}, 1},
	} {
		p := tc.p
		p.AccountID, p.EndpointID, p.Limit = b.acc.ID, ep.ID, 50
		page, err := b.s.DeliveryList(b.ctx, p)
		must(t, err)
		if len(page.Items) != tc.want {
			t.Errorf("%s: %d deliveries, want %d", tc.name, len(page.Items), tc.want)
		}
	}
	if _, err := b.s.DeliveryList(b.ctx, store.DeliveryListParams{AccountID: "acc_other", EndpointID: ep.ID, Limit: 5}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("another account listing: err = %v", err)
	}
}

func testDeliveryPages(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "*")
	for range 5 {
		b.publish(t, t0, b.event("generation.completed"))
	}
	first, err := b.s.DeliveryList(b.ctx, store.DeliveryListParams{AccountID: b.acc.ID, EndpointID: ep.ID, Limit: 2})
	must(t, err)
	// New deliveries arriving between pages must not shift the next page.
	for range 3 {
		b.publish(t, t0, b.event("generation.completed"))
	}
	seen := map[string]bool{}
	for _, d := range first.Items {
		seen[d.ID] = true
	}
	cursor := first.NextCursor
	for cursor != "" {
		page, err := b.s.DeliveryList(b.ctx, store.DeliveryListParams{AccountID: b.acc.ID, EndpointID: ep.ID, Limit: 2, Cursor: cursor})
		must(t, err)
		for _, d := range page.Items {
			if seen[d.ID] {
				t.Fatalf("delivery %s on two pages", d.ID)
			}
			seen[d.ID] = true
		}
		cursor = page.NextCursor
	}
	if len(seen) != 5 {
		t.Fatalf("walked %d deliveries, want the 5 that existed at the first page", len(seen))
	}
}

// testReleaseAll: a dispatcher shutting down gives back every lease it
// holds in one call, each endpoint claimable again exactly when its work is
// due, and nobody else's lease is touched.
func testReleaseAll(t *testing.T, open Opener) {
	b := setup(t, open)
	dueNow := b.endpoint(t, b.acc.ID, "generation.completed")
	retry := b.endpoint(t, b.acc.ID, "generation.completed")
	other := b.endpoint(t, b.acc.ID, "generation.completed")
	b.publish(t, t0, b.event("generation.completed"))
	claim := func(owner string, now time.Time, limit int) []string {
		c, err := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: owner, Now: now, LeaseUntil: now.Add(time.Hour), Limit: limit})
		must(t, err)
		var ids []string
		for _, e := range c {
			ids = append(ids, e.ID)
		}
		slices.Sort(ids)
		return ids
	}
	if got := claim("n1", t0, 2); len(got) != 2 {
		t.Fatalf("n1 claimed %v", got)
	}
	if got := claim("n2", t0, 10); len(got) != 1 {
		t.Fatalf("n2 claimed %v", got)
	}
	// n1 holds two of the three: call them dueNow and retry, the third other.
	held, err := b.s.EndpointsRenew(b.ctx, store.EndpointsRenewParams{Owner: "n1", Now: t0, LeaseUntil: t0.Add(time.Hour)})
	must(t, err)
	var mine, theirs []webhook.Endpoint
	for _, e := range []webhook.Endpoint{dueNow, retry, other} {
		if slices.Contains(held, e.ID) {
			mine = append(mine, e)
		} else {
			theirs = append(theirs, e)
		}
	}
	if len(mine) != 2 || len(theirs) != 1 {
		t.Fatalf("n1 holds %v", held)
	}
	dueNow, retry, other = mine[0], mine[1], theirs[0]
	d := b.deliveries(t, retry.ID)[0]
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{{DeliveryID: d.ID, Status: webhook.StatusPending,
		NextAttemptAt: t0.Add(time.Minute), ScheduleAttempt: 1, Attempt: webhook.Attempt{AttemptedAt: t0, StatusCode: 500}}}))

	n, err := b.s.EndpointsRelease(b.ctx, store.EndpointsReleaseParams{Owner: "n1"})
	must(t, err)
	if n != 2 {
		t.Fatalf("released %d leases, want n1's 2", n)
	}
	if got := claim("n3", t0.Add(time.Second), 10); !slices.Equal(got, []string{dueNow.ID}) {
		t.Fatalf("claimable right after the release: %v, want only the endpoint with work due now", got)
	}
	if got := claim("n3", t0.Add(time.Minute), 10); !slices.Equal(got, []string{retry.ID}) {
		t.Fatalf("claimable when the retry is due: %v, want the retrying endpoint", got)
	}
	if still, err := b.s.EndpointsRenew(b.ctx, store.EndpointsRenewParams{Owner: "n2", Now: t0, LeaseUntil: t0.Add(time.Hour)}); err != nil ||
		!slices.Equal(still, []string{other.ID}) {
		t.Fatalf("n2's lease after n1's release: %v, %v", still, err)
	}
	if n, err := b.s.EndpointsRelease(b.ctx, store.EndpointsReleaseParams{Owner: "n1"}); err != nil || n != 0 {
		t.Fatalf("a second release: %d, %v", n, err)
	}
}

func testClaim(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "*")
	idle := b.endpoint(t, b.acc.ID, "generation.failed")
	claim := func(owner string, now time.Time) []store.ClaimedEndpoint {
		c, err := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: owner, Now: now, LeaseUntil: now.Add(30 * time.Second), Limit: 10})
		must(t, err)
		return c
	}
	if c := claim("n1", t0); len(c) != 0 {
		t.Fatalf("claimed %d endpoints with no work", len(c))
	}
	b.publish(t, t0, b.event("generation.completed"))
	c := claim("n1", t0)
	if len(c) != 1 || c[0].ID != ep.ID || c[0].URL != ep.URL || len(c[0].Secrets) != 1 || string(c[0].Secrets[0].Ciphertext) != "ct-"+ep.ID {
		t.Fatalf("claim = %+v", c)
	}
	_ = idle
	if c := claim("n2", t0.Add(10*time.Second)); len(c) != 0 {
		t.Fatal("a live lease was claimed by another owner")
	}
	held, err := b.s.EndpointsRenew(b.ctx, store.EndpointsRenewParams{Owner: "n1", Now: t0.Add(20 * time.Second), LeaseUntil: t0.Add(50 * time.Second)})
	must(t, err)
	if !slices.Equal(held, []string{ep.ID}) {
		t.Fatalf("renew = %v", held)
	}
	if c := claim("n2", t0.Add(40*time.Second)); len(c) != 0 {
		t.Fatal("a renewed lease was taken before it expired")
	}
	// n1 crashes: after the lease expires, n2 takes the endpoint over.
	if c := claim("n2", t0.Add(51*time.Second)); len(c) != 1 {
		t.Fatal("an expired lease was not taken over")
	}
	held, err = b.s.EndpointsRenew(b.ctx, store.EndpointsRenewParams{Owner: "n1", Now: t0.Add(52 * time.Second), LeaseUntil: t0.Add(90 * time.Second)})
	must(t, err)
	if len(held) != 0 {
		t.Fatalf("n1 still believes it holds %v", held)
	}
	// Work is due: release refuses; forced release gives it back at once.
	ok, err := b.s.EndpointRelease(b.ctx, store.EndpointReleaseParams{Owner: "n2", EndpointID: ep.ID, Now: t0.Add(53 * time.Second)})
	must(t, err)
	if ok {
		t.Fatal("released an endpoint with due work")
	}
	ok, err = b.s.EndpointRelease(b.ctx, store.EndpointReleaseParams{Owner: "n2", EndpointID: ep.ID, Now: t0.Add(53 * time.Second), Force: true})
	must(t, err)
	if !ok {
		t.Fatal("forced release refused")
	}
	if c := claim("n3", t0.Add(54*time.Second)); len(c) != 1 {
		t.Fatal("a force-released endpoint with due work is not claimable at once")
	}
}

func testDueAndRecord(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "*")
	var ids []string
	for i := range 4 {
		ev := b.event("generation.completed")
		ev.Data = json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))
		b.publish(t, t0.Add(time.Duration(i)*time.Millisecond), ev)
	}
	due, err := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: t0.Add(time.Second), Limit: 10})
	must(t, err)
	for i, d := range due {
		ids = append(ids, d.ID)
		if string(d.Data) != fmt.Sprintf(`{"n":%d}`, i) || !d.PublishedAt.Equal(t0.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("due[%d] = %+v: not in publish order", i, d)
		}
	}
	if len(due) != 4 {
		t.Fatalf("%d due, want 4", len(due))
	}
	first2, err := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: t0.Add(time.Second), Limit: 2})
	must(t, err)
	due, err = b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: t0.Add(time.Second), Limit: 10, After: &first2[1].Position})
	must(t, err)
	if len(due) != 2 || due[0].ID != ids[2] || due[1].ID != ids[3] {
		t.Fatalf("continuing after the second delivery: %v", due)
	}
	if due, _ := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: t0.Add(time.Second), Limit: 10, After: &due[1].Position}); len(due) != 0 {
		t.Fatal("deliveries after the last one")
	}
	if due, _ := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: t0.Add(-time.Second), Limit: 10}); len(due) != 0 {
		t.Fatal("deliveries due before they were published")
	}

	at := t0.Add(2 * time.Second)
	results := []store.AttemptResult{
		{DeliveryID: ids[0], Status: webhook.StatusDelivered, ScheduleAttempt: 1, Attempt: webhook.Attempt{AttemptedAt: at,
			Duration: 12 * time.Millisecond, StatusCode: 200, ResponseHeaders: http.Header{"X-Ok": {"1"}}, ResponseBody: "ok"}},
		{DeliveryID: ids[1], Status: webhook.StatusPending, NextAttemptAt: at.Add(time.Minute), ScheduleAttempt: 1,
			Attempt: webhook.Attempt{AttemptedAt: at, StatusCode: 500, Error: "unexpected status 500"}},
		{DeliveryID: ids[2], Status: webhook.StatusFailed, ScheduleAttempt: 5,
			Attempt: webhook.Attempt{AttemptedAt: at, Error: "connect: connection refused"}},
	}
	must(t, b.s.DeliveriesRecord(b.ctx, results))
	get := func(id string) webhook.Delivery {
		d, err := b.s.DeliveryGet(b.ctx, store.DeliveryGetParams{AccountID: b.acc.ID, EndpointID: ep.ID, ID: id})
		must(t, err)
		return d
	}
	d0 := get(ids[0])
	if d0.Status != webhook.StatusDelivered || d0.AttemptCount != 1 || d0.LastStatusCode != 200 || d0.NextAttemptAt != nil || len(d0.Attempts) != 1 {
		t.Fatalf("delivered = %+v", d0)
	}
	a := d0.Attempts[0]
	if a.StatusCode != 200 || a.Duration != 12*time.Millisecond || a.ResponseBody != "ok" || a.ResponseHeaders.Get("X-Ok") != "1" || !a.AttemptedAt.Equal(at) {
		t.Fatalf("attempt = %+v", a)
	}
	wantBody := webhook.Body("generation.completed", t0, ids[0], []byte(`{"n":0}`))
	if string(d0.Payload) != string(wantBody) {
		t.Fatalf("payload = %s, want the exact body sent %s", d0.Payload, wantBody)
	}
	d1 := get(ids[1])
	if d1.Status != webhook.StatusPending || d1.NextAttemptAt == nil || !d1.NextAttemptAt.Equal(at.Add(time.Minute)) || d1.LastError != "unexpected status 500" {
		t.Fatalf("retrying = %+v", d1)
	}
	if d2 := get(ids[2]); d2.Status != webhook.StatusFailed || d2.LastStatusCode != 0 || d2.LastError != "connect: connection refused" {
		t.Fatalf("failed = %+v", d2)
	}
	due, _ = b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: at, Limit: 10})
	if len(due) != 1 || due[0].ID != ids[3] {
		t.Fatalf("after recording, due = %+v, want only the untouched one", due)
	}
	due, _ = b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: at.Add(time.Minute), Limit: 10})
	if len(due) != 2 || due[0].ID != ids[3] || due[1].ID != ids[1] || due[1].ScheduleAttempt != 1 || due[1].AttemptCount != 1 {
		t.Fatalf("due order is not (due time, publish order): %+v", due)
	}
	e, err := b.s.EndpointGet(b.ctx, store.EndpointGetParams{AccountID: b.acc.ID, ID: ep.ID, Now: at})
	must(t, err)
	if e.SuccessRate24h == nil || *e.SuccessRate24h < 0.333 || *e.SuccessRate24h > 0.334 {
		t.Fatalf("success_rate_24h = %v, want 1/3", e.SuccessRate24h)
	}
	e, _ = b.s.EndpointGet(b.ctx, store.EndpointGetParams{AccountID: b.acc.ID, ID: ep.ID, Now: at.Add(26 * time.Hour)})
	if e.SuccessRate24h != nil {
		t.Fatalf("success rate counts attempts older than 24 h: %v", *e.SuccessRate24h)
	}
	// Releasing with only a future retry left records when it is due.
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{{DeliveryID: ids[3], Status: webhook.StatusDelivered, ScheduleAttempt: 1,
		Attempt: webhook.Attempt{AttemptedAt: at, StatusCode: 204}}}))
	c, err := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n1", Now: at, LeaseUntil: at.Add(time.Minute), Limit: 5})
	must(t, err)
	if len(c) != 1 {
		t.Fatalf("claim = %v", c)
	}
	ok, err := b.s.EndpointRelease(b.ctx, store.EndpointReleaseParams{Owner: "n1", EndpointID: ep.ID, Now: at})
	must(t, err)
	if !ok {
		t.Fatal("release refused with nothing due")
	}
	if c, _ := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n2", Now: at.Add(59 * time.Second), LeaseUntil: at.Add(2 * time.Minute), Limit: 5}); len(c) != 0 {
		t.Fatal("claimed before the retry is due")
	}
	if c, _ := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n2", Now: at.Add(time.Minute), LeaseUntil: at.Add(2 * time.Minute), Limit: 5}); len(c) != 1 {
		t.Fatal("not claimable when the retry is due")
	}
}

// testReleaseRace: a node releasing an endpoint while another node
// publishes to it never leaves pending work unclaimable.
func testReleaseRace(t *testing.T, newDB NewDatabase) {
	db := newDB(t)
	b := setup(t, func(t *testing.T) store.Store { return db(t) })
	other := db(t)
	ep := b.endpoint(t, b.acc.ID, "*")
	for i := range 50 {
		now := t0.Add(time.Duration(i) * time.Second)
		c, err := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n1", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 1})
		must(t, err)
		_ = c
		var wg sync.WaitGroup
		wg.Go(func() {
			_, err := other.EventsPublish(b.ctx, store.EventsPublishParams{Now: now, Events: []store.PublishEvent{b.event("generation.completed")}})
			must(t, err)
		})
		wg.Go(func() {
			_, err := b.s.EndpointRelease(b.ctx, store.EndpointReleaseParams{Owner: "n1", EndpointID: ep.ID, Now: now})
			must(t, err)
		})
		wg.Wait()
		// Whatever the interleaving, the new delivery is claimable by
		// someone, or n1 still holds the endpoint.
		c, err = b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n2", Now: now, LeaseUntil: now.Add(time.Millisecond), Limit: 1})
		must(t, err)
		held, err := b.s.EndpointsRenew(b.ctx, store.EndpointsRenewParams{Owner: "n1", Now: now, LeaseUntil: now.Add(time.Minute)})
		must(t, err)
		if len(c) == 0 && len(held) == 0 {
			t.Fatalf("round %d: pending work with the endpoint neither leased nor claimable", i)
		}
		// Deliver everything so the next round starts clean.
		due, err := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: now, Limit: 100})
		must(t, err)
		var rs []store.AttemptResult
		for _, d := range due {
			rs = append(rs, store.AttemptResult{DeliveryID: d.ID, Status: webhook.StatusDelivered, ScheduleAttempt: 1,
				Attempt: webhook.Attempt{AttemptedAt: now, StatusCode: 200}})
		}
		must(t, b.s.DeliveriesRecord(b.ctx, rs))
		for _, o := range []string{"n1", "n2"} {
			_, err := b.s.EndpointRelease(b.ctx, store.EndpointReleaseParams{Owner: o, EndpointID: ep.ID, Now: now, Force: true})
			must(t, err)
		}
	}
}

func testReplayAndTest(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "generation.failed")
	all := b.endpoint(t, b.acc.ID, "*")
	b.publish(t, t0, b.event("generation.failed"))
	id := b.deliveries(t, ep.ID)[0].ID
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{{DeliveryID: id, Status: webhook.StatusFailed, ScheduleAttempt: 5,
		Attempt: webhook.Attempt{AttemptedAt: t0, StatusCode: 500}}}))
	later := t0.Add(3 * time.Hour)
	d, err := b.s.DeliveryReplay(b.ctx, store.DeliveryReplayParams{AccountID: b.acc.ID, EndpointID: ep.ID, ID: id, Now: later})
	must(t, err)
	if d.ID != id || d.Status != webhook.StatusPending || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(later) || d.AttemptCount != 1 {
		t.Fatalf("replayed = %+v", d)
	}
	due, _ := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: later, Limit: 5})
	if len(due) != 1 || due[0].ScheduleAttempt != 0 || due[0].AttemptCount != 1 {
		t.Fatalf("replay did not restart the schedule: %+v", due)
	}
	if c, _ := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n", Now: later, LeaseUntil: later.Add(time.Minute), Limit: 5}); len(c) != 2 {
		t.Fatalf("replay did not make the endpoint claimable: %v", c)
	}
	if _, err := b.s.DeliveryReplay(b.ctx, store.DeliveryReplayParams{AccountID: b.acc.ID, EndpointID: all.ID, ID: id, Now: later}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("replay through another endpoint: err = %v", err)
	}
	if _, err := b.s.DeliveryReplay(b.ctx, store.DeliveryReplayParams{AccountID: "acc_other", EndpointID: ep.ID, ID: id, Now: later}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("replay by another account: err = %v", err)
	}

	td, err := b.s.DeliveryCreateTest(b.ctx, store.DeliveryCreateTestParams{AccountID: b.acc.ID, EndpointID: ep.ID,
		EventID: "evt_test_1", DeliveryID: "dlv_test_1", Data: json.RawMessage(`{"test":true}`), Now: later})
	must(t, err)
	if td.EventType != webhook.EventTypeTest || td.Status != webhook.StatusPending || td.ID != "dlv_test_1" {
		t.Fatalf("test delivery = %+v", td)
	}
	for _, d := range b.deliveries(t, all.ID) {
		if d.EventType == webhook.EventTypeTest {
			t.Fatal("test event reached another endpoint")
		}
	}
	if _, err := b.s.DeliveryCreateTest(b.ctx, store.DeliveryCreateTestParams{AccountID: "acc_other", EndpointID: ep.ID,
		EventID: "evt_test_2", DeliveryID: "dlv_test_2", Data: json.RawMessage(`{}`), Now: later}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("test on another account's endpoint: err = %v", err)
	}
}

func testDelete(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "*")
	b.publish(t, t0, b.event("generation.completed"))
	id := b.deliveries(t, ep.ID)[0].ID
	if _, err := b.s.EndpointDelete(b.ctx, store.EndpointDeleteParams{AccountID: "acc_other", ID: ep.ID, Now: t0}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("delete by another account: err = %v", err)
	}
	dropped, err := b.s.EndpointDelete(b.ctx, store.EndpointDeleteParams{AccountID: b.acc.ID, ID: ep.ID, Now: t0})
	must(t, err)
	if dropped != 1 {
		t.Fatalf("delete reports %d dropped, want its 1 pending delivery", dropped)
	}
	if _, err := b.s.EndpointGet(b.ctx, store.EndpointGetParams{AccountID: b.acc.ID, ID: ep.ID, Now: t0}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("deleted endpoint still visible: %v", err)
	}
	if _, err := b.s.EndpointDelete(b.ctx, store.EndpointDeleteParams{AccountID: b.acc.ID, ID: ep.ID, Now: t0}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("second delete: err = %v", err)
	}
	if c, _ := b.s.EndpointsClaim(b.ctx, store.EndpointsClaimParams{Owner: "n", Now: t0, LeaseUntil: t0.Add(time.Minute), Limit: 5}); len(c) != 0 {
		t.Fatal("a deleted endpoint was claimed")
	}
	if r := b.publish(t, t0, b.event("generation.completed"))[0]; r.Event.Deliveries != 0 {
		t.Fatal("a deleted endpoint still receives events")
	}
	// A result arriving after the delete is logged but does not revive it.
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{{DeliveryID: id, Status: webhook.StatusPending,
		NextAttemptAt: t0.Add(time.Minute), ScheduleAttempt: 1, Attempt: webhook.Attempt{AttemptedAt: t0, StatusCode: 500}}}))
	due, err := b.s.DeliveriesDue(b.ctx, store.DeliveriesDueParams{EndpointID: ep.ID, Now: t0.Add(time.Hour), Limit: 5})
	must(t, err)
	if len(due) != 0 {
		t.Fatal("a dropped delivery became due again")
	}
}

func testPrune(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "*")
	old := b.publish(t, t0, b.event("generation.completed"), b.event("generation.completed"))
	b.publish(t, t0.Add(48*time.Hour), b.event("generation.completed"))
	ds := b.deliveries(t, ep.ID)
	oldDone, oldPending := ds[2].ID, ds[1].ID // newest first
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{{DeliveryID: oldDone, Status: webhook.StatusDelivered, ScheduleAttempt: 1,
		Attempt: webhook.Attempt{AttemptedAt: t0, StatusCode: 200}}}))
	n, err := b.s.Prune(b.ctx, store.PruneParams{Before: t0.Add(24 * time.Hour), Limit: 100})
	must(t, err)
	if n != 1 {
		t.Fatalf("pruned %d, want 1 (only the old finished delivery)", n)
	}
	left := b.deliveries(t, ep.ID)
	if len(left) != 2 || left[1].ID != oldPending {
		t.Fatalf("left = %v", left)
	}
	// The pending delivery's event stays; the pruned one's event goes.
	dup := b.event("generation.completed")
	dup.EventID = old[1].Event.ID
	if r := b.publish(t, t0, dup)[0]; !r.Duplicate {
		t.Fatal("the event of a kept delivery was pruned")
	}
	dup.EventID = old[0].Event.ID
	if r := b.publish(t, t0, dup)[0]; r.Duplicate {
		t.Fatal("the event of a pruned delivery is still there")
	}
}

// testConcurrentPublish: publishes on several nodes at once, some
// repeating an event id, create each event's deliveries once.
func testConcurrentPublish(t *testing.T, newDB NewDatabase) {
	db := newDB(t)
	b := setup(t, func(t *testing.T) store.Store { return db(t) })
	nodes := []store.Store{b.s, db(t), db(t)}
	ep := b.endpoint(t, b.acc.ID, "*")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				ev := b.event("generation.completed")
				ev.EventID = fmt.Sprintf("evt_%d_%d", g, i%20) // some repeats
				if _, err := nodes[(g+i)%len(nodes)].EventsPublish(b.ctx, store.EventsPublishParams{Events: []store.PublishEvent{ev}, Now: t0}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	page, err := b.s.DeliveryList(b.ctx, store.DeliveryListParams{AccountID: b.acc.ID, EndpointID: ep.ID, Limit: 250})
	must(t, err)
	if len(page.Items) != 160 {
		t.Fatalf("%d deliveries, want 160 (8×20 distinct event ids)", len(page.Items))
	}
}
