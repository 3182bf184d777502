package api_test

import (
	"context"
	"database/sql"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/internal/webhook"
)

var (
	apiTimeRE   = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	webhookIDRE = regexp.MustCompile(`^wh_[0-9abcdefghjkmnpqrstvwxyz]{26}$`)
)

func TestCreateWebhook(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cases := []struct {
		name       string
		body       map[string]any
		wantEvents []string
		wantDesc   string
		wantStrict bool
	}{
		{"specific types", map[string]any{"url": "https://127.0.0.1/hooks", "events": []string{"generation.completed", "generation.failed"},
			"description": "Production"}, []string{"generation.completed", "generation.failed"}, "Production", false},
		{"wildcard and strict order", map[string]any{"url": "https://localhost/h", "events": []string{"*"}, "strict_order": true},
			[]string{"*"}, "", true},
		{"duplicates collapse", map[string]any{"url": "http://127.0.0.1:9000/x", "events": []string{"generation.failed", "generation.failed"},
			"description": nil}, []string{"generation.failed"}, "", false},
		{"500 characters of description", map[string]any{"url": "https://127.0.0.1/", "events": []string{"*"},
			"description": strings.Repeat("é", 500)}, []string{"*"}, strings.Repeat("é", 500), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, env := b.do(t, "POST", "/v1/webhooks", b.A.Full, c.body)
			data := ok(t, st, env, http.StatusCreated)
			if got := keys(t, data); !slices.Equal(got, sorted("webhook_id", "url", "events", "description", "secret", "is_active", "created_at")) {
				t.Fatalf("create answered keys %v", got)
			}
			w := decodeAs[webhookJSON](t, data)
			if !webhookIDRE.MatchString(w.WebhookID) || w.URL != c.body["url"] || !slices.Equal(w.Events, c.wantEvents) ||
				w.Description != c.wantDesc || !w.IsActive || !apiTimeRE.MatchString(w.CreatedAt) {
				t.Fatalf("create answered %s", data)
			}
			if !strings.HasPrefix(w.Secret, "whsec_") || len(w.Secret) != len("whsec_")+44 {
				t.Fatalf("secret %q is not whsec_ + base64 of 32 bytes", w.Secret)
			}

			st, env = b.do(t, "GET", "/v1/webhooks/"+w.WebhookID, b.A.Read, nil)
			got := ok(t, st, env, http.StatusOK)
			if k := keys(t, got); !slices.Equal(k, sorted("webhook_id", "url", "events", "description", "is_active", "created_at",
				"secret_prefix", "status", "disabled_reason", "disabled_at", "queued_count", "dropped_count", "success_rate_24h", "strict_order")) {
				t.Fatalf("GET answered keys %v", k)
			}
			if strings.Contains(string(env.Raw), w.Secret) || strings.Contains(string(env.Raw), w.Secret[6:]) {
				t.Fatal("GET shows the secret")
			}
			g := decodeAs[webhookJSON](t, got)
			want := webhookJSON{WebhookID: w.WebhookID, URL: w.URL, Events: c.wantEvents, Description: c.wantDesc, IsActive: true,
				CreatedAt: w.CreatedAt, SecretPrefix: w.Secret[:10] + "…", Status: "active", StrictOrder: c.wantStrict}
			if !equalJSON(t, g, want) {
				t.Fatalf("GET = %s\nwant %s", mustMarshal(t, g), mustMarshal(t, want))
			}

			// The list shows the same view.
			st, env = b.do(t, "GET", "/v1/webhooks", b.A.Read, nil)
			list := decodeAs[[]webhookJSON](t, ok(t, st, env, http.StatusOK))
			if i := slices.IndexFunc(list, func(x webhookJSON) bool { return x.WebhookID == w.WebhookID }); i < 0 || !equalJSON(t, list[i], want) {
				t.Fatalf("list does not show the webhook as GET does: %s", env.Raw)
			}
			if strings.Contains(string(env.Raw), `"secret"`) {
				t.Fatal("list shows a secret")
			}
		})
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	return string(mustMarshal(t, a)) == string(mustMarshal(t, b))
}

func TestListWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ids []string
	for i := range 5 {
		st, env := b.do(t, "POST", "/v1/webhooks", b.A.Full, map[string]any{
			"url": "https://127.0.0.1/n" + string(rune('a'+i)), "events": []string{"*"}, "description": "svc-" + string(rune('a'+i)),
		})
		ids = append(ids, decodeAs[webhookJSON](t, ok(t, st, env, http.StatusCreated)).WebhookID)
	}
	slices.Reverse(ids) // newest first

	var walked []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		st, env := b.do(t, "GET", "/v1/webhooks?limit=2&cursor="+cursor, b.A.Read, nil)
		for _, w := range decodeAs[[]webhookJSON](t, ok(t, st, env, http.StatusOK)) {
			walked = append(walked, w.WebhookID)
		}
		if !strings.Contains(string(env.Raw), `"next_cursor":`) {
			t.Fatalf("list without next_cursor: %s", env.Raw)
		}
		if env.NextCursor == nil {
			break
		}
		cursor = *env.NextCursor
	}
	if !slices.Equal(walked, ids) {
		t.Fatalf("walked %v, want %v", walked, ids)
	}

	st, env := b.do(t, "GET", "/v1/webhooks?search=svc-c", b.A.Read, nil)
	if got := decodeAs[[]webhookJSON](t, ok(t, st, env, http.StatusOK)); len(got) != 1 || got[0].Description != "svc-c" {
		t.Fatalf("search svc-c: %s", env.Raw)
	}
	st, env = b.do(t, "GET", "/v1/webhooks?search=%25", b.A.Read, nil)
	if got := decodeAs[[]webhookJSON](t, ok(t, st, env, http.StatusOK)); len(got) != 0 {
		t.Fatalf("search %% matched literally nothing, got %s", env.Raw)
	}
	// An empty list is [], not null.
	st, env = b.do(t, "GET", "/v1/webhooks", b.B.Read, nil)
	if data := ok(t, st, env, http.StatusOK); string(data) != "[]" || env.NextCursor != nil {
		t.Fatalf("empty list: %s", env.Raw)
	}
}

func TestDeleteWebhook(t *testing.T) {
	t.Parallel()
	b := setup(t)
	doomed := b.createWebhook(t, b.A.Full, "generation.completed")
	kept := b.createWebhook(t, b.A.Full, "generation.failed")
	if got := b.publish(t, b.A.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{}}); got.Deliveries != 1 {
		t.Fatalf("deliveries = %d", got.Deliveries)
	}
	dlv := b.deliveries(t, b.A.Read, doomed, "")
	if len(dlv) != 1 || dlv[0].Status != "pending" {
		t.Fatalf("before delete: %+v", dlv)
	}

	st, env := b.do(t, "DELETE", "/v1/webhooks/"+doomed, b.A.Full, nil)
	if got := decodeAs[map[string]any](t, ok(t, st, env, http.StatusOK)); len(got) != 2 || got["webhook_id"] != doomed || got["deleted"] != true {
		t.Fatalf("delete answered %s", env.Data)
	}
	for _, path := range []string{"/v1/webhooks/" + doomed, "/v1/webhooks/" + doomed + "/deliveries",
		"/v1/webhooks/" + doomed + "/deliveries/" + dlv[0].DeliveryID} {
		st, env := b.do(t, "GET", path, b.A.Full, nil)
		wantError(t, st, env, http.StatusNotFound)
	}
	for _, path := range []string{"/v1/webhooks/" + doomed + "/test", "/v1/webhooks/" + doomed + "/deliveries/" + dlv[0].DeliveryID + "/replay"} {
		st, env := b.do(t, "POST", path, b.A.Full, nil)
		wantError(t, st, env, http.StatusNotFound)
	}
	st, env = b.do(t, "DELETE", "/v1/webhooks/"+doomed, b.A.Full, nil)
	wantError(t, st, env, http.StatusNotFound)

	st, env = b.do(t, "GET", "/v1/webhooks", b.A.Full, nil)
	list := decodeAs[[]webhookJSON](t, ok(t, st, env, http.StatusOK))
	if len(list) != 1 || list[0].WebhookID != kept {
		t.Fatalf("list after delete: %s", env.Raw)
	}
	// No new deliveries for it.
	if got := b.publish(t, b.A.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{}}); got.Deliveries != 0 {
		t.Fatalf("a deleted webhook still receives events: deliveries = %d", got.Deliveries)
	}

	// Its pending delivery was cancelled, with the reason, and kept in the
	// log. The API hides a deleted webhook's log, so look in the database.
	db, err := sql.Open("sqlite", "file:"+b.DBPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var status, reason string
	if err := db.QueryRowContext(context.Background(), `SELECT status, last_error FROM deliveries WHERE id = ?`, dlv[0].DeliveryID).
		Scan(&status, &reason); err != nil {
		t.Fatal(err)
	}
	if status != string(webhook.StatusDropped) || reason == "" {
		t.Fatalf("delivery of a deleted webhook: status %q reason %q, want dropped with a reason", status, reason)
	}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cases := []struct {
		method, path string
		want         int
	}{
		{"GET", "/v1/nope", http.StatusNotFound},
		{"GET", "/", http.StatusNotFound},
		{"GET", "/v1/webhooks/wh_x/nope", http.StatusNotFound},
		{"PUT", "/v1/webhooks", http.StatusMethodNotAllowed},
		{"POST", "/v1/webhooks/wh_x", http.StatusMethodNotAllowed},
		{"DELETE", "/v1/events", http.StatusMethodNotAllowed},
		{"POST", "/healthz", http.StatusMethodNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			t.Parallel()
			st, env := b.do(t, c.method, c.path, b.A.Full, nil)
			wantError(t, st, env, c.want)
			if c.want == http.StatusMethodNotAllowed && env.Header.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		st, env := b.do(t, "GET", path, "", nil)
		ok(t, st, env, http.StatusOK)
	}
}

func TestEventTypes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, publishOnly := b.newKey(t, b.A.ID, "events:publish")
	type eventType struct {
		Name     string `json:"name"`
		Reserved bool   `json:"reserved"`
	}
	for _, key := range []string{b.A.Full, b.A.Read, publishOnly, b.Operator} {
		st, env := b.do(t, "GET", "/v1/event-types", key, nil)
		data := ok(t, st, env, http.StatusOK)
		if env.NextCursor != nil {
			t.Fatalf("next_cursor on the whole catalog: %s", env.Raw)
		}
		got := map[string]bool{}
		for _, raw := range decodeAs[[]map[string]any](t, data) {
			if k := keys(t, mustMarshal(t, raw)); !slices.Equal(k, sorted("name", "description", "example", "deprecated", "reserved")) {
				t.Fatalf("event type keys %v", k)
			}
			et := decodeAs[eventType](t, mustMarshal(t, raw))
			got[et.Name] = et.Reserved
		}
		want := map[string]bool{"webhook.test": true, "endpoint.disabled": true, "endpoint.enabled": true, "delivery.failed": true,
			"generation.completed": false, "generation.failed": false}
		for name, reserved := range want {
			if r, ok := got[name]; !ok || r != reserved {
				t.Fatalf("catalog %v: %s should be there with reserved=%v", got, name, reserved)
			}
		}
	}
	st, env := b.do(t, "GET", "/v1/event-types", "", nil)
	wantError(t, st, env, http.StatusUnauthorized)
}
