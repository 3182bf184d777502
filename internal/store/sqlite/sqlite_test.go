package sqlite_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
	"github.com/hookrelay/hookrelay/internal/store/storetest"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

var _ store.Store = (*sqlite.Store)(nil)

func open(t *testing.T) store.Store {
	t.Helper()
	s, err := openPath(filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPath(path string) (*sqlite.Store, error) {
	s, err := sqlite.Open(path)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, open)
}

func TestReady(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ready(context.Background()); err == nil {
		t.Fatal("Ready before migrating should report pending migrations")
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(context.Background()); err != nil {
		t.Fatalf("Ready after migrating: %v", err)
	}
}

// TestFanOutSeesOtherProcesses: two stores on one file stand for two
// processes. The fan-out cache of one must not miss an endpoint the other
// created, nor keep sending to one it deleted.
func TestFanOutSeesOtherProcesses(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.db")
	a, err := openPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := a.AccountCreate(ctx, store.AccountCreateParams{ID: "acc_1", Name: "a", Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EventTypeCreate(ctx, store.EventTypeCreateParams{Name: "x.y", Description: "d", Now: now}); err != nil {
		t.Fatal(err)
	}
	publish := func() int {
		res, err := a.EventsPublish(ctx, store.EventsPublishParams{Now: now, Events: []store.PublishEvent{
			{AccountID: "acc_1", Type: "x.y", Data: json.RawMessage(`{}`)}}})
		if err != nil {
			t.Fatal(err)
		}
		return res[0].Event.Deliveries
	}
	if n := publish(); n != 0 {
		t.Fatalf("%d deliveries with no endpoint", n)
	}
	if _, err := b.EndpointCreate(ctx, store.EndpointCreateParams{ID: "wh_1", AccountID: "acc_1", URL: "https://example.com/",
		Events: []string{"*"}, Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"}, Now: now}); err != nil {
		t.Fatal(err)
	}
	if n := publish(); n != 1 {
		t.Fatalf("%d deliveries after another process created an endpoint, want 1", n)
	}
	if err := b.EndpointDelete(ctx, store.EndpointDeleteParams{AccountID: "acc_1", ID: "wh_1", Now: now}); err != nil {
		t.Fatal(err)
	}
	if n := publish(); n != 0 {
		t.Fatalf("%d deliveries after another process deleted the endpoint, want 0", n)
	}
}
