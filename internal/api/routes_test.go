package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// validBodies is a request body each POST route accepts. A route missing
// here fails TestEveryRoute: add it, so it is walked like the others.
var validBodies = map[string]any{
	"POST /v1/webhooks": map[string]any{"url": "https://127.0.0.1/new", "events": []string{"*"}},
	"POST /v1/events":   map[string]any{"event_type": "generation.completed", "data": map[string]any{}},
	"POST /v1/events/batch": map[string]any{"events": []any{
		map[string]any{"event_type": "generation.completed", "data": map[string]any{}}}},
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

	routes := b.API.Routes()
	if len(routes) < 15 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r.Pattern, " ")
		path = strings.NewReplacer("{webhook_id}", whA, "{delivery_id}", dlvA).Replace(path)
		var body any
		if method == "POST" {
			var ok bool
			if body, ok = validBodies[r.Pattern]; !ok && !strings.Contains(r.Pattern, "{") {
				t.Errorf("%s: no valid body in validBodies", r.Pattern)
				continue
			}
		}
		t.Run(r.Pattern, func(t *testing.T) {
			before := b.snapshot(t)
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
			if after := b.snapshot(t); after != before {
				t.Fatalf("a refused request changed state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}
