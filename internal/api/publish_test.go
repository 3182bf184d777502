package api_test

import (
	"bytes"
	"github.com/hookrelay/hookrelay/internal/store/storetest"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestPublish(t *testing.T) { storetest.OnBothDrivers(t, testPublish) }

func testPublish(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createWebhook(t, b.A.Full, "generation.completed")
	all := b.createWebhook(t, b.A.Full, "*")
	b.createWebhook(t, b.A.Full, "generation.failed", "generation.completed")
	b.createWebhook(t, b.B.Full, "*") // another account's: never counted

	cases := []struct {
		typ  string
		want int
	}{
		{"generation.completed", 3},
		{"generation.failed", 2},
	}
	for _, c := range cases {
		t.Run(c.typ, func(t *testing.T) {
			st, env := b.do(t, "POST", "/v1/events", b.A.Full, map[string]any{"event_type": c.typ, "data": map[string]any{"n": 1}})
			data := ok(t, st, env, http.StatusAccepted)
			if k := keys(t, data); !slices.Equal(k, []string{"deliveries", "event_id"}) {
				t.Fatalf("publish answered keys %v", k)
			}
			got := decodeAs[publishJSON](t, data)
			if !strings.HasPrefix(got.EventID, "evt_") || got.Deliveries != c.want {
				t.Fatalf("publish %s: %s, want %d deliveries", c.typ, data, c.want)
			}
		})
	}

	t.Run("repeated event_id", func(t *testing.T) {
		n := len(b.deliveries(t, b.A.Read, all, ""))
		body := map[string]any{"event_type": "generation.completed", "data": map[string]any{"v": 1}, "event_id": "gen_42.completed", "subject_id": "gen_42"}
		st, env := b.do(t, "POST", "/v1/events", b.A.Full, body)
		first := env.Raw
		if got := decodeAs[publishJSON](t, ok(t, st, env, http.StatusAccepted)); got.EventID != "gen_42.completed" || got.Deliveries != 3 {
			t.Fatalf("first publish: %s", first)
		}
		for _, again := range []map[string]any{
			body,
			{"event_type": "generation.failed", "data": map[string]any{"v": 2}, "event_id": "gen_42.completed"},
		} {
			st, env := b.do(t, "POST", "/v1/events", b.A.Full, again)
			ok(t, st, env, http.StatusAccepted)
			if !bytes.Equal(env.Raw, first) {
				t.Fatalf("repeat answered %s, first %s", env.Raw, first)
			}
		}
		if got := len(b.deliveries(t, b.A.Read, all, "")); got != n+1 {
			t.Fatalf("deliveries of the * webhook: %d, want %d", got, n+1)
		}
	})

	t.Run("batch", func(t *testing.T) {
		n := len(b.deliveries(t, b.A.Read, all, ""))
		st, env := b.do(t, "POST", "/v1/events/batch", b.A.Full, map[string]any{"events": []any{
			map[string]any{"event_type": "generation.failed", "data": map[string]any{}, "event_id": "b-1"},
			map[string]any{"event_type": "generation.completed", "data": map[string]any{}, "event_id": "gen_42.completed"},
			map[string]any{"event_type": "generation.completed", "data": map[string]any{}, "subject_id": "gen 7"},
			map[string]any{"event_type": "generation.failed", "data": map[string]any{}, "event_id": "b-1"},
		}})
		got := decodeAs[[]map[string]any](t, ok(t, st, env, http.StatusAccepted))
		if len(got) != 4 {
			t.Fatalf("batch answered %s", env.Raw)
		}
		for _, item := range got {
			if k := keys(t, mustMarshal(t, item)); !slices.Equal(k, []string{"deliveries", "duplicate", "event_id"}) {
				t.Fatalf("batch item keys %v", k)
			}
		}
		items := decodeAs[[]publishJSON](t, env.Data)
		want := []publishJSON{{"b-1", 2, false}, {"gen_42.completed", 3, true}, {items[2].EventID, 3, false}, {"b-1", 2, true}}
		if !slices.Equal(items, want) || !strings.HasPrefix(items[2].EventID, "evt_") {
			t.Fatalf("batch = %+v\nwant    %+v", items, want)
		}
		if got := len(b.deliveries(t, b.A.Read, all, "")); got != n+2 {
			t.Fatalf("deliveries of the * webhook: %d, want %d", got, n+2)
		}
	})
}
