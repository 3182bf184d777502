package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
)

// TestKeyInProgressIsFreedWhenItsProcessDies: an Idempotency-Key left in
// progress by a server killed with SIGKILL is free as soon as the server
// is restarted, instead of answering 409 for minutes.
func TestKeyInProgressIsFreedWhenItsProcessDies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	n := node{t: t, database: filepath.Join(t.TempDir(), "idem.db")}
	_, key := n.bootstrap("idem", "events:publish", "idem.test")
	addr := freePort(t)
	in := n.start(addr)

	// Mark a key in progress under the running server, as a request it
	// was serving when it died would have left it.
	st, err := sqlite.OpenExisting(n.database)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	procs, err := st.ProcessList(ctx)
	if err != nil || len(procs) != 1 {
		t.Fatalf("registered processes: %+v %v", procs, err)
	}
	k, err := st.APIKeyGetByHash(ctx, auth.HashKey(key))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := st.IdempotencyBegin(ctx, store.IdempotencyBeginParams{IdempotencyKey: store.IdempotencyKey{Scope: k.ID, Key: "crash-1"},
		Owner: procs[0].ID, Fingerprint: []byte("the request it was running"), Now: now, AliveSince: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	publish := func(base string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/v1/events", bytes.NewReader([]byte(`{"event_type":"idem.test","data":{}}`)))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "crash-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := publish(in.base); got != http.StatusUnprocessableEntity {
		t.Fatalf("while its holder lives, the key answered %d, want 422 (held for another request)", got)
	}
	in.kill(t)
	in = n.start(addr)
	defer in.kill(t)
	if got := publish(in.base); got != http.StatusAccepted {
		t.Fatalf("after the holder was killed and the server restarted, the key answered %d, want 202", got)
	}
	if procs, _ := st.ProcessList(ctx); len(procs) != 1 {
		t.Fatalf("the dead process is still registered: %+v", procs)
	}
}
