package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// fuzzOutcome checks what every answer to a fuzzed request must satisfy:
// never a 5xx, always the envelope, and a refusal changes nothing.
func fuzzOutcome(t *testing.T, st int, env envelope, before string, after func() string) {
	t.Helper()
	if st >= 500 {
		t.Fatalf("status %d: %s", st, env.Raw)
	}
	if !json.Valid(env.Raw) {
		t.Fatalf("answer is not JSON: %q", env.Raw)
	}
	if st >= 400 {
		if env.Success || env.Error == nil || env.Error.Code == "" || env.Error.Message == "" {
			t.Fatalf("a %d without the error envelope: %s", st, env.Raw)
		}
		if before != after() {
			t.Fatalf("a refused request (%d) changed state", st)
		}
	} else if !env.Success {
		t.Fatalf("a %d without success: %s", st, env.Raw)
	}
}

// FuzzPublish throws arbitrary bodies at POST /v1/events.
func FuzzPublish(f *testing.F) {
	for _, s := range []string{
		`{"event_type":"generation.completed","data":{"generation_id":"gen_1"}}`,
		`{"event_type":"generation.completed","data":{"a":[1,2,{"b":null}]},"subject_id":"gen_1","event_id":"e1"}`,
		`{"event_type":"generation.completed","data":{"n":1e400}}`,
		`{"event_type":"generation.completed","data":{"a":1,"a":2}}`,
		`{"event_type":"generation.completed","data":` + string(bytes.Repeat([]byte(`{"a":`), 40)) + `1` + string(bytes.Repeat([]byte(`}`), 40)) + `}`,
		`{"Event_Type":"generation.completed","data":{}}`,
		`{"event_type":"webhook.test","data":{}}`,
		"{\"event_type\":\"generation.completed\",\"data\":{\"x\":\"\xff\"}}",
		`[]`, `""`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	b := setup(f)
	wh := b.createWebhook(f, b.A.Full, "*")
	f.Fuzz(func(t *testing.T, body []byte) {
		// Every accepted event reaches the "*" endpoint: its newest
		// delivery changes if and only if something was published.
		newest := func() string { return b.newest(t, "/v1/webhooks/"+wh+"/deliveries?limit=1") }
		before := newest()
		st, env := b.send(t, "POST", "/v1/events", b.A.Full, "application/json", body)
		fuzzOutcome(t, st, env, before, newest)
		if st == http.StatusAccepted {
			var got struct {
				EventID    string `json:"event_id"`
				Deliveries int    `json:"deliveries"`
			}
			if err := json.Unmarshal(env.Data, &got); err != nil || got.EventID == "" {
				t.Fatalf("accepted without an event id: %s", env.Raw)
			}
		}
	})
}

// FuzzCreateWebhook throws arbitrary bodies at POST /v1/webhooks, with the
// production URL guard (no loopback).
func FuzzCreateWebhook(f *testing.F) {
	for _, s := range []string{
		`{"url":"https://hooks.example.com/h","events":["*"]}`,
		`{"url":"https://hooks.example.com/h","events":["generation.completed"],"description":"d","strict_order":true}`,
		`{"url":"https://internal.example.com/h","events":["*"]}`,
		`{"url":"https://127.0.0.1/h","events":["*"]}`,
		`{"url":"https://0x7f.1/h","events":["*"]}`,
		`{"url":"https://[::ffff:127.0.0.1]/h","events":["*"]}`,
		`{"url":"http://hooks.example.com/h","events":["*"]}`,
		`{"url":"httpS://hooks.example.com/h","events":["*"]}`,
		`{"url":"https://hooks.example.com:8443/h","events":["*"]}`,
		`{"url":"https://u:p@hooks.example.com/h","events":["*"]}`,
		`{"url":"https://hooks.example.com/h","events":["*","*"]}`,
		`{"url":"https://hooks.example.com/h","events":[]}`,
		`{"url":5}`, `{}`, `[]`,
	} {
		f.Add([]byte(s))
	}
	b := setupWith(f, options{strict: true})
	f.Fuzz(func(t *testing.T, body []byte) {
		newest := func() string { return b.newest(t, "/v1/webhooks?limit=1") }
		before := newest()
		st, env := b.send(t, "POST", "/v1/webhooks", b.A.Full, "application/json", body)
		fuzzOutcome(t, st, env, before, newest)
		if st == http.StatusCreated {
			var w webhookJSON
			if err := json.Unmarshal(env.Data, &w); err != nil || w.URL == "" || len(w.Events) == 0 {
				t.Fatalf("created: %s", env.Raw)
			}
			// Whatever was accepted is a public https URL on the default port.
			if len(w.URL) < 8 || w.URL[:8] != "https://" {
				t.Fatalf("accepted a non-https URL %q", w.URL)
			}
		}
	})
}

// newest returns the first item of a newest-first list, as raw JSON.
func (b *bundle) newest(t testing.TB, path string) string {
	t.Helper()
	st, env := b.do(t, "GET", path, b.A.Full, nil)
	items := decodeAs[[]json.RawMessage](t, ok(t, st, env, http.StatusOK))
	if len(items) == 0 {
		return ""
	}
	return string(items[0])
}
