package api_test

import (
	"encoding/json"
	"github.com/hookrelay/hookrelay/internal/store/storetest"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/clock"
)

var t0 = time.Date(2026, 5, 12, 12, 0, 0, 0, time.UTC)

func ts(d time.Duration) string { return t0.Add(d).Format("2006-01-02T15:04:05.000Z") }

var deliveryKeys = sorted("delivery_id", "webhook_id", "event_id", "event_type", "subject_id", "status", "attempt_count",
	"last_status_code", "last_error", "next_attempt_at", "created_at")

func TestDeliveries(t *testing.T) { storetest.OnBothDrivers(t, testDeliveries) }

func testDeliveries(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	b := setupWith(t, options{clock: clk})
	wh := b.createWebhook(t, b.A.Full, "*")
	narrow := b.createWebhook(t, b.A.Full, "generation.completed")

	// Seven events, one a minute.
	published := []struct{ typ, subject string }{
		{"generation.completed", "gen_1"}, {"generation.failed", "gen_1"}, {"generation.completed", "gen_2"},
		{"generation.completed", ""}, {"generation.failed", "gen_2"}, {"generation.completed", "gen_3"}, {"generation.failed", ""},
	}
	firstData := `{ "i": 0, "html": "<b>&amp;</b> & <script>", "u": "é` + "\u2028" + `" }`
	firstCompact := `{"i":0,"html":"<b>&amp;</b> & <script>","u":"é` + "\u2028" + `"}`
	var events []string
	for i, p := range published {
		body := `{"event_type":"` + p.typ + `","data":{"i":` + string(rune('0'+i)) + `}`
		if i == 0 {
			body = `{"event_type":"` + p.typ + `","data":` + firstData
		}
		if p.subject != "" {
			body += `,"subject_id":"` + p.subject + `"`
		}
		st, env := b.do(t, "POST", "/v1/events", b.A.Full, body+"}")
		events = append(events, decodeAs[publishJSON](t, ok(t, st, env, http.StatusAccepted)).EventID)
		clk.Advance(time.Minute)
	}

	// The whole list: newest first, every field.
	st, env := b.do(t, "GET", "/v1/webhooks/"+wh+"/deliveries", b.A.Read, nil)
	data := ok(t, st, env, http.StatusOK)
	if env.NextCursor != nil {
		t.Fatalf("one page should end the list: %s", env.Raw)
	}
	for _, raw := range decodeAs[[]json.RawMessage](t, data) {
		if k := keys(t, raw); !slices.Equal(k, deliveryKeys) {
			t.Fatalf("delivery keys %v, want %v", k, deliveryKeys)
		}
	}
	list := decodeAs[[]deliveryJSON](t, data)
	if len(list) != len(published) {
		t.Fatalf("%d deliveries, want %d", len(list), len(published))
	}
	byEvent := map[string]deliveryJSON{}
	for n, d := range list {
		i := len(published) - 1 - n
		p := published[i]
		at := ts(time.Duration(i) * time.Minute)
		if !strings.HasPrefix(d.DeliveryID, "dlv_") || d.WebhookID != wh || d.EventID != events[i] || d.EventType != p.typ ||
			d.Status != "pending" || d.AttemptCount != 0 || d.LastStatusCode != nil || d.LastError != nil ||
			d.CreatedAt != at || d.NextAttemptAt == nil || *d.NextAttemptAt != at {
			t.Fatalf("delivery %d (event %d) = %s", n, i, mustMarshal(t, d))
		}
		if (p.subject == "") != (d.SubjectID == nil) || (d.SubjectID != nil && *d.SubjectID != p.subject) {
			t.Fatalf("delivery of event %d: subject_id %v, want %q", i, d.SubjectID, p.subject)
		}
		byEvent[d.EventID] = d
	}
	ids := func(ds []deliveryJSON) []string {
		var out []string
		for _, d := range ds {
			for i, e := range events {
				if d.EventID == e {
					out = append(out, string(rune('0'+i)))
				}
			}
		}
		return out
	}

	t.Run("filters", func(t *testing.T) {
		q := url.QueryEscape
		cases := []struct {
			query string
			want  string // event indexes, newest first
		}{
			{"&event_type=generation.failed", "641"},
			{"&event_type=generation.completed", "5320"},
			{"&event_type=webhook.test", ""},
			{"&status=pending", "6543210"},
			{"&status=delivered", ""},
			{"&status=dropped", ""},
			{"&subject_id=gen_2", "42"},
			{"&subject_id=gen_9", ""},
			{"&since=" + ts(2*time.Minute), "65432"},
			{"&until=" + ts(2*time.Minute), "10"},
			{"&since=" + ts(time.Minute) + "&until=" + ts(3*time.Minute), "21"},
			{"&since=" + q("2026-05-12T14:02:00+02:00"), "65432"},
			{"&since=" + q("2026-05-12T12:02:00.000000001Z"), "6543"},
			{"&event_type=generation.completed&subject_id=gen_2", "2"},
			{"&event_type=generation.completed&since=" + ts(3*time.Minute), "53"},
		}
		for _, c := range cases {
			t.Run(c.query, func(t *testing.T) {
				if got := strings.Join(ids(b.deliveries(t, b.A.Read, wh, c.query)), ""); got != c.want {
					t.Fatalf("got events %q, want %q", got, c.want)
				}
			})
		}
	})

	t.Run("pagination", func(t *testing.T) {
		for _, c := range []struct {
			query string
			want  string
			pages int
		}{
			{"", "6543210", 4},
			{"&event_type=generation.completed", "5320", 2},
			{"&limit=7", "6543210", 1},
			{"&limit=1&event_type=generation.failed", "641", 3},
		} {
			limit := "limit=2"
			if strings.Contains(c.query, "limit=") {
				limit = ""
			}
			var walked []deliveryJSON
			cursor := ""
			pages := 0
			for ; pages <= 10; pages++ {
				st, env := b.do(t, "GET", "/v1/webhooks/"+wh+"/deliveries?"+limit+c.query+"&cursor="+cursor, b.A.Read, nil)
				walked = append(walked, decodeAs[[]deliveryJSON](t, ok(t, st, env, http.StatusOK))...)
				if !strings.Contains(string(env.Raw), `"next_cursor":`) {
					t.Fatalf("no next_cursor key: %s", env.Raw)
				}
				if env.NextCursor == nil {
					break
				}
				cursor = url.QueryEscape(*env.NextCursor)
			}
			if got := strings.Join(ids(walked), ""); got != c.want || pages+1 != c.pages {
				t.Fatalf("%s: walked %q in %d pages, want %q in %d", c.query, got, pages+1, c.want, c.pages)
			}
		}
	})

	first := byEvent[events[0]]
	wantPayload := `{"webhook_event":"generation.completed","webhook_timestamp":"` + ts(0) + `","webhook_delivery_id":"` +
		first.DeliveryID + `","webhook_data":` + firstCompact + `}`

	t.Run("one with payload and attempts", func(t *testing.T) {
		st, env := b.do(t, "GET", "/v1/webhooks/"+wh+"/deliveries/"+first.DeliveryID, b.A.Read, nil)
		data := ok(t, st, env, http.StatusOK)
		if k := keys(t, data); !slices.Equal(k, sorted(append(slices.Clone(deliveryKeys), "payload", "attempts")...)) {
			t.Fatalf("GET delivery keys %v", k)
		}
		raw := decodeAs[map[string]json.RawMessage](t, data)
		if string(raw["payload"]) != wantPayload {
			t.Fatalf("payload\n%s\nwant the exact body sent\n%s", raw["payload"], wantPayload)
		}
		if string(raw["attempts"]) != "[]" {
			t.Fatalf("attempts = %s, want []", raw["attempts"])
		}
		one := decodeAs[deliveryJSON](t, data)
		one.Payload, one.Attempts = nil, nil
		if !equalJSON(t, one, first) {
			t.Fatalf("GET one %s differs from the list's %s", mustMarshal(t, one), mustMarshal(t, first))
		}
		// Through another webhook of the same account: 404.
		st, env = b.do(t, "GET", "/v1/webhooks/"+narrow+"/deliveries/"+first.DeliveryID, b.A.Read, nil)
		wantError(t, st, env, http.StatusNotFound)
		st, env = b.do(t, "GET", "/v1/webhooks/"+wh+"/deliveries/dlv_nope", b.A.Read, nil)
		wantError(t, st, env, http.StatusNotFound)
	})

	t.Run("replay", func(t *testing.T) {
		clk.Advance(time.Hour)
		st, env := b.do(t, "POST", "/v1/webhooks/"+wh+"/deliveries/"+first.DeliveryID+"/replay", b.A.Full, nil)
		d := decodeAs[deliveryJSON](t, ok(t, st, env, http.StatusAccepted))
		now := clk.Now().Format("2006-01-02T15:04:05.000Z")
		if d.DeliveryID != first.DeliveryID || d.EventID != first.EventID || d.Status != "pending" || d.NextAttemptAt == nil || *d.NextAttemptAt != now {
			t.Fatalf("replay answered %s", env.Data)
		}
		// The body is unchanged: same id, same timestamp (the publish time).
		st, env = b.do(t, "GET", "/v1/webhooks/"+wh+"/deliveries/"+first.DeliveryID, b.A.Read, nil)
		if got := decodeAs[map[string]json.RawMessage](t, ok(t, st, env, http.StatusOK))["payload"]; string(got) != wantPayload {
			t.Fatalf("payload after replay %s", got)
		}
		st, env = b.do(t, "POST", "/v1/webhooks/"+narrow+"/deliveries/"+first.DeliveryID+"/replay", b.A.Full, nil)
		wantError(t, st, env, http.StatusNotFound)
	})

	t.Run("test event", func(t *testing.T) {
		before := len(b.deliveries(t, b.A.Read, wh, ""))
		st, env := b.do(t, "POST", "/v1/webhooks/"+narrow+"/test", b.A.Full, nil)
		data := ok(t, st, env, http.StatusAccepted)
		if k := keys(t, data); !slices.Equal(k, deliveryKeys) {
			t.Fatalf("test answered keys %v", k)
		}
		d := decodeAs[deliveryJSON](t, data)
		if !strings.HasPrefix(d.DeliveryID, "dlv_") || !strings.HasPrefix(d.EventID, "evt_") || d.WebhookID != narrow ||
			d.EventType != "webhook.test" || d.Status != "pending" {
			t.Fatalf("test answered %s", data)
		}
		list := b.deliveries(t, b.A.Read, narrow, "")
		if len(list) == 0 || list[0].DeliveryID != d.DeliveryID {
			t.Fatalf("the test delivery is not the newest of its webhook: %+v", list)
		}
		st, env = b.do(t, "GET", "/v1/webhooks/"+narrow+"/deliveries/"+d.DeliveryID, b.A.Read, nil)
		type payloadJSON struct {
			Event      string         `json:"webhook_event"`
			DeliveryID string         `json:"webhook_delivery_id"`
			Data       map[string]any `json:"webhook_data"`
		}
		raw := decodeAs[map[string]json.RawMessage](t, ok(t, st, env, http.StatusOK))["payload"]
		payload := decodeAs[payloadJSON](t, raw)
		if payload.Event != "webhook.test" || payload.DeliveryID != d.DeliveryID || payload.Data == nil {
			t.Fatalf("test payload %s", raw)
		}
		// Only that webhook got it.
		if got := len(b.deliveries(t, b.A.Read, wh, "")); got != before {
			t.Fatalf("the * webhook got the test event too")
		}
	})

	t.Run("empty list", func(t *testing.T) {
		other := b.createWebhook(t, b.A.Full, "generation.failed")
		st, env := b.do(t, "GET", "/v1/webhooks/"+other+"/deliveries", b.A.Read, nil)
		if data := ok(t, st, env, http.StatusOK); string(data) != "[]" || env.NextCursor != nil {
			t.Fatalf("empty deliveries: %s", env.Raw)
		}
	})
}
