package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/pgtest"
	"github.com/hookrelay/hookrelay/internal/store/postgres"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// TestMigrateFromSQLite: `hookrelay migrate --database postgres://… --from
// FILE` moves a SQLite node's data: keys still authenticate, endpoints keep
// their sealed secrets, the delivery log keeps its attempts, pending work
// stays due, and new rows continue after the copied ones.
func TestMigrateFromSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	url := pgtest.URL(t)
	ctx := context.Background()
	now := time.Date(2026, 5, 12, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "old.db")
	src, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(src.Migrate(ctx))
	_, err = src.AccountCreate(ctx, store.AccountCreateParams{ID: "acc_1", Name: "one", Now: now})
	must(err)
	_, err = src.APIKeyCreate(ctx, store.APIKeyCreateParams{ID: "key_1", AccountID: "acc_1", Name: "k", Prefix: "hr_", Hash: []byte("hash-1"),
		Scopes: []string{"events:publish"}, Now: now})
	must(err)
	_, err = src.MemberCreate(ctx, store.MemberCreateParams{ID: "mem_1", AccountID: "acc_1", Email: "a@example.com",
		Role: webhook.RolePrimaryOwner, PasswordHash: "h", Now: now})
	must(err)
	_, err = src.EventTypeCreate(ctx, store.EventTypeCreateParams{Name: "x.y", Description: "d", Now: now})
	must(err)
	for _, id := range []string{"wh_strict", "wh_plain"} {
		_, err = src.EndpointCreate(ctx, store.EndpointCreateParams{ID: id, AccountID: "acc_1", URL: "https://example.com/" + id,
			Events: []string{"*"}, StrictOrder: id == "wh_strict", Secret: webhook.EndpointSecret{Ciphertext: []byte("sealed-" + id), Prefix: "whsec_x"}, Now: now})
		must(err)
	}
	res, err := src.EventsPublish(ctx, store.EventsPublishParams{Now: now, Events: []store.PublishEvent{
		{AccountID: "acc_1", Type: "x.y", EventID: "evt_a", Data: json.RawMessage(`{"n":1}`)},
		{AccountID: "acc_1", Type: "x.y", EventID: "evt_b", Data: json.RawMessage(`{"n":2}`)}}})
	must(err)
	due, err := src.DeliveriesDue(ctx, store.DeliveriesDueParams{EndpointID: "wh_plain", Now: now, Limit: 1})
	must(err)
	must(src.DeliveriesRecord(ctx, []store.AttemptResult{{DeliveryID: due[0].ID, Status: webhook.StatusDelivered, ScheduleAttempt: 1,
		Attempt: webhook.Attempt{AttemptedAt: now, StatusCode: 200, ResponseBody: "ok"}}}))
	src.Close()

	out, err := exec.Command(binary, "migrate", "--database", url, "--from", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "copied 4 rows of deliveries") || !strings.Contains(string(out), "--encryption-key") {
		t.Fatalf("migrate --from: %v\n%s", err, out)
	}
	if out, err := exec.Command(binary, "migrate", "--database", url, "--from", path).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "already holds data") {
		t.Fatalf("a second copy into the same database: %v\n%s", err, out)
	}

	dst, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
	must(err)
	defer dst.Close()
	if k, err := dst.APIKeyGetByHash(ctx, []byte("hash-1")); err != nil || k.AccountID != "acc_1" {
		t.Fatalf("api key after the copy: %+v %v", k, err)
	}
	if m, err := dst.MemberGet(ctx, store.MemberGetParams{AccountID: "acc_1", ID: "mem_1"}); err != nil || m.Role != webhook.RolePrimaryOwner {
		t.Fatalf("member after the copy: %+v %v", m, err)
	}
	d, err := dst.DeliveryGet(ctx, store.DeliveryGetParams{AccountID: "acc_1", EndpointID: "wh_plain", ID: due[0].ID})
	if err != nil || d.Status != webhook.StatusDelivered || len(d.Attempts) != 1 || d.Attempts[0].ResponseBody != "ok" {
		t.Fatalf("delivery log after the copy: %+v %v", d, err)
	}
	ep, err := dst.EndpointGet(ctx, store.EndpointGetParams{AccountID: "acc_1", ID: "wh_strict", Now: now})
	if err != nil || !ep.StrictOrder || ep.SuccessRate24h != nil {
		t.Fatalf("strict endpoint after the copy: %+v %v", ep, err)
	}
	claimed, err := dst.EndpointsClaim(ctx, store.EndpointsClaimParams{Owner: "n", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10})
	if err != nil || len(claimed) != 2 || string(claimed[0].Secrets[0].Ciphertext) != "sealed-"+claimed[0].ID {
		t.Fatalf("pending work after the copy: %+v %v", claimed, err)
	}
	more, err := dst.EventsPublish(ctx, store.EventsPublishParams{Now: now.Add(time.Second), Events: []store.PublishEvent{
		{AccountID: "acc_1", Type: "x.y", EventID: "evt_a", Data: json.RawMessage(`{}`)},
		{AccountID: "acc_1", Type: "x.y", Data: json.RawMessage(`{"n":3}`)}}})
	if err != nil || !more[0].Duplicate || more[1].Duplicate || more[1].Event.Deliveries != 2 {
		t.Fatalf("publishing after the copy: %+v %v", more, err)
	}
	page, err := dst.EventList(ctx, store.EventListParams{AccountID: "acc_1", Limit: 10})
	if err != nil || len(page.Items) != 3 || page.Items[0].ID != res[0].Event.ID || page.Items[2].ID != more[1].Event.ID {
		t.Fatalf("events after the copy, oldest first: %+v %v", page.Items, err)
	}
}
