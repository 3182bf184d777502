package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// validBodies is a request body each POST route accepts. A route missing
// here fails TestEveryRoute: add it, so it is walked like the others.
var validBodies = map[string]any{
	"POST /v1/webhooks":                            map[string]any{"url": "https://127.0.0.1/new", "events": []string{"*"}},
	"POST /v1/events":                              map[string]any{"event_type": "generation.completed", "data": map[string]any{}},
	"PATCH /v1/webhooks/{webhook_id}":              map[string]any{"description": "renamed"},
	"POST /v1/webhooks/{webhook_id}/recover":       map[string]any{"since": "2026-01-01T00:00:00Z"},
	"POST /v1/webhooks/{webhook_id}/rotate-secret": map[string]any{"grace_period_seconds": 60},
	"POST /v1/events/batch": map[string]any{"events": []any{
		map[string]any{"event_type": "generation.completed", "data": map[string]any{}}}},
	// The operator's routes: an account key is refused (403) before anything.
	"POST /v1/accounts":                                   map[string]any{"name": "New"},
	"POST /v1/accounts/{account_id}/api-keys":             map[string]any{"name": "k", "scopes": []string{"webhooks:read"}},
	"POST /v1/accounts/{account_id}/members":              map[string]any{"email": "new@example.com", "role": "member", "password": "12345678"},
	"PATCH /v1/accounts/{account_id}/members/{member_id}": map[string]any{"role": "owner"},
	"POST /v1/event-types":                                map[string]any{"name": "new.type", "description": "New."},
	"PATCH /v1/event-types/{name}":                        map[string]any{"deprecated": true},
	"PUT /v1/accounts/{account_id}/credit-alerts":         map[string]any{"thresholds": []float64{100}},
	"POST /v1/accounts/{account_id}/balance":              map[string]any{"balance": 5},
}

// TestEveryRoute walks every authenticated route the router has, not a
// list kept by hand: with a key lacking its scope (403 naming the scope),
// and with another account's key on this account's objects (404, never
// 403, and nothing changes).
func TestEveryRoute(t *testing.T) {
	t.Parallel()
	b := setup(t)
	whA := b.createWebhook(t, b.A.Full, "*")
	b.publish(t, b.A.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{}})
	dlvA := b.deliveries(t, b.A.Read, whA, "")[0].DeliveryID
	_, none := b.newKey(t, b.A.ID, "events:publish") // holds no webhook scope
	_, noPublish := b.newKey(t, b.A.ID, "webhooks:manage")
	st, env := b.do(t, "POST", "/v1/accounts/"+b.A.ID+"/members", b.Operator,
		map[string]any{"email": "owner@example.com", "role": "primary-owner", "password": "12345678"})
	memA := decodeAs[memberJSON](t, ok(t, st, env, http.StatusCreated)).MemberID
	state := func(t *testing.T) string { return b.snapshot(t) + b.operatorSnapshot(t) }

	routes := b.API.Routes()
	if len(routes) < 15 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r.Pattern, " ")
		path = strings.NewReplacer("{webhook_id}", whA, "{delivery_id}", dlvA, "{account_id}", b.A.ID,
			"{api_key_id}", b.keyID(t, b.A.Read), "{member_id}", memA, "{name}", "generation.completed").Replace(path)
		var body any
		if method == "POST" || method == "PATCH" || method == "PUT" {
			var ok bool
			if body, ok = validBodies[r.Pattern]; !ok && !strings.Contains(r.Pattern, "{") {
				t.Errorf("%s: no valid body in validBodies", r.Pattern)
				continue
			}
		}
		t.Run(r.Pattern, func(t *testing.T) {
			before := state(t)
			if r.Scope != "" {
				lacking := none
				if r.Scope == "events:publish" {
					lacking = noPublish
				}
				st, env := b.do(t, method, path, lacking, body)
				wantError(t, st, env, http.StatusForbidden, r.Scope)
			}
			if strings.Contains(r.Pattern, "{webhook_id}") {
				for _, p := range []string{path, path + "?account_id=" + b.A.ID} {
					st, env := b.do(t, method, p, b.B.Full, body)
					wantError(t, st, env, http.StatusNotFound)
				}
			}
			if after := state(t); after != before {
				t.Fatalf("a refused request changed state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// invalidBodies fail the validation of every route that reads a body:
// malformed, truncated, the wrong shape, an unknown field.
var invalidBodies = []string{`{"url":"x"`, `[]`, `{"nope":1}`, `not json`}

// invalidQuery fails the validation of every list.
const invalidQuery = "?limit=0&cursor=zzz&status=bogus&since=yesterday"

// TestEveryRouteResolvesOwnershipFirst walks every authenticated route
// with an object id from another account (or, on the operator's routes,
// an id that is not under the account in the path) together with invalid
// bodies and queries: each answers 404, never the 400 that would tell a
// stranger the id exists, and changes nothing. The same invalid input with
// the caller's own id is a 400, so the input really is invalid.
func TestEveryRouteResolvesOwnershipFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	whA := b.createWebhook(t, b.A.Full, "*")
	whB := b.createWebhook(t, b.B.Full, "*")
	b.publish(t, b.A.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{}})
	b.publish(t, b.B.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{}})
	dlvA := b.deliveries(t, b.A.Read, whA, "")[0].DeliveryID
	dlvB := b.deliveries(t, b.B.Read, whB, "")[0].DeliveryID
	member := func(account, email string) string {
		st, env := b.do(t, "POST", "/v1/accounts/"+account+"/members", b.Operator,
			map[string]any{"email": email, "role": "primary-owner", "password": "12345678"})
		return decodeAs[memberJSON](t, ok(t, st, env, http.StatusCreated)).MemberID
	}
	memA, memB := member(b.A.ID, "a@example.com"), member(b.B.ID, "b@example.com")
	keyA, _ := b.newKey(t, b.A.ID, "webhooks:read")
	keyB, _ := b.newKey(t, b.B.ID, "webhooks:read")
	state := func(t *testing.T) string { return b.snapshot(t) + b.operatorSnapshot(t) }

	// own and foreign fill a route's path: with the caller's objects, and
	// with objects the caller must not find.
	own := strings.NewReplacer("{webhook_id}", whA, "{delivery_id}", dlvA, "{account_id}", b.A.ID,
		"{api_key_id}", keyA, "{member_id}", memA, "{name}", "generation.completed")
	foreignAccount := strings.NewReplacer("{webhook_id}", whB, "{delivery_id}", dlvB) // B's objects, asked for by A
	foreignUnder := strings.NewReplacer("{account_id}", b.A.ID, "{api_key_id}", keyB,
		"{member_id}", memB, "{webhook_id}", whA, "{delivery_id}", dlvB)
	walked := 0
	for _, r := range b.API.Routes() {
		if !strings.Contains(r.Pattern, "{") {
			continue // no object in the path: nothing to be a stranger's
		}
		method, path, _ := strings.Cut(r.Pattern, " ")
		key := b.A.Full
		type attempt struct{ name, path string }
		var foreign []attempt
		if strings.Contains(path, "{account_id}") || strings.Contains(path, "{name}") {
			key = b.Operator
			foreign = append(foreign,
				attempt{"an account that does not exist", own.Replace(strings.NewReplacer("{account_id}", "acc_nope", "{name}", "no.such.type").Replace(path))})
			if p := own.Replace(foreignUnder.Replace(path)); p != own.Replace(path) {
				foreign = append(foreign, attempt{"another account's object under this account", p})
			}
		} else {
			foreign = append(foreign, attempt{"another account's webhook", foreignAccount.Replace(path)})
			if strings.Contains(path, "{delivery_id}") {
				foreign = append(foreign, attempt{"another account's delivery under an own webhook", own.Replace(foreignUnder.Replace(path))})
			}
		}
		t.Run(r.Pattern, func(t *testing.T) {
			before := state(t)
			for _, f := range foreign {
				if method == "GET" {
					st, env := b.do(t, method, f.path+invalidQuery, key, nil)
					wantError(t, st, env, http.StatusNotFound)
					continue
				}
				for _, body := range append(invalidBodies, "") {
					var st int
					var env envelope
					if body == "" {
						st, env = b.do(t, method, f.path, key, nil)
					} else {
						st, env = b.send(t, method, f.path, key, "application/json", []byte(body))
					}
					if st != http.StatusNotFound {
						t.Fatalf("%s, body %q: %d %s, want 404", f.name, body, st, env.Raw)
					}
				}
			}
			if after := state(t); after != before {
				t.Fatalf("a refused request changed state:\nbefore %s\nafter  %s", before, after)
			}
			// The same input on the caller's own object is refused as input.
			ownPath := own.Replace(path)
			if method == "GET" && (strings.HasSuffix(path, "/deliveries") || strings.HasSuffix(path, "/queued") || strings.HasSuffix(path, "/api-keys") || strings.HasSuffix(path, "/members")) {
				st, env := b.do(t, method, ownPath+invalidQuery, key, nil)
				wantError(t, st, env, http.StatusBadRequest)
			}
			if _, takesBody := validBodies[r.Pattern]; takesBody {
				for _, body := range invalidBodies {
					st, env := b.send(t, method, ownPath, key, "application/json", []byte(body))
					wantError(t, st, env, http.StatusBadRequest)
				}
			}
		})
		walked++
	}
	if walked < 20 {
		t.Fatalf("walked only %d routes with an object in the path", walked)
	}
}
