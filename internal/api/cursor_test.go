package api_test

import (
	"encoding/base64"
	"github.com/hookrelay/hookrelay/internal/store/storetest"
	"net/http"
	"regexp"
	"slices"
	"testing"
)

// TestCursorsAreOpaqueAndBound: a cursor says nothing about other tenants'
// activity (it is not a readable position) and works only on the list and
// account it came from; anywhere else it is a 400 naming the cursor.
func TestCursorsAreOpaqueAndBound(t *testing.T) {
	storetest.OnBothDrivers(t, testCursorsAreOpaqueAndBound)
}

func testCursorsAreOpaqueAndBound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var created []string
	for range 3 {
		created = append(created, b.createWebhook(t, b.A.Full, "*"))
	}
	b.createWebhook(t, b.B.Full, "*")
	whA := created[0]
	for range 3 {
		b.publish(t, b.A.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{}})
	}

	first := func(path, key string) string {
		t.Helper()
		st, env := b.do(t, "GET", path, key, nil)
		ok(t, st, env, http.StatusOK)
		if env.NextCursor == nil {
			t.Fatalf("%s: no next_cursor: %s", path, env.Raw)
		}
		return *env.NextCursor
	}
	cursor := first("/v1/webhooks?limit=1", b.A.Read)
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatalf("cursor %q is not URL-safe base64: %v", cursor, err)
	}
	if regexp.MustCompile(`^s[0-9]+$`).Match(raw) || len(raw) < 40 {
		t.Fatalf("cursor %q decodes to %q: a readable position", cursor, raw)
	}
	if again := first("/v1/webhooks?limit=1", b.A.Read); again == cursor {
		t.Fatal("the same page gave the same cursor twice: it is a function of the position alone")
	}

	// Paging with it walks the whole list, each item once.
	var seen []string
	next := ""
	for {
		st, env := b.do(t, "GET", "/v1/webhooks?limit=1&cursor="+next, b.A.Read, nil)
		for _, w := range decodeAs[[]webhookJSON](t, ok(t, st, env, http.StatusOK)) {
			seen = append(seen, w.WebhookID)
		}
		if env.NextCursor == nil {
			break
		}
		next = *env.NextCursor
	}
	slices.Sort(seen)
	slices.Sort(created)
	if !slices.Equal(seen, created) {
		t.Fatalf("paged %v, want %v", seen, created)
	}
	// The operator reading A's list is on the same list.
	st, env := b.do(t, "GET", "/v1/webhooks?limit=1&account_id="+b.A.ID+"&cursor="+cursor, b.Operator, nil)
	ok(t, st, env, http.StatusOK)

	dlvCursor := first("/v1/webhooks/"+whA+"/deliveries?limit=1", b.A.Read)
	tampered := []byte(cursor)
	tampered[len(tampered)/2] ^= 1
	for _, c := range []struct{ name, path, key string }{
		{"another list", "/v1/events?cursor=" + cursor, b.A.Read},
		{"another account", "/v1/webhooks?cursor=" + cursor, b.B.Read},
		{"another account, named by the operator", "/v1/webhooks?account_id=" + b.B.ID + "&cursor=" + cursor, b.Operator},
		{"another webhook's deliveries", "/v1/webhooks/" + created[1] + "/deliveries?cursor=" + dlvCursor, b.A.Read},
		{"the queued list of the same webhook", "/v1/webhooks/" + whA + "/queued?cursor=" + dlvCursor, b.A.Read},
		{"an operator list", "/v1/accounts?cursor=" + cursor, b.Operator},
		{"tampered", "/v1/webhooks?cursor=" + string(tampered), b.A.Read},
		{"a bare position (the old format)", "/v1/webhooks?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("s1")), b.A.Read},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, env := b.do(t, "GET", c.path, c.key, nil)
			wantError(t, st, env, http.StatusBadRequest, "cursor")
		})
	}
}
