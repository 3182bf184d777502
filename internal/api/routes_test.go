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
