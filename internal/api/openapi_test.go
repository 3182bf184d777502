package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/hookrelay/hookrelay/internal/api"
	"github.com/hookrelay/hookrelay/internal/app"
	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/ssrf"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// The OpenAPI document (openapi.json, served at GET /v1/openapi.json) is
// kept true by these tests:
//
//   - TestOpenAPIDocument: it is a valid OpenAPI 3.1 document, and every
//     operation states its scope consistently.
//   - TestOpenAPIRoutes: its operations are exactly the router's routes.
//   - TestOpenAPIRealTraffic: real requests to every route of a real server
//     (success cases, then generated 400/401/403/404/409/413/415/422/429
//     cases and 503) get answers that validate against it, status, headers
//     and body; valid requests validate against it too; every status it
//     documents for an operation is seen (but 500); and real deliveries
//     validate against its `webhooks` section.
//   - TestOpenAPILimits: its limits (lengths, counts, ranges) are the
//     server's, at the limit and one past it.
//   - TestOpenAPIRejectsWrongAnswers: the validation is not vacuous.
//
// The validator is github.com/getkin/kin-openapi, which validates 3.1
// documents with a JSON Schema 2020-12 validator (type arrays, const,
// if/then, …).

// fetchOpenAPI gets the document from a server, as a client would.
func fetchOpenAPI(t *testing.T, base string) []byte {
	t.Helper()
	res, err := http.Get(base + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	return raw
}

// loadOpenAPI parses and validates the document as OpenAPI 3.1.
func loadOpenAPI(t *testing.T, raw []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPIMajorMinor() != "3.1" {
		t.Fatalf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	return doc
}

// operations lists the document's operations as "METHOD /path".
func operations(doc *openapi3.T) map[string]*openapi3.Operation {
	out := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+path] = op
		}
	}
	return out
}

func opScope(op *openapi3.Operation) string {
	s, _ := op.Extensions["x-hookrelay-scope"].(string)
	return s
}

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Served without a key.
	doc := loadOpenAPI(t, fetchOpenAPI(t, b.URL))

	ops := operations(doc)
	if len(ops) < 30 {
		t.Fatalf("only %d operations", len(ops))
	}
	ids := map[string]bool{}
	for name, op := range ops {
		if op.OperationID == "" || ids[op.OperationID] {
			t.Errorf("%s: missing or repeated operationId %q", name, op.OperationID)
		}
		ids[op.OperationID] = true
		scope := opScope(op)
		if !slices.Contains([]string{"none", "any", "operator", auth.ScopeWebhooksRead, auth.ScopeWebhooksManage, auth.ScopeEventsPublish}, scope) {
			t.Errorf("%s: x-hookrelay-scope %q", name, scope)
			continue
		}
		if !strings.Contains(op.Description, "**Scope:**") {
			t.Errorf("%s: the description does not state the scope", name)
		}
		if scope == "operator" && !strings.Contains(op.Description, "Operator-only") {
			t.Errorf("%s: an operator route's description must say it is operator-only", name)
		}
		// The security requirement says the same as the extension.
		sec := doc.Security
		if op.Security != nil {
			sec = *op.Security
		}
		switch scope {
		case "none":
			if len(sec) != 0 {
				t.Errorf("%s: unauthenticated but has security %v", name, sec)
			}
		case "any":
			if len(sec) != 1 || len(sec[0]["bearerAuth"]) != 0 {
				t.Errorf("%s: security %v, want bearerAuth with no role", name, sec)
			}
		default:
			if len(sec) != 1 || !slices.Equal(sec[0]["bearerAuth"], []string{scope}) {
				t.Errorf("%s: security %v, want bearerAuth [%s]", name, sec, scope)
			}
		}
		method, _, _ := strings.Cut(name, " ")
		hasIdem := false
		for _, p := range op.Parameters {
			if p.Value.In == "header" && p.Value.Name == "Idempotency-Key" {
				hasIdem = true
			}
		}
		if hasIdem != (method == http.MethodPost) {
			t.Errorf("%s: Idempotency-Key parameter %v, want it on every POST and only there", name, hasIdem)
		}
		if scope != "none" {
			for _, code := range []string{"401", "429", "500"} {
				if op.Responses.Value(code) == nil {
					t.Errorf("%s: no %s response", name, code)
				}
			}
			if r := op.Responses.Value("429"); r != nil && r.Value.Headers["Retry-After"] == nil {
				t.Errorf("%s: 429 without Retry-After", name)
			}
		}
	}

	// The delivery itself (SPEC §2) is under the 3.1 webhooks key.
	item := doc.Webhooks["delivery"]
	if item == nil || item.Post == nil || item.Post.RequestBody == nil {
		t.Fatal("webhooks.delivery.post with a request body is missing")
	}
	payload := item.Post.RequestBody.Value.Content.Get("application/json").Schema.Value
	if got := slices.Sorted(maps.Keys(payload.Properties)); !slices.Equal(got, []string{"webhook_data", "webhook_delivery_id", "webhook_event", "webhook_timestamp"}) {
		t.Errorf("delivery body properties %v", got)
	}
	var headers []string
	for _, p := range item.Post.Parameters {
		headers = append(headers, p.Value.Name)
	}
	for _, h := range []string{"User-Agent", "X-Hookrelay-Signature", "X-Hookrelay-Event", "X-Hookrelay-Delivery-Id",
		"X-Hookrelay-Timestamp", "webhook-id", "webhook-timestamp", "webhook-signature"} {
		if !slices.Contains(headers, h) {
			t.Errorf("delivery header %s is not documented", h)
		}
	}
}

// TestOpenAPIRoutes checks that the document's operations are exactly the
// router's: the authenticated routes (Server.Routes) and the ones
// registered on the mux directly, found in this package's source, so that
// a route added either way without documentation (or documented and
// removed) fails here.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	doc := loadOpenAPI(t, fetchOpenAPI(t, b.URL))

	router := map[string]string{} // "METHOD /path" -> scope
	for _, r := range b.API.Routes() {
		scope := r.Scope
		if scope == "" {
			scope = "any"
		}
		router[r.Pattern] = scope
	}
	for _, p := range muxPatterns(t) {
		if _, dup := router[p]; dup {
			t.Errorf("%s is registered twice", p)
		}
		router[p] = "none"
	}
	if len(router) < 35 {
		t.Fatalf("found only %d routes", len(router))
	}
	ops := operations(doc)
	for pattern, scope := range router {
		op, ok := ops[pattern]
		if !ok {
			t.Errorf("route %s is not in the OpenAPI document", pattern)
			continue
		}
		if got := opScope(op); got != scope {
			t.Errorf("%s: document says scope %q, the router %q", pattern, got, scope)
		}
	}
	for name := range ops {
		if _, ok := router[name]; !ok {
			t.Errorf("the OpenAPI document has %s, the router does not", name)
		}
	}
}

// muxPatterns returns the patterns passed as literals to s.mux.Handle and
// s.mux.HandleFunc in this package's (non-test) source.
func muxPatterns(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if fn, ok := n.(*ast.FuncDecl); ok && fn.Recv != nil && fn.Name.Name == "handle" {
				return false // Server.handle registers what Routes lists
			}
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			recv, ok := sel.X.(*ast.SelectorExpr)
			if !ok || recv.Sel.Name != "mux" || len(call.Args) == 0 {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: a mux pattern that is not a string literal: this test cannot see it", fset.Position(call.Pos()))
				return true
			}
			p, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
			return true
		})
	}
	if len(out) < 4 {
		t.Fatalf("found only %d mux routes: %v", len(out), out)
	}
	return out
}

// specChecker sends requests and validates them and their answers against
// the document, recording which statuses each operation was seen with.
type specChecker struct {
	doc    *openapi3.T
	router routers.Router

	mu   sync.Mutex
	seen map[string]map[int]bool // "METHOD /path" -> statuses
}

func newSpecChecker(t *testing.T, doc *openapi3.T) *specChecker {
	t.Helper()
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specChecker{doc: doc, router: r, seen: map[string]map[int]bool{}}
}

// call is one request and the status it must get.
type call struct {
	method, path string // path may carry a query
	key          string
	ctype        string // default application/json when there is a body
	body         []byte
	header       map[string]string
	want         int
	// reqValid: the request must validate against the document (success
	// cases); reqInvalid: it must not (the document describes the fault).
	reqValid, reqInvalid bool
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// data decodes the answer's data.
func (a answer) data(t *testing.T) map[string]any {
	t.Helper()
	var env struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(a.body, &env); err != nil {
		t.Fatalf("%v: %s", err, a.body)
	}
	return env.Data
}

func (a answer) str(t *testing.T, field string) string {
	t.Helper()
	s, ok := a.data(t)[field].(string)
	if !ok {
		t.Fatalf("no string %s in %s", field, a.body)
	}
	return s
}

func (c call) request(t *testing.T, base string) *http.Request {
	t.Helper()
	var rd io.Reader
	if c.body != nil {
		rd = bytes.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, base+c.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if c.body != nil {
		ct := c.ctype
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	return req
}

// do sends c to the server at base and validates the exchange.
func (sc *specChecker) do(t *testing.T, base string, c call) answer {
	t.Helper()
	res, err := http.DefaultClient.Do(c.request(t, base))
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: res.StatusCode, header: res.Header, body: raw}
	if a.status != c.want {
		t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.path, a.status, c.want, truncateBody(raw))
	}
	route, params := sc.route(t, c.request(t, base))
	if c.reqValid || c.reqInvalid {
		err := sc.validateRequest(c.request(t, base), route, params)
		if c.reqValid && err != nil {
			t.Errorf("%s %s: a valid request does not validate against the document: %v", c.method, c.path, err)
		}
		if c.reqInvalid && err == nil {
			t.Errorf("%s %s: the document accepts a request the server refuses (%d)", c.method, c.path, a.status)
		}
	}
	if err := sc.validateResponse(c.request(t, base), route, params, a); err != nil {
		t.Errorf("%s %s: the answer does not match the document: %v\nbody: %s", c.method, c.path, err, truncateBody(raw))
	}
	sc.mu.Lock()
	k := route.Method + " " + route.Path
	if sc.seen[k] == nil {
		sc.seen[k] = map[int]bool{}
	}
	sc.seen[k][a.status] = true
	sc.mu.Unlock()
	return a
}

func (sc *specChecker) route(t *testing.T, req *http.Request) (*routers.Route, map[string]string) {
	t.Helper()
	route, params, err := sc.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: no operation in the document: %v", req.Method, req.URL.Path, err)
	}
	return route, params
}

func (sc *specChecker) validateRequest(req *http.Request, route *routers.Route, params map[string]string) error {
	return openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			MultiError:          true,
			SkipSettingDefaults: true,
			AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
				if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
					return fmt.Errorf("no bearer token")
				}
				return nil
			},
		},
	})
}

func (sc *specChecker) validateResponse(req *http.Request, route *routers.Route, params map[string]string, a answer) error {
	if route.Operation.Responses.Value(strconv.Itoa(a.status)) == nil {
		return fmt.Errorf("status %d is not documented for %s %s", a.status, route.Method, route.Path)
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 a.status,
		Header:                 a.header,
		Body:                   io.NopCloser(bytes.NewReader(a.body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
}

func truncateBody(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// liveApp is the real service (app.Open) on a temporary SQLite database.
type liveApp struct {
	URL   string
	Store store.Store
	API   *api.Server
	App   *app.App
}

func startApp(t *testing.T, resolver ssrf.Resolver, args ...string) *liveApp {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg := config.Register(fs)
	args = append([]string{"--database", filepath.Join(t.TempDir(), "hookrelay.db"), "--addr", "127.0.0.1:0"}, args...)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := config.Load(fs, cfg, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, app.Options{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Resolver: resolver,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &liveApp{URL: "http://" + a.Addr(), Store: a.Store, API: a.API, App: a}
}

// operatorKey stores a new operator key.
func (l *liveApp) operatorKey(t *testing.T) string {
	t.Helper()
	token, hash := auth.NewKey(true)
	now := time.Now()
	if _, err := l.Store.APIKeyCreate(context.Background(), store.APIKeyCreateParams{
		ID: webhook.NewID("key", now), Name: "operator", Prefix: auth.DisplayPrefix(token), Hash: hash, Now: now,
	}); err != nil {
		t.Fatal(err)
	}
	return token
}

// deliveryLog collects what a receiver got, validated against the
// document's webhooks section.
type deliveryLog struct {
	mu     sync.Mutex
	events []string
	errs   []string
}

func (sc *specChecker) receiver(t *testing.T, log *deliveryLog) *httptest.Server {
	item := sc.doc.Webhooks["delivery"]
	route := &routers.Route{Spec: sc.doc, Path: "delivery", PathItem: item, Method: http.MethodPost, Operation: item.Post}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		err := openapi3filter.ValidateRequest(r.Context(), &openapi3filter.RequestValidationInput{
			Request: r, Route: route,
			Options: &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		})
		var p struct {
			Event string `json:"webhook_event"`
		}
		_ = json.Unmarshal(body, &p)
		log.mu.Lock()
		log.events = append(log.events, p.Event)
		if err != nil {
			log.errs = append(log.errs, fmt.Sprintf("%s: %v", body, err))
		}
		log.mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/fail") {
			http.Error(w, "not today", http.StatusInternalServerError)
			return
		}
		w.Header().Set("X-Receiver", "walk")
		_, _ = io.WriteString(w, "thanks")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// walk holds the state of TestOpenAPIRealTraffic.
type walk struct {
	t    *testing.T
	sc   *specChecker
	base string
	// first is the first success call of each operation: the generated
	// error cases reuse its key and body.
	first map[string]call
	n     int
}

// ok sends a call that must succeed with want; POSTs carry an
// Idempotency-Key, so every POST's success answer documents it too.
func (w *walk) ok(method, path, key string, body any, want int) answer {
	w.t.Helper()
	c := call{method: method, path: path, key: key, want: want, reqValid: true}
	switch v := body.(type) {
	case nil:
	case string:
		c.body = []byte(v)
	default:
		c.body = mustMarshal(w.t, v)
	}
	if method == http.MethodPost {
		w.n++
		c.header = map[string]string{"Idempotency-Key": "walk-" + strconv.Itoa(w.n)}
	}
	a := w.sc.do(w.t, w.base, c)
	route, _ := w.sc.route(w.t, c.request(w.t, w.base))
	if k := route.Method + " " + route.Path; want < 300 {
		if _, seen := w.first[k]; !seen {
			w.first[k] = c
		}
	}
	return a
}

// fail sends a call that must get the error want.
func (w *walk) fail(method, path, key string, body any, want int) answer {
	w.t.Helper()
	c := call{method: method, path: path, key: key, want: want}
	if body != nil {
		c.body = mustMarshal(w.t, body)
	}
	return w.sc.do(w.t, w.base, c)
}

// TestOpenAPIRealTraffic drives every route of the real service and
// validates every exchange against the document.
func TestOpenAPIRealTraffic(t *testing.T) {
	t.Parallel()
	// One retry a second later, so that deliveries to a failing receiver
	// become failed (and delivery.failed is published) within the test.
	l := startApp(t, nil, "--dev-allow-localhost", "--rate-limit", "0", "--retry-schedule", "1s", "--disable-after-failures", "1000")
	doc := loadOpenAPI(t, fetchOpenAPI(t, l.URL))
	sc := newSpecChecker(t, doc)
	var got deliveryLog
	recv := sc.receiver(t, &got)
	w := &walk{t: t, sc: sc, base: l.URL, first: map[string]call{}}
	op := l.operatorKey(t)
	ctx := context.Background()

	// Unauthenticated routes.
	w.ok("GET", "/healthz", "", nil, 200)
	w.ok("GET", "/readyz", "", nil, 200)
	w.ok("GET", "/metrics", "", nil, 200)
	w.ok("GET", "/v1/openapi.json", "", nil, 200)

	// The operator sets up an account, its keys and members, the catalog.
	acc := w.ok("POST", "/v1/accounts", op, map[string]any{"name": "Acme"}, 201).str(t, "account_id")
	w.ok("POST", "/v1/accounts", op, map[string]any{"name": "Other"}, 201)
	w.ok("GET", "/v1/accounts?limit=1", op, nil, 200)
	w.ok("GET", "/v1/accounts?search=Acme", op, nil, 200)
	w.ok("GET", "/v1/accounts/"+acc, op, nil, 200)
	newKey := func(name string, scopes ...string) (token, id string) {
		a := w.ok("POST", "/v1/accounts/"+acc+"/api-keys", op, map[string]any{"name": name, "scopes": scopes}, 201)
		return a.str(t, "key"), a.str(t, "api_key_id")
	}
	full, _ := newKey("full", auth.Scopes...)
	read, _ := newKey("read", auth.ScopeWebhooksRead)
	pub, _ := newKey("publish", auth.ScopeEventsPublish)
	manage, _ := newKey("manage", auth.ScopeWebhooksManage)
	temp, tempID := newKey("temporary", auth.ScopeWebhooksRead)
	page := w.ok("GET", "/v1/accounts/"+acc+"/api-keys?limit=2", op, nil, 200)
	var list struct {
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.Unmarshal(page.body, &list); err != nil || list.NextCursor == nil {
		t.Fatalf("a first page of 2 of 5 keys has no next_cursor: %s", page.body)
	}
	w.ok("GET", "/v1/accounts/"+acc+"/api-keys?cursor="+*list.NextCursor, op, nil, 200)
	w.ok("DELETE", "/v1/accounts/"+acc+"/api-keys/"+tempID, op, nil, 200)
	w.fail("GET", "/v1/event-types", temp, nil, 401) // revoked at once

	owner := w.ok("POST", "/v1/accounts/"+acc+"/members", op,
		map[string]any{"email": "owner@example.com", "role": "primary-owner", "password": "correct horse"}, 201).str(t, "member_id")
	member := w.ok("POST", "/v1/accounts/"+acc+"/members", op,
		map[string]any{"email": "member@example.com", "role": "member", "password": "battery staple"}, 201).str(t, "member_id")
	w.ok("GET", "/v1/accounts/"+acc+"/members", op, nil, 200)
	w.ok("PATCH", "/v1/accounts/"+acc+"/members/"+member, op, map[string]any{"role": "owner"}, 200)
	w.fail("POST", "/v1/accounts/"+acc+"/members", op,
		map[string]any{"email": "second@example.com", "role": "primary-owner", "password": "12345678"}, 409)
	w.fail("PATCH", "/v1/accounts/"+acc+"/members/"+owner, op, map[string]any{"role": "member"}, 409)
	w.fail("DELETE", "/v1/accounts/"+acc+"/members/"+owner, op, nil, 409)
	w.ok("DELETE", "/v1/accounts/"+acc+"/members/"+member, op, nil, 200)

	w.ok("POST", "/v1/event-types", op, map[string]any{
		"name": "generation.completed", "description": "A generation finished.", "example": map[string]any{"generation_id": "gen_1"},
	}, 201)
	w.fail("POST", "/v1/event-types", op, map[string]any{"name": "generation.completed", "description": "Again."}, 409)
	w.ok("POST", "/v1/event-types", op, map[string]any{"name": "generation.failed", "description": "A generation failed."}, 201)
	w.ok("PATCH", "/v1/event-types/generation.failed", op, map[string]any{"deprecated": true, "example": nil}, 200)
	w.ok("GET", "/v1/event-types", read, nil, 200)

	w.ok("PUT", "/v1/accounts/"+acc+"/credit-alerts", op, map[string]any{"thresholds": []float64{100, 10}}, 200)
	w.ok("POST", "/v1/accounts/"+acc+"/balance", op, map[string]any{"balance": 50}, 200) // crosses 100: an event
	w.ok("POST", "/v1/accounts/"+acc+"/balance", op, map[string]any{"balance": 60}, 200) // nothing
	w.ok("PUT", "/v1/accounts/"+acc+"/credit-alerts", op, map[string]any{"thresholds": []float64{}}, 200)

	// Endpoints: one that answers 200, one that answers 500.
	whOK := w.ok("POST", "/v1/webhooks", full, map[string]any{
		"url": recv.URL + "/ok", "events": []string{"generation.completed"}, "description": "answers 200",
	}, 201).str(t, "webhook_id")
	whFail := w.ok("POST", "/v1/webhooks?account_id="+acc, op, map[string]any{
		"url": recv.URL + "/fail", "events": []string{"*"}, "strict_order": true,
	}, 201).str(t, "webhook_id")
	// The operator subscribes to the operational events (endpoint.disabled,
	// endpoint.enabled, delivery.failed) with an ordinary endpoint.
	w.ok("POST", "/v1/webhooks?account_id="+webhook.OperatorAccountID, op, map[string]any{
		"url": recv.URL + "/ok", "events": []string{webhook.EventTypeEndpointDisabled, webhook.EventTypeEndpointEnabled, webhook.EventTypeDeliveryFailed},
	}, 201)
	w.ok("GET", "/v1/webhooks", read, nil, 200)
	w.ok("GET", "/v1/webhooks?limit=1&search=answers", manage, nil, 200)
	w.ok("GET", "/v1/webhooks?account_id="+acc, op, nil, 200)
	w.ok("GET", "/v1/webhooks/"+whOK, read, nil, 200)
	w.ok("PATCH", "/v1/webhooks/"+whOK, full, map[string]any{"description": "still answers 200", "strict_order": false}, 200)

	// Events.
	event := map[string]any{"event_type": "generation.completed", "data": map[string]any{"generation_id": "gen_1"},
		"subject_id": "gen_1", "event_id": "evt-walk-1"}
	w.ok("POST", "/v1/events", pub, event, 202)
	w.ok("POST", "/v1/events", pub, event, 202) // the same event_id: the first result
	w.ok("POST", "/v1/events/batch", full, map[string]any{"events": []any{
		map[string]any{"event_type": "generation.completed", "data": map[string]any{"generation_id": "gen_2"}, "subject_id": "gen_2"},
		event,
	}}, 202)
	w.ok("POST", "/v1/events", op, map[string]any{"account_id": acc, "event_type": "generation.completed", "data": map[string]any{}}, 202)
	evPage := w.ok("GET", "/v1/events?limit=2", read, nil, 200)
	if err := json.Unmarshal(evPage.body, &list); err != nil || list.NextCursor == nil {
		t.Fatalf("events page: %s", evPage.body)
	}
	w.ok("GET", "/v1/events?event_type=generation.completed&cursor="+*list.NextCursor, read, nil, 200)

	// Wait for real attempts: a success and a failure with their responses.
	dlvOK := waitDelivery(t, l.URL, read, whOK, func(d deliveryJSON) bool { return d.Status == "delivered" })
	dlvFail := waitDelivery(t, l.URL, read, whFail, func(d deliveryJSON) bool { return d.AttemptCount > 0 })
	w.ok("GET", "/v1/webhooks/"+whOK+"/deliveries", read, nil, 200)
	w.ok("GET", "/v1/webhooks/"+whOK+"/deliveries?limit=1&event_type=generation.completed&status=delivered&subject_id=gen_1"+
		"&since=2020-01-01T00:00:00Z&until="+url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), read, nil, 200)
	w.ok("GET", "/v1/webhooks/"+whFail+"/deliveries?status=pending", read, nil, 200)
	detail := w.ok("GET", "/v1/webhooks/"+whOK+"/deliveries/"+dlvOK, read, nil, 200)
	if !strings.Contains(string(detail.body), `"X-Receiver":["walk"]`) {
		t.Fatalf("the delivery shows no attempt with the receiver's headers: %s", detail.body)
	}
	w.ok("GET", "/v1/webhooks/"+whFail+"/deliveries/"+dlvFail, read, nil, 200)
	w.ok("POST", "/v1/webhooks/"+whOK+"/deliveries/"+dlvOK+"/replay", full, nil, 202)
	testDlv := w.ok("POST", "/v1/webhooks/"+whOK+"/test", manage, nil, 202).str(t, "delivery_id")
	waitDelivery(t, l.URL, read, whOK, func(d deliveryJSON) bool { return d.DeliveryID == testDlv && d.Status == "delivered" })
	w.ok("GET", "/v1/webhooks/"+whOK+"/deliveries/"+testDlv, read, nil, 200)
	w.ok("POST", "/v1/webhooks/"+whOK+"/rotate-secret", full, map[string]any{"grace_period_seconds": 3600}, 200)
	w.ok("POST", "/v1/webhooks/"+whOK+"/rotate-secret", full, nil, 200)
	waitDelivery(t, l.URL, read, whFail, func(d deliveryJSON) bool { return d.Status == "failed" })
	w.ok("GET", "/v1/webhooks/"+whFail+"/deliveries?status=failed", read, nil, 200)
	if n := w.ok("POST", "/v1/webhooks/"+whFail+"/recover", full, map[string]any{"since": "2020-01-01T00:00:00Z"}, 202).data(t)["count"]; n == 0.0 {
		t.Fatal("recover re-sent no failed delivery")
	}
	w.ok("POST", "/v1/webhooks/"+whFail+"/recover", full, map[string]any{"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00.000Z"}, 202)

	// Disabled: events queue, sending is a conflict.
	w.ok("POST", "/v1/webhooks/"+whOK+"/disable", full, nil, 200)
	w.ok("POST", "/v1/webhooks/"+whOK+"/disable", full, nil, 200)
	w.ok("POST", "/v1/events", full, map[string]any{"event_type": "generation.completed", "data": map[string]any{"generation_id": "gen_3"}}, 202)
	w.ok("GET", "/v1/webhooks/"+whOK+"/queued", read, nil, 200)
	w.ok("GET", "/v1/webhooks/"+whOK, read, nil, 200)
	w.fail("POST", "/v1/webhooks/"+whOK+"/test", full, nil, 409)
	w.fail("POST", "/v1/webhooks/"+whOK+"/deliveries/"+dlvOK+"/replay", full, nil, 409)
	w.fail("POST", "/v1/webhooks/"+whOK+"/recover", full, map[string]any{"since": "2020-01-01T00:00:00Z"}, 409)
	w.fail("POST", "/v1/webhooks/"+whOK+"/queued/deliver", full, nil, 409)
	w.ok("POST", "/v1/webhooks/"+whOK+"/enable", full, nil, 200)
	w.ok("POST", "/v1/webhooks/"+whOK+"/queued/deliver", full, nil, 202)
	w.ok("DELETE", "/v1/webhooks/"+whFail, full, nil, 200)

	// Generated error cases for every operation of the document.
	ids := map[string]string{"webhook_id": whOK, "delivery_id": dlvOK, "account_id": acc, "api_key_id": tempID,
		"member_id": owner, "name": "generation.completed"}
	lacking := map[string]string{auth.ScopeWebhooksRead: pub, auth.ScopeWebhooksManage: pub, auth.ScopeEventsPublish: manage, "operator": full}
	keyIDs := map[string]string{}
	for _, k := range []string{op, full, read, pub, manage} {
		kk, err := l.Store.APIKeyGetByHash(ctx, auth.HashKey(k))
		if err != nil {
			t.Fatal(err)
		}
		keyIDs[k] = kk.ID
	}
	for name, o := range operations(doc) {
		method, tmpl, _ := strings.Cut(name, " ")
		scope := opScope(o)
		if scope == "none" {
			continue
		}
		first, ok := w.first[name]
		if !ok {
			t.Errorf("%s: no success case: add one to the walk", name)
			continue
		}
		path := fillPath(tmpl, ids)
		hasBody := o.RequestBody != nil
		hasParam := func(in, n string) bool {
			for _, p := range o.Parameters {
				if p.Value.In == in && p.Value.Name == n {
					return true
				}
			}
			return false
		}
		documents := func(status int) bool { return o.Responses.Value(strconv.Itoa(status)) != nil }
		body := first.body
		if body == nil && hasBody {
			body = []byte(`{}`)
		}
		key := first.key
		if scope != "operator" && key == op {
			key = full
		}
		if scope == "operator" {
			key = op
		}
		t.Run(name, func(t *testing.T) {
			// 401: no key, a wrong key.
			sc.do(t, l.URL, call{method: method, path: path, body: body, want: 401})
			sc.do(t, l.URL, call{method: method, path: path, key: "hrk_wrong", body: body, want: 401})
			// 403: a key without the scope.
			if scope != "any" {
				sc.do(t, l.URL, call{method: method, path: path, key: lacking[scope], body: body, want: 403})
			}
			// 404: unknown ids, or an account key naming another account.
			if documents(404) {
				switch {
				case strings.Contains(tmpl, "{"):
					sc.do(t, l.URL, call{method: method, path: fillPath(tmpl, map[string]string{"webhook_id": "wh_nosuch", "delivery_id": "dlv_nosuch",
						"account_id": "acc_nosuch", "api_key_id": "key_nosuch", "member_id": "mem_nosuch", "name": "no.such.type"}),
						key: key, body: body, want: 404})
				case hasParam("query", "account_id"):
					sc.do(t, l.URL, call{method: method, path: path + "?account_id=acc_nosuch", key: key, body: body, want: 404})
				default:
					t.Errorf("documents 404 but the test knows no way to get one")
				}
			}
			// 400, with the request invalid by the document too where it can say so.
			if documents(400) {
				switch {
				case hasParam("query", "limit"):
					sc.do(t, l.URL, call{method: method, path: path + "?limit=0", key: key, want: 400, reqInvalid: true})
				case hasBody:
					sc.do(t, l.URL, call{method: method, path: path, key: key, body: []byte(`{"unexpected":true}`), want: 400, reqInvalid: true})
				case method == http.MethodPost:
					sc.do(t, l.URL, call{method: method, path: path, key: key, header: map[string]string{"Idempotency-Key": "not valid"}, want: 400, reqInvalid: true})
				case hasParam("query", "account_id"):
					sc.do(t, l.URL, call{method: method, path: path, key: op, want: 400}) // an operator key must name the account
				default:
					t.Errorf("documents 400 but the test knows no way to get one")
				}
			}
			if hasBody {
				sc.do(t, l.URL, call{method: method, path: path, key: key, ctype: "text/plain", body: body, want: 415})
				big := []byte(`{"x":"` + strings.Repeat("a", 300<<10) + `"}`)
				if tmpl == "/v1/events/batch" { // its body may be 32 MiB; one event's data may not exceed 256 KiB
					big = []byte(`{"events":[{"event_type":"generation.completed","data":{"x":"` + strings.Repeat("a", 260<<10) + `"}}]}`)
				}
				sc.do(t, l.URL, call{method: method, path: path, key: key, body: big, want: 413})
			}
			if method == http.MethodPost && !hasBody {
				// A POST without a body reads one only past the 32 MiB an
				// Idempotency-Key lets through.
				sc.do(t, l.URL, call{method: method, path: path, key: key, body: bytes.Repeat([]byte(" "), 32<<20+1),
					header: map[string]string{"Idempotency-Key": "huge"}, want: 413})
			}
			if method == http.MethodPost {
				// The success call again: its first answer, marked replayed.
				replay := first
				replay.reqValid = false
				a := sc.do(t, l.URL, replay)
				if a.header.Get("Idempotent-Replayed") != "true" {
					t.Errorf("a replayed answer without Idempotent-Replayed: true")
				}
				// The same key with another body: 422.
				other := replay
				other.body = append(slices.Clone(replay.body), ' ')
				other.want = 422
				sc.do(t, l.URL, other)
				// The same request while another holds the key: 409.
				busy := call{method: method, path: path, key: first.key, body: first.body,
					header: map[string]string{"Idempotency-Key": "busy-" + strings.ReplaceAll(tmpl, "/", "_")}, want: 409}
				u, _ := url.Parse(path)
				if _, err := l.Store.IdempotencyBegin(ctx, store.IdempotencyBeginParams{
					IdempotencyKey: store.IdempotencyKey{Scope: keyIDs[first.key], Key: busy.header["Idempotency-Key"]},
					Owner:          l.App.Liveness.ID(), AliveSince: l.App.Liveness.AliveSince(),
					Fingerprint: l.API.Fingerprint(method, u.Path, u.RawQuery, busy.body), Now: time.Now(),
				}); err != nil {
					t.Fatal(err)
				}
				sc.do(t, l.URL, busy)
			}
		})
	}

	// 429 (rate limit) and 503 (not ready) need servers set up for them.
	limited := setupWith(t, options{rate: 0.001, burst: 1})
	sc.do(t, limited.URL, call{method: "GET", path: "/v1/event-types", key: limited.A.Full, want: 200})
	for name, o := range operations(doc) {
		if opScope(o) == "none" {
			continue
		}
		method, tmpl, _ := strings.Cut(name, " ")
		a := sc.do(t, limited.URL, call{method: method, path: fillPath(tmpl, ids), key: limited.A.Full, want: 429})
		if n, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || n < 1 {
			t.Errorf("%s: 429 with Retry-After %q", name, a.header.Get("Retry-After"))
		}
	}
	sc.do(t, notReadyServer(t), call{method: "GET", path: "/readyz", want: 503})

	// Every status the document gives an operation was seen (500 cannot be
	// caused from outside).
	for name, o := range operations(doc) {
		for code := range o.Responses.Map() {
			n, err := strconv.Atoi(code)
			if err != nil {
				t.Errorf("%s: response %q is not a status code", name, code)
				continue
			}
			if n != 500 && !sc.seen[name][n] {
				t.Errorf("%s: documents %d but no request got it", name, n)
			}
		}
	}

	// Real deliveries, success and failure, the test event and the
	// operational events included, match the document's webhooks section.
	want := []string{"generation.completed", webhook.EventTypeTest, webhook.EventTypeEndpointDisabled,
		webhook.EventTypeEndpointEnabled, webhook.EventTypeDeliveryFailed}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got.mu.Lock()
		missing := slices.DeleteFunc(slices.Clone(want), func(e string) bool { return slices.Contains(got.events, e) })
		got.mu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver never got %v", missing)
		}
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	for _, e := range got.errs {
		t.Errorf("a delivery does not match the document's webhooks section: %s", e)
	}
}

func fillPath(tmpl string, ids map[string]string) string {
	return regexp.MustCompile(`\{([a-z_]+)\}`).ReplaceAllStringFunc(tmpl, func(m string) string {
		v, ok := ids[m[1:len(m)-1]]
		if !ok {
			panic("no value for " + m)
		}
		return v
	})
}

// waitDelivery polls an endpoint's deliveries until one satisfies cond and
// returns its id.
func waitDelivery(t *testing.T, base, key, wh string, cond func(deliveryJSON) bool) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest("GET", base+"/v1/webhooks/"+wh+"/deliveries?limit=250", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Data []deliveryJSON `json:"data"`
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Data {
			if cond(d) {
				return d.DeliveryID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery of %s became ready in time: %+v", wh, page.Data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// notReadyServer is an API over a database without its migrations.
func notReadyServer(t *testing.T) string {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "empty.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(api.New(api.Deps{Store: st, Clock: clock.Real{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestOpenAPIRejectsWrongAnswers makes sure the validation above is not
// vacuous: answers that break the document fail it.
func TestOpenAPIRejectsWrongAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	doc := loadOpenAPI(t, fetchOpenAPI(t, b.URL))
	sc := newSpecChecker(t, doc)
	wh := b.createWebhook(t, b.A.Full, "*")
	good := sc.do(t, b.URL, call{method: "GET", path: "/v1/webhooks/" + wh, key: b.A.Read, want: 200})
	list := sc.do(t, b.URL, call{method: "GET", path: "/v1/webhooks", key: b.A.Read, want: 200})
	unauth := sc.do(t, b.URL, call{method: "GET", path: "/v1/webhooks", want: 401})

	check := func(name, method, path string, a answer) {
		t.Helper()
		req, _ := http.NewRequest(method, b.URL+path, nil)
		route, params := sc.route(t, req)
		if err := sc.validateResponse(req, route, params, a); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	edit := func(a answer, from, to string) answer {
		t.Helper()
		if !bytes.Contains(a.body, []byte(from)) {
			t.Fatalf("%q not in %s", from, a.body)
		}
		a.body = bytes.Replace(a.body, []byte(from), []byte(to), 1)
		return a
	}
	path := "/v1/webhooks/" + wh
	check("an unknown field", "GET", path, edit(good, `"strict_order":`, `"extra":1,"strict_order":`))
	check("an unknown envelope field", "GET", path, edit(good, `{"success":true,`, `{"success":true,"next_cursor":null,`))
	check("a missing envelope field", "GET", path, edit(good, `{"success":true,`, `{`))
	check("an item of the wrong shape", "GET", "/v1/webhooks", edit(list, `"webhook_id":`, `"webhook":`))
	check("a nullable field of the wrong type", "GET", path, edit(good, `"disabled_reason":null`, `"disabled_reason":5`))
	check("a missing field", "GET", path, edit(good, `"disabled_at":null,`, ``))
	check("a bad enum", "GET", path, edit(good, `"status":"active"`, `"status":"paused"`))
	check("an undocumented status", "GET", path, answer{status: 418, header: good.header, body: good.body})
	check("a list without next_cursor", "GET", "/v1/webhooks", edit(list, `,"next_cursor":null`, ``))
	check("an error that claims success", "GET", "/v1/webhooks", edit(unauth, `"success":false`, `"success":true`))
	noChallenge := unauth
	noChallenge.header = unauth.header.Clone()
	noChallenge.header.Del("WWW-Authenticate")
	check("a 401 without WWW-Authenticate", "GET", "/v1/webhooks", noChallenge)
}

// TestOpenAPILimits checks that the limits the document states are the
// server's: at each limit both accept the request, one past it both refuse.
func TestOpenAPILimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	doc := loadOpenAPI(t, fetchOpenAPI(t, b.URL))
	sc := newSpecChecker(t, doc)
	wh := b.createWebhook(t, b.A.Full, "*")
	s := strings.Repeat
	events := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = map[string]any{"event_type": "generation.completed", "data": map[string]any{}}
		}
		return out
	}
	thresholds := func(n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = i + 1
		}
		return out
	}
	type limitCase struct {
		name, method, path, key string
		body                    func(n int) any
		header                  func(n int) map[string]string
		at                      int // the limit: at it valid, at+1 (or at-1 for minimums) not
		min                     bool
		status                  int // of the valid request
	}
	webhookBody := func(field string, v func(n int) any) func(int) any {
		return func(n int) any {
			m := map[string]any{"url": "https://127.0.0.1/hooks", "events": []string{"*"}}
			m[field] = v(n)
			return m
		}
	}
	publish := func(field string) func(int) any {
		return func(n int) any {
			return map[string]any{"event_type": "generation.completed", "data": map[string]any{}, field: s("e", n)}
		}
	}
	for _, c := range []limitCase{
		{name: "description", method: "POST", path: "/v1/webhooks", key: b.A.Full, at: 500, status: 201,
			body: webhookBody("description", func(n int) any { return s("d", n) })},
		{name: "events per endpoint", method: "POST", path: "/v1/webhooks", key: b.A.Full, at: 100, status: 201,
			body: webhookBody("events", func(n int) any { return slices.Repeat([]string{"generation.completed"}, n) })},
		{name: "events non-empty", method: "POST", path: "/v1/webhooks", key: b.A.Full, at: 1, min: true, status: 201,
			body: webhookBody("events", func(n int) any { return slices.Repeat([]string{"generation.completed"}, n) })},
		{name: "url length", method: "POST", path: "/v1/webhooks", key: b.A.Full, at: 2048, status: 201,
			body: webhookBody("url", func(n int) any { return "https://127.0.0.1/" + s("u", n-len("https://127.0.0.1/")) })},
		{name: "page size", method: "GET", path: "/v1/webhooks?limit=%d", key: b.A.Read, at: 250, status: 200},
		{name: "page size minimum", method: "GET", path: "/v1/webhooks?limit=%d", key: b.A.Read, at: 1, min: true, status: 200},
		{name: "search", method: "GET", path: "/v1/webhooks?search=%s", key: b.A.Read, at: 200, status: 200},
		{name: "event_type filter", method: "GET", path: "/v1/events?event_type=%s", key: b.A.Read, at: 100, status: 200},
		{name: "grace period", method: "POST", path: "/v1/webhooks/" + wh + "/rotate-secret", key: b.A.Full, at: 604800, status: 200,
			body: func(n int) any { return map[string]any{"grace_period_seconds": n} }},
		{name: "grace period minimum", method: "POST", path: "/v1/webhooks/" + wh + "/rotate-secret", key: b.A.Full, at: 0, min: true, status: 200,
			body: func(n int) any { return map[string]any{"grace_period_seconds": n} }},
		{name: "batch size", method: "POST", path: "/v1/events/batch", key: b.A.Full, at: 1000, status: 202,
			body: func(n int) any { return map[string]any{"events": events(n)} }},
		{name: "batch non-empty", method: "POST", path: "/v1/events/batch", key: b.A.Full, at: 1, min: true, status: 202,
			body: func(n int) any { return map[string]any{"events": events(n)} }},
		{name: "event_id", method: "POST", path: "/v1/events", key: b.A.Full, at: 255, status: 202, body: publish("event_id")},
		{name: "subject_id", method: "POST", path: "/v1/events", key: b.A.Full, at: 255, status: 202, body: publish("subject_id")},
		{name: "Idempotency-Key", method: "POST", path: "/v1/events", key: b.A.Full, at: 255, status: 202,
			body:   func(int) any { return map[string]any{"event_type": "generation.completed", "data": map[string]any{}} },
			header: func(n int) map[string]string { return map[string]string{"Idempotency-Key": s("k", n)} }},
		{name: "account name", method: "POST", path: "/v1/accounts", key: b.Operator, at: 200, status: 201,
			body: func(n int) any { return map[string]any{"name": s("n", n)} }},
		{name: "event type name", method: "POST", path: "/v1/event-types", key: b.Operator, at: 100, status: 201,
			body: func(n int) any { return map[string]any{"name": s("t", n), "description": "Long."} }},
		{name: "event type description", method: "POST", path: "/v1/event-types", key: b.Operator, at: 500, status: 201,
			body: func(n int) any {
				return map[string]any{"name": "described" + strconv.Itoa(n), "description": s("d", n)}
			}},
		{name: "thresholds", method: "PUT", path: "/v1/accounts/" + b.A.ID + "/credit-alerts", key: b.Operator, at: 20, status: 200,
			body: func(n int) any { return map[string]any{"thresholds": thresholds(n)} }},
		{name: "password", method: "POST", path: "/v1/accounts/" + b.B.ID + "/members", key: b.Operator, at: 8, min: true, status: 201,
			body: func(n int) any {
				return map[string]any{"email": "p@example.com", "role": "primary-owner", "password": s("p", n)}
			}},
		{name: "scopes non-empty", method: "POST", path: "/v1/accounts/" + b.A.ID + "/api-keys", key: b.Operator, at: 1, min: true, status: 201,
			body: func(n int) any {
				return map[string]any{"name": "k", "scopes": slices.Repeat([]string{"webhooks:read"}, n)}
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			past := c.at + 1
			if c.min {
				past = c.at - 1
			}
			// The refused request first: it must change nothing the
			// accepted one depends on.
			for _, n := range []int{past, c.at} {
				k := call{method: c.method, path: c.path, key: c.key, want: c.status, reqValid: true}
				if n == past {
					k.want, k.reqValid, k.reqInvalid = 400, false, true
				}
				if strings.Contains(c.path, "%d") {
					k.path = fmt.Sprintf(c.path, n)
				} else if strings.Contains(c.path, "%s") {
					k.path = fmt.Sprintf(c.path, s("q", n))
				}
				if c.body != nil {
					k.body = mustMarshal(t, c.body(n))
				}
				if c.header != nil {
					k.header = c.header(n)
				}
				sc.do(t, b.URL, k)
			}
		})
	}
}
