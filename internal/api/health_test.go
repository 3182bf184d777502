package api_test

import (
	"net/http"
	"slices"
	"testing"
)

func TestDisableQueueEnableDeliver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wh := b.createWebhook(t, b.A.Full, "*")
	get := func() webhookJSON {
		st, env := b.do(t, "GET", "/v1/webhooks/"+wh, b.A.Read, nil)
		return decodeAs[webhookJSON](t, ok(t, st, env, http.StatusOK))
	}

	st, env := b.do(t, "POST", "/v1/webhooks/"+wh+"/disable", b.A.Full, nil)
	w := decodeAs[webhookJSON](t, ok(t, st, env, http.StatusOK))
	if w.Status != "disabled" || w.IsActive || w.DisabledReason == nil || *w.DisabledReason != "disabled by an owner" || w.DisabledAt == nil {
		t.Fatalf("after disable: %s", env.Raw)
	}
	// Idempotent: disabling again changes nothing (same time, same reason).
	st, env = b.do(t, "POST", "/v1/webhooks/"+wh+"/disable", b.A.Full, nil)
	if again := decodeAs[webhookJSON](t, ok(t, st, env, http.StatusOK)); *again.DisabledAt != *w.DisabledAt {
		t.Fatal("a second disable moved disabled_at")
	}

	var published []string
	for range 3 {
		published = append(published, b.publish(t, b.A.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{}}).EventID)
	}
	if w := get(); w.QueuedCount != 3 {
		t.Fatalf("queued_count = %d, want 3", w.QueuedCount)
	}
	st, env = b.do(t, "GET", "/v1/webhooks/"+wh+"/queued?limit=2", b.A.Read, nil)
	page1 := decodeAs[[]deliveryJSON](t, ok(t, st, env, http.StatusOK))
	if len(page1) != 2 || env.NextCursor == nil {
		t.Fatalf("queued page 1: %s", env.Raw)
	}
	st, env = b.do(t, "GET", "/v1/webhooks/"+wh+"/queued?limit=2&cursor="+*env.NextCursor, b.A.Read, nil)
	page2 := decodeAs[[]deliveryJSON](t, ok(t, st, env, http.StatusOK))
	var order []string
	for _, d := range append(page1, page2...) {
		if d.Status != "queued" || d.AttemptCount != 0 {
			t.Fatalf("queued delivery: %+v", d)
		}
		order = append(order, d.EventID)
	}
	if !slices.Equal(order, published) {
		t.Fatalf("queued list %v, want oldest first %v", order, published)
	}
	queuedIDs := []string{page1[0].DeliveryID, page1[1].DeliveryID, page2[0].DeliveryID}

	// Nothing is sent to a disabled endpoint, by any route.
	st, env = b.do(t, "POST", "/v1/webhooks/"+wh+"/queued/deliver", b.A.Full, nil)
	wantError(t, st, env, http.StatusConflict, "disabled")
	st, env = b.do(t, "POST", "/v1/webhooks/"+wh+"/test", b.A.Full, nil)
	wantError(t, st, env, http.StatusConflict, "disabled")
	st, env = b.do(t, "POST", "/v1/webhooks/"+wh+"/deliveries/"+queuedIDs[0]+"/replay", b.A.Full, nil)
	wantError(t, st, env, http.StatusConflict, "disabled")

	st, env = b.do(t, "POST", "/v1/webhooks/"+wh+"/enable", b.A.Full, nil)
	w = decodeAs[webhookJSON](t, ok(t, st, env, http.StatusOK))
	if w.Status != "active" || w.DisabledReason != nil || w.DisabledAt != nil || w.QueuedCount != 3 {
		t.Fatalf("after enable (the queue stays until delivered): %s", env.Raw)
	}
	st, env = b.do(t, "POST", "/v1/webhooks/"+wh+"/queued/deliver", b.A.Full, nil)
	if got := decodeAs[map[string]int](t, ok(t, st, env, http.StatusAccepted)); got["count"] != 3 {
		t.Fatalf("deliver queued: %s", env.Raw)
	}
	if w := get(); w.QueuedCount != 0 {
		t.Fatalf("queued_count after delivering = %d", w.QueuedCount)
	}
	for _, d := range b.deliveries(t, b.A.Read, wh, "") {
		if d.Status != "pending" || !slices.Contains(queuedIDs, d.DeliveryID) {
			t.Fatalf("after deliver: %+v (ids must be the original ones)", d)
		}
	}
	st, env = b.do(t, "POST", "/v1/webhooks/"+wh+"/queued/deliver", b.A.Full, nil)
	if got := decodeAs[map[string]int](t, ok(t, st, env, http.StatusAccepted)); got["count"] != 0 {
		t.Fatalf("second deliver: %s", env.Raw)
	}
}

func TestHealthRoutesScopesAndTenants(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wh := b.createWebhook(t, b.A.Full, "*")
	for _, r := range []struct{ method, path string }{
		{"POST", "/v1/webhooks/" + wh + "/disable"},
		{"POST", "/v1/webhooks/" + wh + "/enable"},
		{"POST", "/v1/webhooks/" + wh + "/queued/deliver"},
	} {
		st, env := b.do(t, r.method, r.path, b.A.Read, nil)
		wantError(t, st, env, http.StatusForbidden, "webhooks:manage")
		st, env = b.do(t, r.method, r.path, b.B.Full, nil)
		wantError(t, st, env, http.StatusNotFound)
	}
	st, env := b.do(t, "GET", "/v1/webhooks/"+wh+"/queued", b.B.Full, nil)
	wantError(t, st, env, http.StatusNotFound)
	st, env = b.do(t, "GET", "/v1/webhooks/"+wh, b.A.Read, nil)
	if w := decodeAs[webhookJSON](t, ok(t, st, env, http.StatusOK)); w.Status != "active" {
		t.Fatal("another account's or a read-only key's request disabled the endpoint")
	}
}
