package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookrelay/hookrelay/internal/api"
	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/intake"
	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
)

func (b *bundle) post(t *testing.T, path, key, idem string, body string) (int, envelope) {
	t.Helper()
	req, err := http.NewRequest("POST", b.URL+path, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idem)
	return b.roundTrip(t, req)
}

func (b *bundle) eventCount(t *testing.T, key string) int {
	t.Helper()
	st, env := b.do(t, "GET", "/v1/events?limit=250", key, nil)
	return len(decodeAs[[]any](t, ok(t, st, env, http.StatusOK)))
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := `{"event_type":"generation.completed","data":{"n":1}}`
	st1, env1 := b.post(t, "/v1/events", b.A.Full, "idem-1", body)
	ok(t, st1, env1, http.StatusAccepted)
	st2, env2 := b.post(t, "/v1/events", b.A.Full, "idem-1", body)
	if st2 != st1 || !bytes.Equal(env1.Raw, env2.Raw) || env2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat: %d %s, want the first answer byte for byte %d %s", st2, env2.Raw, st1, env1.Raw)
	}
	if n := b.eventCount(t, b.A.Read); n != 1 {
		t.Fatalf("%d events after a repeated request, want 1", n)
	}
	st, env := b.post(t, "/v1/events", b.A.Full, "idem-1", `{"event_type":"generation.completed","data":{"n":2}}`)
	wantError(t, st, env, http.StatusUnprocessableEntity, "Idempotency-Key")
	// Another key (or another API key with the same key) is another request.
	st, env = b.post(t, "/v1/events", b.A.Full, "idem-2", body)
	ok(t, st, env, http.StatusAccepted)
	_, other := b.newKey(t, b.A.ID, "events:publish", "webhooks:read")
	st, env = b.post(t, "/v1/events", other, "idem-1", body)
	ok(t, st, env, http.StatusAccepted)
	if env.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("keys are scoped per API key, yet another key's answer was replayed")
	}
	// Errors are answers too: a repeated invalid request gets the same 400.
	st1, env1 = b.post(t, "/v1/webhooks", b.A.Full, "idem-3", `{"url":"ftp://x","events":["*"]}`)
	st2, env2 = b.post(t, "/v1/webhooks", b.A.Full, "idem-3", `{"url":"ftp://x","events":["*"]}`)
	if st1 != 400 || st2 != 400 || !bytes.Equal(env1.Raw, env2.Raw) {
		t.Fatalf("repeated 400: %d %s / %d %s", st1, env1.Raw, st2, env2.Raw)
	}
	st, env = b.post(t, "/v1/events", b.A.Full, "not a valid key", body)
	wantError(t, st, env, http.StatusBadRequest, "Idempotency-Key")
}

func TestIdempotencyKeyInProgress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := `{"event_type":"generation.completed","data":{}}`
	// The key is bound to the request's method, path, query and body.
	h := sha256.New()
	for _, part := range []string{"POST", "/v1/events", ""} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write([]byte(body))
	// The same request holds the key, still running.
	k := store.IdempotencyKey{Scope: b.keyID(t, b.A.Full), Key: "busy"}
	if _, err := b.Store.IdempotencyBegin(context.Background(), store.IdempotencyBeginParams{
		IdempotencyKey: k, Fingerprint: h.Sum(nil), Now: time.Now(), StaleAfter: time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	st, env := b.post(t, "/v1/events", b.A.Full, "busy", body)
	wantError(t, st, env, http.StatusConflict, "in progress")
	if n := b.eventCount(t, b.A.Read); n != 0 {
		t.Fatalf("a duplicate of a running request created %d events", n)
	}
	// Once it completes, the repeat gets its answer.
	if err := b.Store.IdempotencyComplete(context.Background(), store.IdempotencyCompleteParams{
		IdempotencyKey: k, Status: 202, Body: []byte(`{"success":true}`), Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	st, env = b.post(t, "/v1/events", b.A.Full, "busy", body)
	if st != 202 || string(env.Raw) != `{"success":true}` {
		t.Fatalf("after completion: %d %s", st, env.Raw)
	}
}

// TestIdempotencyRace sends the same request with the same key from many
// goroutines at once: exactly one event is created, and every answer is
// either that request's answer or a 409 for a duplicate still running.
func TestIdempotencyRace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := `{"event_type":"generation.completed","data":{"race":true}}`
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[int][][]byte{}
	for range 16 {
		wg.Go(func() {
			st, env := b.post(t, "/v1/events", b.A.Full, "race-key", body)
			mu.Lock()
			answers[st] = append(answers[st], env.Raw)
			mu.Unlock()
		})
	}
	wg.Wait()
	for st := range answers {
		if st != http.StatusAccepted && st != http.StatusConflict {
			t.Fatalf("answer %d: %s", st, answers[st][0])
		}
	}
	for _, raw := range answers[http.StatusAccepted] {
		if !bytes.Equal(raw, answers[http.StatusAccepted][0]) {
			t.Fatalf("two different 202 answers: %s / %s", raw, answers[http.StatusAccepted][0])
		}
	}
	if n := b.eventCount(t, b.A.Read); n != 1 {
		t.Fatalf("%d events from one idempotent request, want 1 (answers: %d×202, %d×409)", n,
			len(answers[http.StatusAccepted]), len(answers[http.StatusConflict]))
	}
	t.Logf("16 racing duplicates: %d answered 202 (first or replay), %d answered 409", len(answers[202]), len(answers[409]))
}

// TestIdempotencyAcrossProcesses: the key lives in the database, so a
// repeat sent to another API process on the same database (a restarted
// node, or another node) gets the first answer too.
func TestIdempotencyAcrossProcesses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := `{"event_type":"generation.completed","data":{"n":1}}`
	st1, env1 := b.post(t, "/v1/events", b.A.Full, "cross-node", body)
	ok(t, st1, env1, http.StatusAccepted)

	// A second server on the same database file: its own store, intake and
	// catalog, as another process would have.
	st, err := sqlite.Open(b.DBPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	in := intake.New(st, clock.Real{}, nil, metrics.New(prometheus.NewRegistry(), false), log, intake.Config{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	box, _ := secretbox.New(make([]byte, 32))
	other := httptest.NewServer(api.New(api.Deps{Store: st, Publisher: in, Catalog: intake.NewCatalog(st, time.Second),
		Box: box, CheckURL: func(context.Context, string) error { return nil }, Clock: clock.Real{}, Log: log}))
	t.Cleanup(other.Close)
	b2 := *b
	b2.URL = other.URL

	st2, env2 := b2.post(t, "/v1/events", b.A.Full, "cross-node", body)
	if st2 != st1 || !bytes.Equal(env1.Raw, env2.Raw) || env2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("on another process: %d %s, want the first answer %d %s", st2, env2.Raw, st1, env1.Raw)
	}
	if n := b.eventCount(t, b.A.Read); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
}
