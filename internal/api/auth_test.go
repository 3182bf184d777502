package api_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/hookrelay/hookrelay/internal/store"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cases := []struct {
		name, header string
	}{
		{"no header", ""},
		{"empty bearer", "Bearer "},
		{"basic scheme", "Basic " + b.A.Full},
		{"token without scheme", b.A.Full},
		{"unknown key", "Bearer hrk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"key with a character changed", "Bearer " + b.A.Full[:len(b.A.Full)-1] + "x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest("GET", b.URL+"/v1/webhooks", nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			st, env := b.roundTrip(t, req)
			wantError(t, st, env, http.StatusUnauthorized)
		})
	}

	t.Run("revoked key fails on the very next request", func(t *testing.T) {
		t.Parallel()
		id, key := b.newKey(t, b.A.ID, "webhooks:read")
		st, env := b.do(t, "GET", "/v1/webhooks", key, nil)
		ok(t, st, env, http.StatusOK)
		if err := b.Store.APIKeyRevoke(context.Background(), store.APIKeyRevokeParams{AccountID: b.A.ID, ID: id, Now: b.Clock.Now()}); err != nil {
			t.Fatal(err)
		}
		st, env = b.do(t, "GET", "/v1/webhooks", key, nil)
		wantError(t, st, env, http.StatusUnauthorized)
		st, env = b.do(t, "GET", "/v1/event-types", key, nil)
		wantError(t, st, env, http.StatusUnauthorized)
	})
}

func TestScopes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wh := b.createWebhook(t, b.A.Full, "*")
	b.publish(t, b.A.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{}})
	dlv := b.deliveries(t, b.A.Read, wh, "")[0].DeliveryID
	_, publishOnly := b.newKey(t, b.A.ID, "events:publish")
	_, manageOnly := b.newKey(t, b.A.ID, "webhooks:manage")

	routes := []struct {
		method, path, scope string
		body                any
		okStatus            int
	}{
		{"POST", "/v1/webhooks", "webhooks:manage", map[string]any{"url": "https://127.0.0.1/", "events": []string{"*"}}, 201},
		{"GET", "/v1/webhooks", "webhooks:read", nil, 200},
		{"GET", "/v1/webhooks/" + wh, "webhooks:read", nil, 200},
		{"POST", "/v1/webhooks/" + wh + "/test", "webhooks:manage", nil, 202},
		{"GET", "/v1/webhooks/" + wh + "/deliveries", "webhooks:read", nil, 200},
		{"GET", "/v1/webhooks/" + wh + "/deliveries/" + dlv, "webhooks:read", nil, 200},
		{"POST", "/v1/webhooks/" + wh + "/deliveries/" + dlv + "/replay", "webhooks:manage", nil, 202},
		{"POST", "/v1/events", "events:publish", map[string]any{"event_type": "generation.failed", "data": map[string]any{}}, 202},
		{"POST", "/v1/events/batch", "events:publish", map[string]any{"events": []any{map[string]any{"event_type": "generation.failed", "data": map[string]any{}}}}, 202},
		{"DELETE", "/v1/webhooks/" + wh, "webhooks:manage", nil, 200}, // last: it removes wh
	}
	holders := map[string][]string{ // keys that hold (or imply) each scope
		"webhooks:read":   {b.A.Read, manageOnly, b.A.Full},
		"webhooks:manage": {manageOnly, b.A.Full},
		"events:publish":  {publishOnly, b.A.Full},
	}
	for _, r := range routes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			for _, key := range []string{b.A.Read, publishOnly, manageOnly} {
				if slices.Contains(holders[r.scope], key) {
					continue
				}
				before := b.snapshot(t)
				st, env := b.do(t, r.method, r.path, key, r.body)
				wantError(t, st, env, http.StatusForbidden, r.scope)
				if b.snapshot(t) != before {
					t.Fatal("a forbidden request changed state")
				}
			}
			for _, key := range holders[r.scope] {
				st, env := b.do(t, r.method, r.path, key, r.body)
				ok(t, st, env, r.okStatus)
				if r.method == "DELETE" {
					break
				}
			}
		})
	}
}

func TestOperatorKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wh := b.createWebhook(t, b.A.Full, "generation.completed")
	q := "?account_id=" + b.A.ID

	t.Run("needs account_id", func(t *testing.T) {
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/v1/webhooks", nil},
			{"GET", "/v1/webhooks/" + wh, nil},
			{"POST", "/v1/webhooks", map[string]any{"url": "https://127.0.0.1/", "events": []string{"*"}}},
			{"POST", "/v1/events", map[string]any{"event_type": "generation.completed", "data": map[string]any{}}},
			{"POST", "/v1/events/batch", map[string]any{"events": []any{map[string]any{"event_type": "generation.completed", "data": map[string]any{}}}}},
		} {
			st, env := b.do(t, r.method, r.path, b.Operator, r.body)
			wantError(t, st, env, http.StatusBadRequest, "account_id")
		}
	})
	t.Run("unknown account", func(t *testing.T) {
		st, env := b.do(t, "GET", "/v1/webhooks?account_id=acc_nope", b.Operator, nil)
		wantError(t, st, env, http.StatusNotFound)
		st, env = b.do(t, "POST", "/v1/events", b.Operator, map[string]any{"account_id": "acc_nope", "event_type": "generation.completed", "data": map[string]any{}})
		wantError(t, st, env, http.StatusNotFound)
	})
	t.Run("acts on the named account", func(t *testing.T) {
		st, env := b.do(t, "GET", "/v1/webhooks/"+wh+q, b.Operator, nil)
		ok(t, st, env, http.StatusOK)
		st, env = b.do(t, "GET", "/v1/webhooks/"+wh+"?account_id="+b.B.ID, b.Operator, nil)
		wantError(t, st, env, http.StatusNotFound)

		st, env = b.do(t, "POST", "/v1/webhooks"+q, b.Operator, map[string]any{"url": "https://127.0.0.1/op", "events": []string{"generation.completed"}})
		created := decodeAs[webhookJSON](t, ok(t, st, env, http.StatusCreated)).WebhookID
		st, env = b.do(t, "GET", "/v1/webhooks/"+created, b.A.Read, nil)
		ok(t, st, env, http.StatusOK)

		got := b.publish(t, b.Operator, map[string]any{"account_id": b.A.ID, "event_type": "generation.completed", "data": map[string]any{}})
		if got.Deliveries != 2 {
			t.Fatalf("operator publish into A: %d deliveries, want 2", got.Deliveries)
		}
		st, env = b.do(t, "POST", "/v1/events"+q, b.Operator, map[string]any{"event_type": "generation.completed", "data": map[string]any{}})
		if got := decodeAs[publishJSON](t, ok(t, st, env, http.StatusAccepted)); got.Deliveries != 2 {
			t.Fatalf("operator publish with ?account_id: %d deliveries", got.Deliveries)
		}
		st, env = b.do(t, "POST", "/v1/events/batch", b.Operator, map[string]any{"account_id": b.A.ID,
			"events": []any{map[string]any{"event_type": "generation.completed", "data": map[string]any{}},
				map[string]any{"account_id": b.B.ID, "event_type": "generation.completed", "data": map[string]any{}}}})
		if got := decodeAs[[]publishJSON](t, ok(t, st, env, http.StatusAccepted)); got[0].Deliveries != 2 || got[1].Deliveries != 0 {
			t.Fatalf("operator batch: %s", env.Raw)
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	whA := b.createWebhook(t, b.A.Full, "*")
	whB := b.createWebhook(t, b.B.Full, "*")
	b.publish(t, b.A.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{"secret": "A"}, "event_id": "shared-id"})
	b.publish(t, b.B.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{"secret": "B"}})
	dlvA := b.deliveries(t, b.A.Read, whA, "")[0].DeliveryID
	before := b.snapshot(t)

	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/webhooks/" + whA},
		{"DELETE", "/v1/webhooks/" + whA},
		{"POST", "/v1/webhooks/" + whA + "/test"},
		{"GET", "/v1/webhooks/" + whA + "/deliveries"},
		{"GET", "/v1/webhooks/" + whA + "/deliveries/" + dlvA},
		{"POST", "/v1/webhooks/" + whA + "/deliveries/" + dlvA + "/replay"},
		// A's delivery through B's own webhook.
		{"GET", "/v1/webhooks/" + whB + "/deliveries/" + dlvA},
		{"POST", "/v1/webhooks/" + whB + "/deliveries/" + dlvA + "/replay"},
		// Naming A explicitly.
		{"GET", "/v1/webhooks?account_id=" + b.A.ID},
		{"GET", "/v1/webhooks/" + whA + "?account_id=" + b.A.ID},
		{"GET", "/v1/event-types?account_id=" + b.A.ID},
	} {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			st, env := b.do(t, r.method, r.path, b.B.Full, nil)
			wantError(t, st, env, http.StatusNotFound)
		})
	}
	// Publishing into A with B's key.
	for _, body := range []map[string]any{
		{"account_id": b.A.ID, "event_type": "generation.completed", "data": map[string]any{}},
	} {
		st, env := b.do(t, "POST", "/v1/events", b.B.Full, body)
		wantError(t, st, env, http.StatusNotFound)
		st, env = b.do(t, "POST", "/v1/events/batch", b.B.Full, map[string]any{"events": []any{body}})
		wantError(t, st, env, http.StatusNotFound)
		st, env = b.do(t, "POST", "/v1/events/batch", b.B.Full, map[string]any{"account_id": b.A.ID,
			"events": []any{map[string]any{"event_type": "generation.completed", "data": map[string]any{}}}})
		wantError(t, st, env, http.StatusNotFound)
	}
	if after := b.snapshot(t); after != before {
		t.Fatalf("B changed A's objects:\nbefore %s\nafter  %s", before, after)
	}

	// B's lists never show A's objects.
	st, env := b.do(t, "GET", "/v1/webhooks", b.B.Full, nil)
	if got := decodeAs[[]webhookJSON](t, ok(t, st, env, http.StatusOK)); len(got) != 1 || got[0].WebhookID != whB {
		t.Fatalf("B's list: %s", env.Raw)
	}
	for _, d := range b.deliveries(t, b.B.Full, whB, "") {
		if d.WebhookID != whB || d.DeliveryID == dlvA {
			t.Fatalf("B's deliveries show %+v", d)
		}
	}
	// Event ids are per account: B may use the id A used.
	if got := b.publish(t, b.B.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{}, "event_id": "shared-id"}); got.Deliveries != 1 {
		t.Fatalf("B's event with A's event_id: %+v", got)
	}
	// Own account named explicitly is fine.
	st, env = b.do(t, "GET", "/v1/webhooks/"+whB+"?account_id="+b.B.ID, b.B.Read, nil)
	ok(t, st, env, http.StatusOK)
}
