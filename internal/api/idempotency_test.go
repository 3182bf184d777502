package api_test

import (
	"bytes"
	"context"
	"github.com/hookrelay/hookrelay/internal/store/storetest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookrelay/hookrelay/internal/api"
	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/intake"
	"github.com/hookrelay/hookrelay/internal/metrics"
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

func TestIdempotencyKey(t *testing.T) { storetest.OnBothDrivers(t, testIdempotencyKey) }

func testIdempotencyKey(t *testing.T) {
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
	st, env = b.post(t, "/v1/events", b.A.Full, "not a valid key", body)
	wantError(t, st, env, http.StatusBadRequest, "Idempotency-Key")
}

// TestIdempotencyRefusalsAreNotKept: a request refused before it changed
// anything (validation, another account's object, a state conflict) is not
// stored under its key, so the corrected request with the same key runs
// (Stripe's rule) instead of replaying the refusal.
func TestIdempotencyRefusalsAreNotKept(t *testing.T) {
	t.Parallel()
	b := setup(t)
	whB := b.createWebhook(t, b.B.Full, "*")
	whA := b.createWebhook(t, b.A.Full, "*")
	st, env := b.post(t, "/v1/webhooks", b.A.Full, "k1", `{"url":"ftp://x","events":["*"]}`)
	wantError(t, st, env, http.StatusBadRequest, "url")
	st, env = b.post(t, "/v1/webhooks", b.A.Full, "k1", `{"url":"https://127.0.0.1/fixed","events":["*"]}`)
	ok(t, st, env, http.StatusCreated)
	if env.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("the corrected request was answered from the store")
	}
	st2, env2 := b.post(t, "/v1/webhooks", b.A.Full, "k1", `{"url":"https://127.0.0.1/fixed","events":["*"]}`)
	if st2 != st || !bytes.Equal(env.Raw, env2.Raw) || env2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the success was not kept: %d %s", st2, env2.Raw)
	}
	// 404: B's webhook named by A; then A's own with the same key.
	st, env = b.post(t, "/v1/webhooks/"+whB+"/test", b.A.Full, "k2", "")
	wantError(t, st, env, http.StatusNotFound)
	st, env = b.post(t, "/v1/webhooks/"+whA+"/test", b.A.Full, "k2", "")
	ok(t, st, env, http.StatusAccepted)
	// 409: sending queued events of a disabled endpoint, then again once enabled.
	st, env = b.do(t, "POST", "/v1/webhooks/"+whA+"/disable", b.A.Full, nil)
	ok(t, st, env, http.StatusOK)
	st, env = b.post(t, "/v1/webhooks/"+whA+"/queued/deliver", b.A.Full, "k3", "")
	wantError(t, st, env, http.StatusConflict)
	st, env = b.do(t, "POST", "/v1/webhooks/"+whA+"/enable", b.A.Full, nil)
	ok(t, st, env, http.StatusOK)
	st, env = b.post(t, "/v1/webhooks/"+whA+"/queued/deliver", b.A.Full, "k3", "")
	ok(t, st, env, http.StatusAccepted)
}

// blockingResolver holds lookups of slow.example.com until release is
// closed, so a request can be kept in progress.
type blockingResolver struct {
	entered chan struct{}
	release chan struct{}
}

func (r blockingResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	if host == "slow.example.com." {
		r.entered <- struct{}{}
		<-r.release
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// TestIdempotencyKeyInProgress: while the first request runs, a repeat is
// 409 with Retry-After and creates nothing; once it has answered, the
// repeat gets that answer, secret included.
func TestIdempotencyKeyInProgress(t *testing.T) {
	storetest.OnBothDrivers(t, testIdempotencyKeyInProgress)
}

func testIdempotencyKeyInProgress(t *testing.T) {
	t.Parallel()
	res := blockingResolver{entered: make(chan struct{}), release: make(chan struct{})}
	b := setupWith(t, options{resolver: res})
	body := `{"url":"https://slow.example.com/hook","events":["*"]}`
	type answer struct {
		st  int
		env envelope
	}
	first := make(chan answer)
	go func() {
		st, env := b.post(t, "/v1/webhooks", b.A.Full, "busy", body)
		first <- answer{st, env}
	}()
	<-res.entered // the first request is running
	st, env := b.post(t, "/v1/webhooks", b.A.Full, "busy", body)
	wantError(t, st, env, http.StatusConflict, "in progress")
	if env.Error.Code != "idempotency_in_progress" || env.Header.Get("Retry-After") != "1" {
		t.Fatalf("409 %s with Retry-After %q, want idempotency_in_progress with Retry-After 1", env.Raw, env.Header.Get("Retry-After"))
	}
	st, env = b.post(t, "/v1/webhooks", b.A.Full, "busy", `{"url":"https://slow.example.com/other","events":["*"]}`)
	wantError(t, st, env, http.StatusUnprocessableEntity, "Idempotency-Key")
	close(res.release)
	a := <-first
	created := decodeAs[webhookJSON](t, ok(t, a.st, a.env, http.StatusCreated))
	st, env = b.post(t, "/v1/webhooks", b.A.Full, "busy", body)
	replayed := decodeAs[webhookJSON](t, ok(t, st, env, http.StatusCreated))
	if env.Header.Get("Idempotent-Replayed") != "true" || replayed.Secret != created.Secret || !strings.HasPrefix(created.Secret, "whsec_") {
		t.Fatalf("replay %s, want the first answer with its secret", env.Raw)
	}
	st, env = b.do(t, "GET", "/v1/webhooks", b.A.Read, nil)
	if n := len(decodeAs[[]webhookJSON](t, ok(t, st, env, http.StatusOK))); n != 1 {
		t.Fatalf("%d webhooks from one idempotent request", n)
	}
}

// TestIdempotencyKeyOfAGoneProcess: a key left in progress by a process
// that is gone (silent past the TTL, or unregistered) is free at once for
// the next request, instead of answering 409 for minutes; a key held by a
// live process stays held.
func TestIdempotencyKeyOfAGoneProcess(t *testing.T) {
	storetest.OnBothDrivers(t, testIdempotencyKeyOfAGoneProcess)
}

func testIdempotencyKeyOfAGoneProcess(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	scope := b.keyID(t, b.A.Full)
	now := b.Clock.Now()
	if err := b.Store.ProcessHeartbeat(ctx, store.Process{ID: "proc_silent", Host: "elsewhere", PID: 1,
		StartedAt: now.Add(-2 * time.Hour), HeartbeatAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := b.Store.ProcessHeartbeat(ctx, store.Process{ID: "proc_live", Host: "elsewhere", PID: 1,
		StartedAt: now.Add(-time.Hour), HeartbeatAt: now}); err != nil {
		t.Fatal(err)
	}
	body := `{"event_type":"generation.completed","data":{}}`
	for _, owner := range []string{"proc_silent", "proc_removed", "proc_live"} {
		if _, err := b.Store.IdempotencyBegin(ctx, store.IdempotencyBeginParams{IdempotencyKey: store.IdempotencyKey{Scope: scope, Key: owner},
			Owner: owner, Fingerprint: []byte("whatever it was"), Now: now.Add(-time.Second), AliveSince: now.Add(-2 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"proc_silent", "proc_removed"} {
		st, env := b.post(t, "/v1/events", b.A.Full, key, body)
		ok(t, st, env, http.StatusAccepted)
	}
	st, env := b.post(t, "/v1/events", b.A.Full, "proc_live", body)
	wantError(t, st, env, http.StatusUnprocessableEntity) // held by a live process, for another request
}

// TestIdempotencyRace sends the same request with the same key from many
// goroutines at once: exactly one event is created, and every answer is
// either that request's answer or a 409 for a duplicate still running.
func TestIdempotencyRace(t *testing.T) { storetest.OnBothDrivers(t, testIdempotencyRace) }

func testIdempotencyRace(t *testing.T) {
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
	// Every process on a database shares its encryption key (serve refuses
	// to start otherwise), which seals the stored answers.
	other := httptest.NewServer(api.New(api.Deps{Store: st, Publisher: in, Catalog: intake.NewCatalog(st, time.Second),
		Box: b.Box, CheckURL: func(context.Context, string) error { return nil }, Clock: clock.Real{}, Log: log}))
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
