// Package api serves hookrelay's JSON API under /v1. Handlers validate
// input completely before touching the store, so bad input gets a clear 4xx
// and changes nothing; they reach the dispatcher only through the store
// and the Wake function (a "send now" sets a row's due time).
package api

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/intake"
	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// Publisher commits events (the intake).
type Publisher interface {
	Publish(ctx context.Context, events []store.PublishEvent) ([]store.PublishResult, error)
}

// Operations is what the API asks of the operations layer: the actions on
// endpoints, deliveries, accounts, keys, members and the catalog, with
// their validation, shared with the dashboard and the admin CLI.
type Operations interface {
	Endpoint(ctx context.Context, account, id string) (webhook.Endpoint, error)
	EndpointList(ctx context.Context, account, search, cursor string, limit int) (store.Page[webhook.Endpoint], error)
	EndpointCreate(ctx context.Context, account string, in operations.EndpointInput) (webhook.Endpoint, string, error)
	EndpointUpdate(ctx context.Context, account, id string, p operations.EndpointPatch) (webhook.Endpoint, error)
	EndpointDelete(ctx context.Context, account, id string) error
	EndpointSetActive(ctx context.Context, account, id string, active bool) (webhook.Endpoint, error)
	EndpointRotateSecret(ctx context.Context, account, id string, graceSeconds int64) (operations.Rotation, error)
	EndpointSendTest(ctx context.Context, account, id string) (webhook.Delivery, error)
	EndpointDeliverQueued(ctx context.Context, account, id string) (int, error)
	QueuedList(ctx context.Context, account, endpointID, cursor string, limit int) (store.Page[webhook.Delivery], error)

	DeliveryList(ctx context.Context, account, endpointID string, q operations.DeliveryQuery) (store.Page[webhook.Delivery], error)
	Delivery(ctx context.Context, account, endpointID, id string) (webhook.Delivery, error)
	DeliveryReplay(ctx context.Context, account, endpointID, id string) (webhook.Delivery, error)
	DeliveriesRecover(ctx context.Context, account, endpointID string, since time.Time, until *time.Time) (int, error)

	Account(ctx context.Context, id string) (webhook.Account, error)
	AccountCreate(ctx context.Context, name *string) (webhook.Account, error)
	AccountList(ctx context.Context, search, cursor string, limit int) (store.Page[webhook.Account], error)
	APIKeyCreate(ctx context.Context, by operations.Actor, account string, name *string, scopes []string) (operations.NewAPIKey, error)
	APIKeyList(ctx context.Context, account, cursor string, limit int) (store.Page[webhook.APIKey], error)
	APIKeyRevoke(ctx context.Context, by operations.Actor, account, id string) (webhook.APIKey, error)
	Member(ctx context.Context, account, id string) (webhook.Member, error)
	MemberCreate(ctx context.Context, by operations.Actor, account string, in operations.MemberInput) (webhook.Member, error)
	MemberList(ctx context.Context, account, cursor string, limit int) (store.Page[webhook.Member], error)
	MemberUpdate(ctx context.Context, by operations.Actor, account, id string, p operations.MemberPatch) (webhook.Member, error)
	MemberDelete(ctx context.Context, by operations.Actor, account, id string) (webhook.Member, error)

	EventType(ctx context.Context, name string) (webhook.EventType, error)
	EventTypeCreate(ctx context.Context, in operations.EventTypeInput) (webhook.EventType, error)
	EventTypeUpdate(ctx context.Context, name string, p operations.EventTypePatch) (webhook.EventType, error)
}

// Deps is what the API is built from; main wires it.
type Deps struct {
	Store store.Store
	// Ops are the actions; nil builds them from Store, Catalog, Box,
	// CheckURL, Wake and Clock (main passes the ones the dashboard shares).
	Ops       Operations
	Publisher Publisher
	Catalog   *intake.Catalog
	Box       *secretbox.Box
	// CheckURL is the SSRF guard's early check of an endpoint URL, for
	// the Ops that New builds when none is given.
	CheckURL func(ctx context.Context, raw string) error
	// Wake tells this process's dispatcher that endpoints have due work;
	// nil when the dispatcher runs elsewhere (it then polls).
	Wake    func(endpointIDs []string)
	Clock   clock.Clock
	Log     *slog.Logger
	Metrics http.Handler // GET /metrics
	// HTTPMetrics counts requests by route and status (nil: not counted).
	HTTPMetrics *metrics.HTTP
	// DeliveryMetrics counts the deliveries dropped by what the API
	// publishes itself and by the Ops New builds (nil: not counted).
	DeliveryMetrics *metrics.Metrics
	// RateLimit is the requests per second each account key may make (a
	// token bucket holding RateBurst); 0 disables. Operator keys, the
	// platform's own, are not limited.
	RateLimit float64
	RateBurst int
	// QueueMax caps disabled endpoints' queues for events the API publishes
	// itself (credits.low_balance), as the intake does for the others.
	QueueMax int
	// BodyMemory bounds the bytes of request bodies held in memory at
	// once, across requests; past it requests get 503 with Retry-After.
	// 0 is unlimited.
	BodyMemory int64
	// Owner holds this process's Idempotency-Keys in progress (nil: keys
	// begun here are held until idempotencyStale).
	Owner Owner
	// Readiness are checks beside the store's own that /readyz runs: each
	// error makes it answer 503 with the error as the reason (a stalled
	// dispatcher, an unwritable database).
	Readiness []func(ctx context.Context) error
}

// Server is the HTTP API.
type Server struct {
	Deps
	mux     *http.ServeMux
	limiter *keyLimiter
	routes  []Route
	bodies  *byteBudget

	// Keys derived from Box for what the API itself keeps from prying
	// eyes: stored idempotent answers, request fingerprints, cursors.
	replies, fingerprints, cursors *secretbox.Box
}

// scopeOperator marks routes only operator keys may use.
const scopeOperator = "operator"

// Route is one authenticated route: its ServeMux pattern and the scope it
// needs ("" for any key, "operator" for operator keys only). Tests walk them all, so a new route cannot skip
// the isolation and scope checks.
type Route struct {
	Pattern string
	Scope   string
}

// Routes lists the authenticated routes in registration order.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

// storageRetryAfter is the Retry-After, in seconds, of a 503 when the
// storage fails: long enough not to hammer a full disk, short enough to
// notice soon that it is back.
const storageRetryAfter = 5

// Limits of SPEC §4.
const (
	maxPayloadBytes   = operations.MaxPayloadBytes // the data of one event
	maxBodyBytes      = maxPayloadBytes + 16<<10
	maxBatchBodyBytes = 32 << 20
	maxBatchEvents    = 1000
)

// New builds the API.
func New(d Deps) *Server {
	if d.Wake == nil {
		d.Wake = func([]string) {}
	}
	if d.Ops == nil && d.Catalog != nil {
		d.Ops = operations.New(operations.Deps{Store: d.Store, Catalog: d.Catalog, Box: d.Box, CheckURL: d.CheckURL,
			Wake: d.Wake, Clock: d.Clock, Metrics: d.DeliveryMetrics})
	}
	s := &Server{Deps: d, mux: http.NewServeMux(), limiter: newKeyLimiter(d.RateLimit, d.RateBurst),
		bodies: newByteBudget(d.BodyMemory)}
	if d.Box != nil { // nil only in servers built to answer /readyz
		s.replies, s.fingerprints = d.Box.Derive("idempotent responses"), d.Box.Derive("idempotency fingerprints")
		s.cursors = d.Box.Derive("list cursors")
	}
	s.register()
	return s
}

func (s *Server) register() {
	read, manage, publish := auth.ScopeWebhooksRead, auth.ScopeWebhooksManage, auth.ScopeEventsPublish
	s.handle("POST /v1/webhooks", manage, s.createWebhook)
	s.handle("GET /v1/webhooks", read, s.listWebhooks)
	s.handle("GET /v1/webhooks/{webhook_id}", read, s.getWebhook)
	s.handle("PATCH /v1/webhooks/{webhook_id}", manage, s.updateWebhook)
	s.handle("POST /v1/webhooks/{webhook_id}/rotate-secret", manage, s.rotateSecret)
	s.handle("POST /v1/webhooks/{webhook_id}/recover", manage, s.recoverDeliveries)
	s.handle("DELETE /v1/webhooks/{webhook_id}", manage, s.deleteWebhook)
	s.handle("POST /v1/webhooks/{webhook_id}/test", manage, s.testWebhook)
	s.handle("GET /v1/webhooks/{webhook_id}/deliveries", read, s.listDeliveries)
	s.handle("GET /v1/webhooks/{webhook_id}/deliveries/{delivery_id}", read, s.getDelivery)
	s.handle("POST /v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay", manage, s.replayDelivery)
	s.handle("POST /v1/webhooks/{webhook_id}/enable", manage, s.enableWebhook)
	s.handle("POST /v1/webhooks/{webhook_id}/disable", manage, s.disableWebhook)
	s.handle("GET /v1/webhooks/{webhook_id}/queued", read, s.listQueued)
	s.handle("POST /v1/webhooks/{webhook_id}/queued/deliver", manage, s.deliverQueued)
	s.handle("POST /v1/events", publish, s.publishEvent)
	s.handle("POST /v1/events/batch", publish, s.publishBatch)
	s.handle("GET /v1/events", read, s.listEvents)
	s.handle("GET /v1/event-types", "", s.listEventTypes)
	s.registerOperator()

	s.registerHealth()
	s.mux.HandleFunc("GET /v1/openapi.json", s.serveOpenAPI)
}

// ServeHTTP answers with the JSON envelope even for unknown routes and
// methods, never lets a panic take the process down, and logs and counts
// every request once.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ri := &requestInfo{id: requestID(r.Header.Get(requestIDHeader), start)}
	w.Header().Set(requestIDHeader, ri.id)
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
	rec := &statusRecorder{ResponseWriter: w}
	_, route := s.mux.Handler(r)
	if route == "" {
		route = "unmatched"
	}
	defer func() {
		// Runs last, after the recovery below has written its 500.
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		s.logRequest(r, route, status, time.Since(start), ri)
	}()
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.Log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "request_id", ri.id, "panic", v, "stack", string(debug.Stack()))
			writeError(rec, errorf(http.StatusInternalServerError, "internal_error", "internal error"))
		}
	}()
	if n := headerBytes(r); n > maxHeaderBytes {
		writeError(rec, errorf(http.StatusRequestHeaderFieldsTooLarge, "request_header_fields_too_large",
			"request headers are %d bytes, more than the %d allowed", n, maxHeaderBytes))
		return
	}
	if route == "unmatched" {
		s.mux.ServeHTTP(&fallbackWriter{ResponseWriter: rec}, r)
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// maxHeaderBytes bounds a request's headers. The HTTP server reads up to
// more (http.DefaultMaxHeaderBytes) so that this limit, not its own, is
// what a client meets, answered in the envelope rather than as plain text.
const maxHeaderBytes = 64 << 10

// headerBytes is the size of r's request line and headers as sent.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// fallbackWriter replaces the mux's plain-text 404 and 405 with the envelope.
type fallbackWriter struct {
	http.ResponseWriter
	replaced bool
}

func (f *fallbackWriter) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		f.replaced = true
		writeError(f.ResponseWriter, errorf(code, "not_found", "no such route"))
	case http.StatusMethodNotAllowed:
		f.replaced = true
		writeError(f.ResponseWriter, errorf(code, "method_not_allowed", "method not allowed; allowed: %s",
			f.ResponseWriter.Header().Get("Allow")))
	default:
		f.ResponseWriter.WriteHeader(code)
	}
}

func (f *fallbackWriter) Write(b []byte) (int, error) {
	if f.replaced {
		return len(b), nil
	}
	return f.ResponseWriter.Write(b)
}

// caller is the authenticated key and the account it acts on.
type caller struct {
	key webhook.APIKey
	// account is the key's own account, or for an operator key the one
	// named by ?account_id= (empty when none was named).
	account string
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c caller) error

// handle registers a route that needs a key with scope ("" = any key).
func (s *Server) handle(pattern, scope string, h handlerFunc) {
	s.routes = append(s.routes, Route{Pattern: pattern, Scope: scope})
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c, aerr := s.authenticate(r, scope)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		if ri := infoOf(r); ri.account == "" {
			ri.account = r.PathValue("account_id") // an operator route's account
		}
		defer s.withBudget(r)()
		run := func(w http.ResponseWriter) {
			err := h(w, r, c)
			if err == nil {
				return
			}
			var aerr *apiError
			if !errors.As(err, &aerr) {
				aerr = s.storeError(r, err)
			}
			writeError(w, aerr)
		}
		if key := r.Header.Get("Idempotency-Key"); key != "" && r.Method == http.MethodPost {
			s.idempotent(w, r, c, key, run)
			return
		}
		run(w)
	})
}

// storeError maps an unexpected error: store "not found" is a 404 (the
// object is not the caller's, or gone), everything else a logged 500.
func (s *Server) storeError(r *http.Request, err error) *apiError {
	if e, ok := operations.AsError(err); ok {
		return refusal(e)
	}
	switch {
	case errors.Is(err, webhook.ErrNotFound):
		return notFound("resource")
	case errors.Is(err, webhook.ErrConflict):
		msg := "the request conflicts with the current state"
		var ce *webhook.ConflictError
		if errors.As(err, &ce) {
			msg = ce.Message
		}
		return errorf(http.StatusConflict, "conflict", "%s", msg)
	case errors.Is(err, store.ErrInvalidCursor):
		return invalid("cursor", "invalid cursor")
	case errors.Is(err, context.Canceled):
		return errorf(499, "canceled", "request canceled")
	case errors.Is(err, intake.ErrClosed):
		// This process is shutting down; another (or it, restarted) will
		// take the request. Nothing was acknowledged.
		e := errorf(http.StatusServiceUnavailable, "shutting_down", "the server is shutting down; nothing was changed, retry")
		e.retryAfter = 1
		return e
	case errors.Is(err, store.ErrUnavailable):
		// The storage failed, not the request: nothing was acknowledged,
		// and the same request may succeed once the operator fixes it.
		reason := "storage failure"
		var ue *store.UnavailableError
		if errors.As(err, &ue) {
			reason = ue.Reason
		}
		s.Log.Warn("storage unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		e := errorf(http.StatusServiceUnavailable, "storage_unavailable",
			"storage is unavailable (%s); nothing was changed, retry later", reason)
		e.retryAfter = storageRetryAfter
		return e
	}
	s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "request_id", infoOf(r).id, "err", err)
	return errorf(http.StatusInternalServerError, "internal_error", "internal error")
}

// refusal answers an action the operations layer refused, with the
// status and code of SPEC §3 and the layer's message.
func refusal(e *operations.Error) *apiError {
	switch e.Kind {
	case operations.NotFound:
		return errorf(http.StatusNotFound, "not_found", "%s", e.Message)
	case operations.Conflict:
		return errorf(http.StatusConflict, "conflict", "%s", e.Message)
	case operations.Forbidden:
		return errorf(http.StatusForbidden, "forbidden", "%s", e.Message)
	}
	return &apiError{status: http.StatusBadRequest, code: "validation_error", message: e.Error()}
}

func (s *Server) authenticate(r *http.Request, scope string) (caller, *apiError) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return caller{}, errorf(http.StatusUnauthorized, "unauthorized", "missing bearer token in Authorization header")
	}
	// Every request looks the key up, so a revocation anywhere takes effect
	// at once on every node.
	key, err := s.Store.APIKeyGetByHash(r.Context(), auth.HashKey(token))
	if err != nil || key.RevokedAt != nil {
		if err != nil && !errors.Is(err, webhook.ErrNotFound) {
			return caller{}, s.storeError(r, err)
		}
		return caller{}, errorf(http.StatusUnauthorized, "unauthorized", "invalid or revoked API key")
	}
	if !key.Operator() {
		if ok, wait := s.limiter.allow(key.ID, time.Now()); !ok {
			e := errorf(http.StatusTooManyRequests, "rate_limited", "too many requests with this API key; retry after %s", wait.Round(time.Millisecond))
			e.retryAfter = int(math.Ceil(wait.Seconds()))
			return caller{}, e
		}
	}
	if scope == scopeOperator && !key.Operator() {
		return caller{}, errorf(http.StatusForbidden, "forbidden", "this route needs an operator key")
	}
	if scope != "" && !auth.HasScope(key, scope) {
		return caller{}, errorf(http.StatusForbidden, "forbidden", "API key lacks the %s scope", scope)
	}
	ri := infoOf(r)
	ri.keyPrefix = key.Prefix
	ri.account = key.AccountID
	c := caller{key: key, account: key.AccountID}
	if q := r.URL.Query().Get("account_id"); q != "" {
		if !key.Operator() && q != key.AccountID {
			// Naming another account with an account key reveals nothing.
			return caller{}, notFound("account")
		}
		c.account = q
		ri.account = q
	}
	return c, nil
}

// accountFor returns the account a request acts on, for an operator key
// the one it named (explicit, or the given body field).
func (s *Server) accountFor(r *http.Request, c caller, bodyAccount string) (string, *apiError) {
	account := c.account
	if bodyAccount != "" {
		if !c.key.Operator() && bodyAccount != c.key.AccountID {
			return "", notFound("account")
		}
		if q := r.URL.Query().Get("account_id"); q != "" && q != bodyAccount {
			return "", invalid("account_id", "the query names %s and the body %s: name the account once",
				operations.Truncate(q, 100), operations.Truncate(bodyAccount, 100))
		}
		account = bodyAccount
	}
	if account == "" {
		return "", invalid("account_id", "is required with an operator key")
	}
	if c.key.Operator() {
		if _, err := s.Store.AccountGet(r.Context(), account); err != nil {
			if errors.Is(err, webhook.ErrNotFound) {
				return "", notFound("account")
			}
			return "", s.storeError(r, err)
		}
	}
	infoOf(r).account = account
	return account, nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ready(ctx); err != nil {
		writeError(w, errorf(http.StatusServiceUnavailable, "not_ready", "%s", err.Error()))
		return
	}
	for _, check := range s.Readiness {
		if err := check(ctx); err != nil {
			writeError(w, errorf(http.StatusServiceUnavailable, "not_ready", "%s", err.Error()))
			return
		}
	}
	writeData(w, http.StatusOK, map[string]string{"status": "ready"})
}
