package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookrelay/hookrelay/internal/api"
	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/intake"
	"github.com/hookrelay/hookrelay/internal/liveness"
	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/ssrf"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
	"github.com/hookrelay/hookrelay/internal/store/storetest"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// bundle is one running API over a fresh database.
type bundle struct {
	URL      string
	Operator string // operator key (acts on any account with ?account_id=)
	A, B     tenant
	Store    store.Store
	DBPath   string
	Clock    clock.Clock
	API      *api.Server
	Box      *secretbox.Box
	Owner    *liveness.Tracker // this server's process, as the holder of idempotency keys
}

// tenant is an account with a key holding every scope and a read-only key.
type tenant struct {
	ID   string
	Full string
	Read string
}

type options struct {
	// strict builds the guard as in production (AllowLoopback false), with
	// a fixed resolver so that no test touches real DNS.
	strict bool
	clock  clock.Clock
	// rate and burst set the per-key rate limit (0: none).
	rate  float64
	burst int
	// log receives the API's logs (nil: discarded); reg, when set, gets
	// the request metrics.
	log *slog.Logger
	reg *prometheus.Registry
	// resolver, when set, resolves endpoint URLs' hosts.
	resolver ssrf.Resolver
	// bodyMemory bounds request bodies in flight (0: unbounded).
	bodyMemory int64
	// queueMax caps disabled endpoints' queues (0: no cap); deliveries,
	// when set, counts what is dropped.
	queueMax   int
	deliveries *metrics.Metrics
}

func setup(t testing.TB) *bundle { return setupWith(t, options{}) }

func setupWith(t testing.TB, o options) *bundle {
	t.Helper()
	ctx := context.Background()
	// SQLite, with its file at hand for the tests that read it directly;
	// PostgreSQL under storetest.OnBothDrivers.
	var st store.Store
	path := ""
	if storetest.OnPostgres(t) {
		st = storetest.Open(t)
	} else {
		path = filepath.Join(t.TempDir(), "api.db")
		s, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		st = s
	}
	clk := o.clock
	if clk == nil {
		clk = clock.Real{}
	}
	now := clk.Now()
	for _, name := range []string{"generation.completed", "generation.failed"} {
		if _, err := st.EventTypeCreate(ctx, store.EventTypeCreateParams{
			Name: name, Description: "A generation " + strings.TrimPrefix(name, "generation.") + ".",
			Example: json.RawMessage(`{"generation_id":"gen_1"}`), Now: now,
		}); err != nil {
			t.Fatal(err)
		}
	}
	key, err := secretbox.ParseKey(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	log := o.log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var httpMetrics *metrics.HTTP
	if o.reg != nil {
		httpMetrics = metrics.NewHTTP(o.reg)
	}
	deliveries := o.deliveries
	if deliveries == nil {
		deliveries = metrics.New(prometheus.NewRegistry(), false)
	}
	in := intake.New(st, clk, nil, deliveries, log, intake.Config{QueueMax: o.queueMax})
	ictx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { in.Run(ictx); close(stopped) }()
	t.Cleanup(func() { stop(); <-stopped })

	guard := ssrf.New(ssrf.Options{AllowLoopback: true, Resolver: o.resolver})
	if o.strict {
		guard = ssrf.New(ssrf.Options{Resolver: fixedResolver{
			"hooks.example.com.":    {netip.MustParseAddr("93.184.215.14")},
			"internal.example.com.": {netip.MustParseAddr("10.1.2.3")},
			"rebind.example.com.":   {netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("127.0.0.1")},
			"metadata.example.com.": {netip.MustParseAddr("169.254.169.254")},
		}})
	}
	owner := liveness.New(st, clk, log, 30*time.Second)
	if err := owner.Register(ctx); err != nil {
		t.Fatal(err)
	}
	server := api.New(api.Deps{
		Store:           st,
		Publisher:       in,
		Catalog:         intake.NewCatalog(st, 5*time.Second),
		Box:             box,
		CheckURL:        guard.CheckURL,
		Clock:           clk,
		Log:             log,
		RateLimit:       o.rate,
		RateBurst:       o.burst,
		HTTPMetrics:     httpMetrics,
		DeliveryMetrics: o.deliveries,
		QueueMax:        o.queueMax,
		Owner:           owner,
		BodyMemory:      o.bodyMemory,
	})
	srv := httptest.NewServer(server)
	t.Cleanup(srv.Close)

	b := &bundle{URL: srv.URL, Store: st, DBPath: path, Clock: clk, API: server, Box: box, Owner: owner}
	_, b.Operator = b.newKey(t, "")
	for _, tn := range []*tenant{&b.A, &b.B} {
		acc, err := st.AccountCreate(ctx, store.AccountCreateParams{ID: webhook.NewID("acc", now), Name: "account", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		tn.ID = acc.ID
		_, tn.Full = b.newKey(t, acc.ID, auth.Scopes...)
		_, tn.Read = b.newKey(t, acc.ID, auth.ScopeWebhooksRead)
	}
	return b
}

// newKey stores a key (an operator key when account is "") and returns its
// id and the token.
func (b *bundle) newKey(t testing.TB, account string, scopes ...string) (id, token string) {
	t.Helper()
	token, hash := auth.NewKey(account == "")
	id = webhook.NewID("key", b.Clock.Now())
	if _, err := b.Store.APIKeyCreate(context.Background(), store.APIKeyCreateParams{
		ID: id, AccountID: account, Name: "test", Prefix: auth.DisplayPrefix(token), Hash: hash, Scopes: scopes, Now: b.Clock.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	return id, token
}

// keyID returns the id of the key with this token.
func (b *bundle) keyID(t *testing.T, token string) string {
	t.Helper()
	k, err := b.Store.APIKeyGetByHash(context.Background(), auth.HashKey(token))
	if err != nil {
		t.Fatal(err)
	}
	return k.ID
}

type fixedResolver map[string][]netip.Addr

func (r fixedResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("lookup %s: no such host", host)
}

// envelope is any API answer; Raw is the exact body.
type envelope struct {
	Success    bool            `json:"success"`
	Data       json.RawMessage `json:"data"`
	NextCursor *string         `json:"next_cursor"`
	Error      *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Raw    []byte      `json:"-"`
	Header http.Header `json:"-"`
}

// do sends body (nil: none; []byte or string: as is; anything else:
// marshalled) as application/json.
func (b *bundle) do(t testing.TB, method, path, key string, body any) (int, envelope) {
	t.Helper()
	var raw []byte
	ctype := ""
	if body != nil {
		ctype = "application/json"
		switch v := body.(type) {
		case []byte:
			raw = v
		case string:
			raw = []byte(v)
		default:
			var err error
			if raw, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	return b.send(t, method, path, key, ctype, raw)
}

// send is do with an explicit Content-Type ("" sends none).
func (b *bundle) send(t testing.TB, method, path, key, ctype string, body []byte) (int, envelope) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, b.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return b.roundTrip(t, req)
}

func (b *bundle) roundTrip(t testing.TB, req *http.Request) (int, envelope) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var env envelope
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, want application/json; body %s", req.Method, req.URL.Path, ct, raw)
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v: %s", req.Method, req.URL.Path, err, raw)
	}
	env.Raw, env.Header = raw, res.Header
	return res.StatusCode, env
}

// ok checks a success answer and returns its data.
func ok(t testing.TB, status int, env envelope, want int) json.RawMessage {
	t.Helper()
	if status != want || !env.Success || env.Error != nil {
		t.Fatalf("status %d, want %d: %s", status, want, env.Raw)
	}
	return env.Data
}

// wantError checks the error envelope, its status and that the message
// contains every one of words (the field at fault, the scope…).
func wantError(t *testing.T, status int, env envelope, want int, words ...string) {
	t.Helper()
	if status != want {
		t.Fatalf("status %d, want %d: %s", status, want, env.Raw)
	}
	if got := keys(t, env.Raw); !slices.Equal(got, []string{"error", "success"}) {
		t.Fatalf("error envelope has keys %v, want [error success]: %s", got, env.Raw)
	}
	if env.Success || env.Error == nil || env.Error.Code == "" || env.Error.Message == "" {
		t.Fatalf("not an error envelope with code and message: %s", env.Raw)
	}
	if got := keys(t, mustMarshal(t, env.Error)); !slices.Equal(got, []string{"code", "message"}) {
		t.Fatalf("error has keys %v", got)
	}
	for _, w := range words {
		if !strings.Contains(env.Error.Message, w) {
			t.Fatalf("error message %q does not mention %q", env.Error.Message, w)
		}
	}
}

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, raw)
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeAs[T any](t testing.TB, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, raw)
	}
	return v
}

// webhookJSON is a webhook as GET shows it.
type webhookJSON struct {
	WebhookID      string   `json:"webhook_id"`
	URL            string   `json:"url"`
	Events         []string `json:"events"`
	Description    string   `json:"description"`
	Secret         string   `json:"secret"`
	IsActive       bool     `json:"is_active"`
	CreatedAt      string   `json:"created_at"`
	SecretPrefix   string   `json:"secret_prefix"`
	Status         string   `json:"status"`
	DisabledReason *string  `json:"disabled_reason"`
	DisabledAt     *string  `json:"disabled_at"`
	QueuedCount    int      `json:"queued_count"`
	DroppedCount   int      `json:"dropped_count"`
	SuccessRate24h *float64 `json:"success_rate_24h"`
	StrictOrder    bool     `json:"strict_order"`
}

type deliveryJSON struct {
	DeliveryID     string          `json:"delivery_id"`
	WebhookID      string          `json:"webhook_id"`
	EventID        string          `json:"event_id"`
	EventType      string          `json:"event_type"`
	SubjectID      *string         `json:"subject_id"`
	Status         string          `json:"status"`
	AttemptCount   int             `json:"attempt_count"`
	LastStatusCode *int            `json:"last_status_code"`
	LastError      *string         `json:"last_error"`
	NextAttemptAt  *string         `json:"next_attempt_at"`
	CreatedAt      string          `json:"created_at"`
	Payload        json.RawMessage `json:"payload"`
	Attempts       []any           `json:"attempts"`
}

type publishJSON struct {
	EventID    string `json:"event_id"`
	Deliveries int    `json:"deliveries"`
	Duplicate  bool   `json:"duplicate"`
}

// createWebhook creates a webhook with key on its own account and returns its id.
func (b *bundle) createWebhook(t testing.TB, key string, events ...string) string {
	t.Helper()
	st, env := b.do(t, "POST", "/v1/webhooks", key, map[string]any{
		"url": "https://127.0.0.1/hooks", "events": events, "description": "test endpoint",
	})
	return decodeAs[webhookJSON](t, ok(t, st, env, http.StatusCreated)).WebhookID
}

// publish publishes one event with key and returns the answer.
func (b *bundle) publish(t *testing.T, key string, body map[string]any) publishJSON {
	t.Helper()
	st, env := b.do(t, "POST", "/v1/events", key, body)
	return decodeAs[publishJSON](t, ok(t, st, env, http.StatusAccepted))
}

// deliveries lists every delivery of a webhook (query: extra filters).
func (b *bundle) deliveries(t *testing.T, key, webhookID, query string) []deliveryJSON {
	t.Helper()
	st, env := b.do(t, "GET", "/v1/webhooks/"+webhookID+"/deliveries?limit=250"+query, key, nil)
	return decodeAs[[]deliveryJSON](t, ok(t, st, env, http.StatusOK))
}

// snapshot renders everything visible through the API to both accounts'
// full keys, to prove that a refused request changed nothing.
func (b *bundle) snapshot(t *testing.T) string {
	t.Helper()
	var sb strings.Builder
	for _, tn := range []tenant{b.A, b.B} {
		st, env := b.do(t, "GET", "/v1/webhooks?limit=250", tn.Full, nil)
		data := ok(t, st, env, http.StatusOK)
		sb.Write(data)
		for _, w := range decodeAs[[]webhookJSON](t, data) {
			st, env := b.do(t, "GET", "/v1/webhooks/"+w.WebhookID+"/deliveries?limit=250", tn.Full, nil)
			sb.Write(ok(t, st, env, http.StatusOK))
		}
	}
	st, env := b.do(t, "GET", "/v1/event-types", b.A.Read, nil)
	sb.Write(ok(t, st, env, http.StatusOK))
	return sb.String()
}
