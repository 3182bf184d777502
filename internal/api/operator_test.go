package api_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

var accountIDRE = regexp.MustCompile(`^acc_[0-9abcdefghjkmnpqrstvwxyz]{26}$`)

type accountJSON struct {
	AccountID string `json:"account_id"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
}

type apiKeyJSON struct {
	APIKeyID  string   `json:"api_key_id"`
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	KeyPrefix string   `json:"key_prefix"`
	Key       string   `json:"key"`
	CreatedAt string   `json:"created_at"`
	RevokedAt *string  `json:"revoked_at"`
}

type eventTypeJSON struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Example     map[string]any `json:"example"`
	Deprecated  bool           `json:"deprecated"`
	Reserved    bool           `json:"reserved"`
}

// createAccount creates an account through the API.
func (b *bundle) createAccount(t *testing.T, name string) accountJSON {
	t.Helper()
	st, env := b.do(t, "POST", "/v1/accounts", b.Operator, map[string]any{"name": name})
	return decodeAs[accountJSON](t, ok(t, st, env, http.StatusCreated))
}

// operatorSnapshot renders what the operator's routes show, to prove a
// refused request changed nothing there either.
func (b *bundle) operatorSnapshot(t *testing.T) string {
	t.Helper()
	var sb strings.Builder
	st, env := b.do(t, "GET", "/v1/accounts?limit=250", b.Operator, nil)
	sb.Write(ok(t, st, env, http.StatusOK))
	for _, acc := range []string{b.A.ID, b.B.ID} {
		for _, what := range []string{"api-keys", "members"} {
			st, env := b.do(t, "GET", "/v1/accounts/"+acc+"/"+what+"?limit=250", b.Operator, nil)
			sb.Write(ok(t, st, env, http.StatusOK))
		}
	}
	return sb.String()
}

func TestOperatorRoutesNeedOperatorKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	n := 0
	for _, r := range b.API.Routes() {
		if r.Scope != "operator" {
			continue
		}
		n++
		method, path, _ := strings.Cut(r.Pattern, " ")
		path = strings.NewReplacer("{account_id}", b.A.ID, "{api_key_id}", "key_x", "{member_id}", "mem_x",
			"{name}", "generation.completed").Replace(path)
		var body any
		if method != "GET" && method != "DELETE" {
			body = map[string]any{}
		}
		// Even a key holding every scope, on its own account.
		st, env := b.do(t, method, path, b.A.Full, body)
		wantError(t, st, env, http.StatusForbidden, "operator key")
		st, env = b.do(t, method, path, "", body)
		wantError(t, st, env, http.StatusUnauthorized)
	}
	if n < 14 {
		t.Fatalf("%d operator routes, want at least 14", n)
	}
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st, env := b.do(t, "POST", "/v1/accounts", b.Operator, map[string]any{"name": "  Acme Studio "})
	data := ok(t, st, env, http.StatusCreated)
	if k := keys(t, data); !slices.Equal(k, sorted("account_id", "name", "created_at")) {
		t.Fatalf("create answered keys %v", k)
	}
	acme := decodeAs[accountJSON](t, data)
	if !accountIDRE.MatchString(acme.AccountID) || acme.Name != "Acme Studio" || !apiTimeRE.MatchString(acme.CreatedAt) {
		t.Fatalf("created %s", data)
	}
	st, env = b.do(t, "GET", "/v1/accounts/"+acme.AccountID, b.Operator, nil)
	if got := decodeAs[accountJSON](t, ok(t, st, env, http.StatusOK)); got != acme {
		t.Fatalf("GET = %+v, want %+v", got, acme)
	}
	labs := b.createAccount(t, "acme labs")
	zeta := b.createAccount(t, "Zeta")

	// Newest first, over pages, ending with the reserved operator account.
	var got []string
	path := "/v1/accounts?limit=2"
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		st, env := b.do(t, "GET", path, b.Operator, nil)
		for _, a := range decodeAs[[]accountJSON](t, ok(t, st, env, http.StatusOK)) {
			got = append(got, a.AccountID)
		}
		if env.NextCursor == nil {
			break
		}
		path = "/v1/accounts?limit=2&cursor=" + *env.NextCursor
	}
	want := []string{zeta.AccountID, labs.AccountID, acme.AccountID, b.B.ID, b.A.ID, webhook.OperatorAccountID}
	if !slices.Equal(got, want) {
		t.Fatalf("accounts %v, want %v", got, want)
	}
	st, env = b.do(t, "GET", "/v1/accounts/"+webhook.OperatorAccountID, b.Operator, nil)
	if op := decodeAs[accountJSON](t, ok(t, st, env, http.StatusOK)); op.Name != "operator" {
		t.Fatalf("operator account: %s", env.Raw)
	}
	for q, want := range map[string][]string{"acme": {labs.AccountID, acme.AccountID}, "ZETA": {zeta.AccountID}, "%25": nil} {
		st, env := b.do(t, "GET", "/v1/accounts?search="+q, b.Operator, nil)
		var ids []string
		for _, a := range decodeAs[[]accountJSON](t, ok(t, st, env, http.StatusOK)) {
			ids = append(ids, a.AccountID)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("search %q: %v, want %v", q, ids, want)
		}
	}

	st, env = b.do(t, "GET", "/v1/accounts/acc_missing", b.Operator, nil)
	wantError(t, st, env, http.StatusNotFound, "account")
	for _, c := range []struct {
		body  string
		words []string
	}{
		{`{}`, []string{"name", "required"}},
		{`{"name":""}`, []string{"name", "required"}},
		{`{"name":"   "}`, []string{"name", "required"}},
		{`{"name":5}`, []string{"name"}},
		{`{"name":"` + strings.Repeat("x", 201) + `"}`, []string{"name", "200"}},
		{`{"name":"a\u0000b"}`, []string{"name", "control"}},
		{`{"name":"a","id":"acc_x"}`, []string{"id", "unknown field"}},
	} {
		before := b.operatorSnapshot(t)
		st, env := b.do(t, "POST", "/v1/accounts", b.Operator, c.body)
		wantError(t, st, env, http.StatusBadRequest, c.words...)
		if after := b.operatorSnapshot(t); after != before {
			t.Fatalf("%s changed state", c.body)
		}
	}
	for _, q := range []string{"limit=0", "limit=251", "cursor=nope", "search=" + strings.Repeat("x", 201)} {
		st, env := b.do(t, "GET", "/v1/accounts?"+q, b.Operator, nil)
		wantError(t, st, env, http.StatusBadRequest, strings.Split(q, "=")[0])
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	base := "/v1/accounts/" + b.A.ID + "/api-keys"
	st, env := b.do(t, "POST", base, b.Operator, map[string]any{"name": "CI", "scopes": []string{"webhooks:read", "events:publish", "webhooks:read"}})
	data := ok(t, st, env, http.StatusCreated)
	if k := keys(t, data); !slices.Equal(k, sorted("api_key_id", "name", "scopes", "key_prefix", "key", "created_at")) {
		t.Fatalf("create answered keys %v", k)
	}
	created := decodeAs[apiKeyJSON](t, data)
	if !strings.HasPrefix(created.Key, "hrk_") || created.KeyPrefix != auth.DisplayPrefix(created.Key) || created.Name != "CI" ||
		!slices.Equal(created.Scopes, []string{"webhooks:read", "events:publish"}) || !apiTimeRE.MatchString(created.CreatedAt) {
		t.Fatalf("created %s", data)
	}
	// The key works, on its own account, with its scopes.
	st, env = b.do(t, "GET", "/v1/webhooks", created.Key, nil)
	ok(t, st, env, http.StatusOK)
	b.publish(t, created.Key, map[string]any{"event_type": "generation.completed", "data": map[string]any{}})
	st, env = b.do(t, "POST", "/v1/webhooks", created.Key, map[string]any{"url": "https://127.0.0.1/x", "events": []string{"*"}})
	wantError(t, st, env, http.StatusForbidden, "webhooks:manage")

	// Lists never show a key.
	st, env = b.do(t, "GET", base, b.Operator, nil)
	list := decodeAs[[]apiKeyJSON](t, ok(t, st, env, http.StatusOK))
	if strings.Contains(string(env.Raw), created.Key) || strings.Contains(string(env.Raw), `"key"`) {
		t.Fatalf("the list shows a key: %s", env.Raw)
	}
	if len(list) != 3 || list[0].APIKeyID != created.APIKeyID || list[0].RevokedAt != nil || list[0].KeyPrefix != created.KeyPrefix {
		t.Fatalf("list (newest first, with the setup's two keys): %s", env.Raw)
	}
	for _, raw := range decodeAs[[]map[string]any](t, ok(t, st, env, http.StatusOK)) {
		if k := keys(t, mustMarshal(t, raw)); !slices.Equal(k, sorted("api_key_id", "name", "scopes", "key_prefix", "created_at", "revoked_at")) {
			t.Fatalf("listed keys %v", k)
		}
	}
	st, env = b.do(t, "GET", base+"?limit=2", b.Operator, nil)
	if page := decodeAs[[]apiKeyJSON](t, ok(t, st, env, http.StatusOK)); len(page) != 2 || env.NextCursor == nil {
		t.Fatalf("page of 2: %s", env.Raw)
	}
	st, env = b.do(t, "GET", base+"?limit=2&cursor="+*env.NextCursor, b.Operator, nil)
	if page := decodeAs[[]apiKeyJSON](t, ok(t, st, env, http.StatusOK)); len(page) != 1 || env.NextCursor != nil {
		t.Fatalf("page 2: %s", env.Raw)
	}

	// Not found: another account's key, an unknown key, an unknown account.
	st, env = b.do(t, "DELETE", "/v1/accounts/"+b.B.ID+"/api-keys/"+created.APIKeyID, b.Operator, nil)
	wantError(t, st, env, http.StatusNotFound, "API key")
	st, env = b.do(t, "DELETE", base+"/key_missing", b.Operator, nil)
	wantError(t, st, env, http.StatusNotFound)
	for _, m := range []string{"GET", "POST"} {
		st, env = b.do(t, m, "/v1/accounts/acc_missing/api-keys", b.Operator, map[string]any{"name": "x", "scopes": []string{"webhooks:read"}})
		wantError(t, st, env, http.StatusNotFound, "account")
	}
	st, env = b.do(t, "GET", "/v1/webhooks", created.Key, nil)
	ok(t, st, env, http.StatusOK) // still valid

	// Revoked at once: the very next request with it is refused.
	st, env = b.do(t, "DELETE", base+"/"+created.APIKeyID, b.Operator, nil)
	revoked := decodeAs[apiKeyJSON](t, ok(t, st, env, http.StatusOK))
	if revoked.RevokedAt == nil || !apiTimeRE.MatchString(*revoked.RevokedAt) || revoked.Key != "" {
		t.Fatalf("revoke answered %s", env.Raw)
	}
	st, env = b.do(t, "GET", "/v1/webhooks", created.Key, nil)
	wantError(t, st, env, http.StatusUnauthorized, "revoked")
	st, env = b.do(t, "DELETE", base+"/"+created.APIKeyID, b.Operator, nil)
	if again := decodeAs[apiKeyJSON](t, ok(t, st, env, http.StatusOK)); *again.RevokedAt != *revoked.RevokedAt {
		t.Fatal("revoking again moved revoked_at")
	}
	st, env = b.do(t, "GET", base, b.Operator, nil)
	if l := decodeAs[[]apiKeyJSON](t, ok(t, st, env, http.StatusOK)); l[0].RevokedAt == nil || *l[0].RevokedAt != *revoked.RevokedAt {
		t.Fatalf("the list does not show the revocation: %s", env.Raw)
	}
	// Other keys of the account are untouched.
	st, env = b.do(t, "GET", "/v1/webhooks", b.A.Full, nil)
	ok(t, st, env, http.StatusOK)

	for _, c := range []struct {
		body  string
		words []string
	}{
		{`{"scopes":["webhooks:read"]}`, []string{"name", "required"}},
		{`{"name":"x"}`, []string{"scopes", "at least one"}},
		{`{"name":"x","scopes":[]}`, []string{"scopes", "at least one"}},
		{`{"name":"x","scopes":["admin"]}`, []string{"scopes", "admin"}},
		{`{"name":"x","scopes":"webhooks:read"}`, []string{"scopes"}},
		{`{"name":"x","scopes":["webhooks:read"],"account_id":"acc_x"}`, []string{"account_id", "unknown field"}},
		{`{"name":"` + strings.Repeat("x", 101) + `","scopes":["webhooks:read"]}`, []string{"name", "100"}},
	} {
		before := b.operatorSnapshot(t)
		st, env := b.do(t, "POST", base, b.Operator, c.body)
		wantError(t, st, env, http.StatusBadRequest, c.words...)
		if after := b.operatorSnapshot(t); after != before {
			t.Fatalf("%s changed state", c.body)
		}
	}
}

func TestEventTypeCatalog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	catalog := func() map[string]eventTypeJSON {
		st, env := b.do(t, "GET", "/v1/event-types", b.A.Read, nil)
		out := map[string]eventTypeJSON{}
		for _, et := range decodeAs[[]eventTypeJSON](t, ok(t, st, env, http.StatusOK)) {
			out[et.Name] = et
		}
		return out
	}
	st, env := b.do(t, "POST", "/v1/event-types", b.Operator, map[string]any{
		"name": "image.ready", "description": " An image is ready.\nWith a second line. ", "example": map[string]any{"image_id": "img_1"},
	})
	data := ok(t, st, env, http.StatusCreated)
	if k := keys(t, data); !slices.Equal(k, sorted("name", "description", "example", "deprecated", "reserved")) {
		t.Fatalf("create answered keys %v", k)
	}
	et := decodeAs[eventTypeJSON](t, data)
	if et.Name != "image.ready" || et.Description != "An image is ready.\nWith a second line." || et.Example["image_id"] != "img_1" || et.Deprecated || et.Reserved {
		t.Fatalf("created %s", data)
	}
	if got := catalog()["image.ready"]; got.Description != et.Description {
		t.Fatalf("the catalog shows %+v", got)
	}
	// Usable at once, by this process's cache: subscribe and publish.
	b.createWebhook(t, b.A.Full, "image.ready")
	b.publish(t, b.A.Full, map[string]any{"event_type": "image.ready", "data": map[string]any{}})

	st, env = b.do(t, "POST", "/v1/event-types", b.Operator, map[string]any{"name": "old.thing", "description": "Old.", "deprecated": true})
	if et := decodeAs[eventTypeJSON](t, ok(t, st, env, http.StatusCreated)); !et.Deprecated || et.Example != nil {
		t.Fatalf("created deprecated: %s", env.Raw)
	}
	st, env = b.do(t, "POST", "/v1/event-types", b.Operator, map[string]any{"name": "image.ready", "description": "again"})
	wantError(t, st, env, http.StatusConflict, "image.ready", "already exists")

	// PATCH: each field alone; null removes the example.
	patch := func(body any) eventTypeJSON {
		t.Helper()
		st, env := b.do(t, "PATCH", "/v1/event-types/image.ready", b.Operator, body)
		return decodeAs[eventTypeJSON](t, ok(t, st, env, http.StatusOK))
	}
	if got := patch(map[string]any{"description": "Ready."}); got.Description != "Ready." || got.Example["image_id"] != "img_1" {
		t.Fatalf("patch description: %+v", got)
	}
	if got := patch(map[string]any{"example": map[string]any{"n": 1}}); got.Example["n"] != float64(1) || got.Description != "Ready." {
		t.Fatalf("patch example: %+v", got)
	}
	if got := patch(`{"example":null}`); got.Example != nil {
		t.Fatalf("example null: %+v", got)
	}
	if got := catalog()["image.ready"]; got.Example != nil || got.Description != "Ready." {
		t.Fatalf("catalog after patches: %+v", got)
	}
	st, env = b.do(t, "PATCH", "/v1/event-types/no.such", b.Operator, map[string]any{"description": "x"})
	wantError(t, st, env, http.StatusNotFound, "event type")

	const post, patchPath = "/v1/event-types", "/v1/event-types/image.ready"
	for _, c := range []struct {
		method, path, body string
		want               int
		words              []string
	}{
		{"POST", post, `{"description":"d"}`, 400, []string{"name", "required"}},
		{"POST", post, `{"name":"Image.Ready","description":"d"}`, 400, []string{"name", "lower-case"}},
		{"POST", post, `{"name":"*","description":"d"}`, 400, []string{"name"}},
		{"POST", post, `{"name":"a.","description":"d"}`, 400, []string{"name", "separator"}},
		{"POST", post, `{"name":"webhook.test","description":"d"}`, 400, []string{"name", "reserved"}},
		{"POST", post, `{"name":"endpoint.disabled","description":"d"}`, 400, []string{"name", "reserved"}},
		{"POST", post, `{"name":"x.y"}`, 400, []string{"description", "required"}},
		{"POST", post, `{"name":"x.y","description":" "}`, 400, []string{"description", "required"}},
		{"POST", post, `{"name":"x.y","description":"` + strings.Repeat("d", 501) + `"}`, 400, []string{"description", "500"}},
		{"POST", post, `{"name":"x.y","description":"d","example":[1]}`, 400, []string{"example", "object"}},
		{"POST", post, `{"name":"x.y","description":"d","example":"{}"}`, 400, []string{"example", "object"}},
		{"POST", post, `{"name":"x.y","description":"d","deprecated":"yes"}`, 400, []string{"deprecated"}},
		{"POST", post, `{"name":"x.y","description":"d","reserved":true}`, 400, []string{"reserved", "unknown field"}},
		{"PATCH", patchPath, `{}`, 400, []string{"body", "nothing to change"}},
		{"PATCH", patchPath, `{"name":"other"}`, 400, []string{"name", "unknown field"}},
		{"PATCH", patchPath, `{"description":null}`, 400, []string{"description", "null"}},
		{"PATCH", patchPath, `{"description":""}`, 400, []string{"description", "required"}},
		{"PATCH", patchPath, `{"description":7}`, 400, []string{"description"}},
		{"PATCH", patchPath, `{"example":5}`, 400, []string{"example", "object"}},
		{"PATCH", patchPath, `{"deprecated":null}`, 400, []string{"deprecated", "null"}},
		{"PATCH", patchPath, `{"deprecated":1}`, 400, []string{"deprecated"}},
		{"PATCH", "/v1/event-types/webhook.test", `{"deprecated":true}`, 400, []string{"name", "reserved"}},
		{"PATCH", "/v1/event-types/delivery.failed", `{"description":"mine"}`, 400, []string{"name", "reserved"}},
	} {
		before := b.snapshot(t)
		st, env := b.do(t, c.method, c.path, b.Operator, c.body)
		wantError(t, st, env, c.want, c.words...)
		if after := b.snapshot(t); after != before {
			t.Fatalf("%s %s changed state:\nbefore %s\nafter  %s", c.method, c.body, before, after)
		}
	}
}

// TestDeprecatedType: a deprecated type takes no new subscriptions, while
// endpoints already subscribed keep receiving it.
func TestDeprecatedType(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st, env := b.do(t, "POST", "/v1/event-types", b.Operator, map[string]any{"name": "video.ready", "description": "A video is ready."})
	ok(t, st, env, http.StatusCreated)
	subscribed := b.createWebhook(t, b.A.Full, "video.ready", "generation.completed")
	st, env = b.do(t, "PATCH", "/v1/event-types/video.ready", b.Operator, map[string]any{"deprecated": true})
	if et := decodeAs[eventTypeJSON](t, ok(t, st, env, http.StatusOK)); !et.Deprecated {
		t.Fatalf("patch answered %s", env.Raw)
	}

	// New subscriptions are refused at once (this process's catalog cache
	// was invalidated).
	before := b.snapshot(t)
	st, env = b.do(t, "POST", "/v1/webhooks", b.A.Full, map[string]any{"url": "https://127.0.0.1/new", "events": []string{"video.ready"}})
	wantError(t, st, env, http.StatusBadRequest, "events[0]", "deprecated")
	if after := b.snapshot(t); after != before {
		t.Fatal("a refused subscription changed state")
	}
	// The existing subscriber still receives it: publishing is allowed.
	res := b.publish(t, b.A.Full, map[string]any{"event_type": "video.ready", "data": map[string]any{"video_id": "v1"}})
	if res.Deliveries != 1 {
		t.Fatalf("publish of a deprecated type made %d deliveries, want 1", res.Deliveries)
	}
	got := b.deliveries(t, b.A.Read, subscribed, "&event_type=video.ready")
	if len(got) != 1 || got[0].EventID != res.EventID || got[0].Status != "pending" {
		t.Fatalf("the subscriber's deliveries: %+v", got)
	}
	st, env = b.do(t, "GET", "/v1/webhooks/"+subscribed, b.A.Read, nil)
	if w := decodeAs[webhookJSON](t, ok(t, st, env, http.StatusOK)); !slices.Contains(w.Events, "video.ready") {
		t.Fatalf("the existing subscription was dropped: %+v", w.Events)
	}

	// Editing the subscriber keeps the deprecated type it already has, but
	// another endpoint cannot add it by PATCH either.
	st, env = b.do(t, "PATCH", "/v1/webhooks/"+subscribed, b.A.Full, map[string]any{"events": []string{"video.ready", "generation.failed"}})
	if w := decodeAs[webhookJSON](t, ok(t, st, env, http.StatusOK)); !slices.Equal(w.Events, []string{"video.ready", "generation.failed"}) {
		t.Fatalf("PATCH of a subscriber to a deprecated type: %s", env.Raw)
	}
	other := b.createWebhook(t, b.A.Full, "generation.completed")
	st, env = b.do(t, "PATCH", "/v1/webhooks/"+other, b.A.Full, map[string]any{"events": []string{"video.ready"}})
	wantError(t, st, env, http.StatusBadRequest, "deprecated")

	// Un-deprecating opens it again.
	st, env = b.do(t, "PATCH", "/v1/event-types/video.ready", b.Operator, map[string]any{"deprecated": false})
	ok(t, st, env, http.StatusOK)
	b.createWebhook(t, b.A.Full, "video.ready")
}
