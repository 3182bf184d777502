package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

type badCase struct {
	name   string
	method string
	path   string
	ctype  string // "" means application/json; "-" sends none
	body   string
	want   int
	words  []string // what the message must name
}

// run sends each case and checks the error and that nothing changed.
func (b *bundle) runBad(t *testing.T, key string, cases []badCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := b.snapshot(t)
			ctype := c.ctype
			switch ctype {
			case "":
				ctype = "application/json"
			case "-":
				ctype = ""
			}
			var body []byte
			if c.method != "GET" {
				body = []byte(c.body)
			}
			st, env := b.send(t, c.method, c.path, key, ctype, body)
			wantError(t, st, env, c.want, c.words...)
			if after := b.snapshot(t); after != before {
				t.Fatalf("a refused request changed state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	all := b.createWebhook(t, b.A.Full, "*")
	b.createWebhook(t, b.A.Full, "generation.completed")
	b.publish(t, b.A.Full, map[string]any{"event_type": "generation.completed", "data": map[string]any{"n": 1}})

	const wh, ev, batch = "POST /v1/webhooks", "POST /v1/events", "POST /v1/events/batch"
	goodURL := `"url":"https://127.0.0.1/h"`
	mk := func(name, route, body string, want int, words ...string) badCase {
		method, path, _ := strings.Cut(route, " ")
		return badCase{name: name, method: method, path: path, body: body, want: want, words: words}
	}
	withType := func(c badCase, ctype string) badCase { c.ctype = ctype; return c }
	types := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = `"generation.completed"`
		}
		return strings.Join(s, ",")
	}
	items := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf(`{"event_type":"generation.completed","data":{"i":%d},"event_id":"batch-%d"}`, i, i)
		}
		return strings.Join(s, ",")
	}
	big := func(n int) string { return strings.Repeat("a", n) }
	const maxData = 256 << 10

	cases := []badCase{
		// Create webhook.
		mk("malformed JSON", wh, `{"url" "x"}`, 400),
		mk("truncated JSON", wh, `{"url":`, 400),
		mk("events is a string", wh, `{`+goodURL+`,"events":"x"}`, 400, "events"),
		mk("events holds a number", wh, `{`+goodURL+`,"events":["generation.completed",5]}`, 400, "events"),
		mk("url is a number", wh, `{"url":5,"events":["*"]}`, 400, "url"),
		mk("strict_order is a string", wh, `{`+goodURL+`,"events":["*"],"strict_order":"yes"}`, 400, "strict_order"),
		mk("description is a number", wh, `{`+goodURL+`,"events":["*"],"description":5}`, 400, "description"),
		mk("unknown field", wh, `{`+goodURL+`,"events":["*"],"colour":"red"}`, 400, "colour"),
		mk("secret may not be chosen", wh, `{`+goodURL+`,"events":["*"],"secret":"whsec_AAAA"}`, 400, "secret"),
		mk("body over the limit", wh, `{`+goodURL+`,"events":["*"],"description":"`+big(70<<10)+`"}`, 413),
		mk("unknown event type", wh, `{`+goodURL+`,"events":["generation.completed","generation.exploded"]}`, 400, "events[1]", "generation.exploded"),
		mk("reserved type webhook.test", wh, `{`+goodURL+`,"events":["webhook.test"]}`, 400, "events[0]"),
		mk("operational type in a customer account", wh, `{`+goodURL+`,"events":["endpoint.disabled"]}`, 400, "events[0]"),
		mk("empty events", wh, `{`+goodURL+`,"events":[]}`, 400, "events"),
		mk("null events", wh, `{`+goodURL+`,"events":null}`, 400, "events"),
		mk("missing events", wh, `{`+goodURL+`}`, 400, "events"),
		mk("wildcard with another type", wh, `{`+goodURL+`,"events":["*","x"]}`, 400, "events"),
		mk("101 event types", wh, `{`+goodURL+`,"events":[`+types(101)+`]}`, 400, "events", "100"),
		mk("description of 501 characters", wh, `{`+goodURL+`,"events":["*"],"description":"`+big(501)+`"}`, 400, "description", "500"),
		mk("description of 501 é", wh, `{`+goodURL+`,"events":["*"],"description":"`+strings.Repeat("é", 501)+`"}`, 400, "description"),
		withType(mk("text/plain", wh, `{`+goodURL+`,"events":["*"]}`, 415, "Content-Type"), "text/plain"),
		withType(mk("form", wh, `url=x`, 415, "Content-Type"), "application/x-www-form-urlencoded"),
		withType(mk("missing Content-Type", wh, `{`+goodURL+`,"events":["*"]}`, 415, "Content-Type"), "-"),
		withType(mk("latin1 charset", wh, `{`+goodURL+`,"events":["*"]}`, 415, "charset"), "application/json; charset=iso-8859-1"),
		mk("invalid UTF-8", wh, `{`+goodURL+`,"events":["*"],"description":"`+"\xff\xfe"+`"}`, 400, "UTF-8"),
		mk("missing url", wh, `{"events":["*"]}`, 400, "url"),
		mk("empty url", wh, `{"url":"","events":["*"]}`, 400, "url"),
		mk("relative url", wh, `{"url":"/hooks","events":["*"]}`, 400, "url"),
		mk("ftp url", wh, `{"url":"ftp://127.0.0.1/x","events":["*"]}`, 400, "url"),
		mk("url with userinfo", wh, `{"url":"https://u:p@127.0.0.1/x","events":["*"]}`, 400, "url"),
		mk("url with fragment", wh, `{"url":"https://127.0.0.1/x#y","events":["*"]}`, 400, "url"),
		mk("url of 2049 characters", wh, `{"url":"https://127.0.0.1/`+big(2049-len("https://127.0.0.1/"))+`","events":["*"]}`, 400, "url", "2048"),
		mk("trailing garbage", wh, `{`+goodURL+`,"events":["*"]} x`, 400),
		mk("two objects", wh, `{`+goodURL+`,"events":["*"]}{}`, 400),
		mk("empty body", wh, ``, 400),
		mk("array body", wh, `[]`, 400),
		mk("string body", wh, `"x"`, 400),

		// Publish.
		mk("publish: malformed JSON", ev, `{"event_type":`, 400),
		mk("publish: event_type is a number", ev, `{"event_type":5,"data":{}}`, 400, "event_type"),
		mk("publish: missing event_type", ev, `{"data":{}}`, 400, "event_type"),
		mk("publish: unknown event type", ev, `{"event_type":"generation.exploded","data":{}}`, 400, "event_type", "generation.exploded"),
		mk("publish: reserved webhook.test", ev, `{"event_type":"webhook.test","data":{}}`, 400, "event_type"),
		mk("publish: reserved delivery.failed", ev, `{"event_type":"delivery.failed","data":{}}`, 400, "event_type"),
		mk("publish: missing data", ev, `{"event_type":"generation.completed"}`, 400, "data"),
		mk("publish: data null", ev, `{"event_type":"generation.completed","data":null}`, 400, "data"),
		mk("publish: data array", ev, `{"event_type":"generation.completed","data":[1]}`, 400, "data"),
		mk("publish: data string", ev, `{"event_type":"generation.completed","data":"x"}`, 400, "data"),
		mk("publish: data number", ev, `{"event_type":"generation.completed","data":1}`, 400, "data"),
		mk("publish: data over 256 KiB", ev, `{"event_type":"generation.completed","data":{"x":"`+big(maxData)+`"}}`, 413, "data"),
		mk("publish: body over the limit", ev, `{"event_type":"generation.completed","data":{"x":"`+big(300<<10)+`"}}`, 413),
		mk("publish: unknown field", ev, `{"event_type":"generation.completed","data":{},"priority":1}`, 400, "priority"),
		mk("publish: subject_id is a number", ev, `{"event_type":"generation.completed","data":{},"subject_id":5}`, 400, "subject_id"),
		mk("publish: empty subject_id", ev, `{"event_type":"generation.completed","data":{},"subject_id":""}`, 400, "subject_id"),
		mk("publish: event_id with a space", ev, `{"event_type":"generation.completed","data":{},"event_id":"a b"}`, 400, "event_id"),
		mk("publish: event_id of 256 characters", ev, `{"event_type":"generation.completed","data":{},"event_id":"`+big(256)+`"}`, 400, "event_id"),
		withType(mk("publish: missing Content-Type", ev, `{"event_type":"generation.completed","data":{}}`, 415, "Content-Type"), "-"),
		mk("publish: invalid UTF-8 in data", ev, `{"event_type":"generation.completed","data":{"x":"`+"\xc3\x28"+`"}}`, 400, "UTF-8"),
		mk("publish: trailing garbage", ev, `{"event_type":"generation.completed","data":{}}]`, 400),
		mk("publish: empty body", ev, ``, 400),

		// Batch.
		mk("batch: no events", batch, `{"events":[]}`, 400, "events"),
		mk("batch: missing events", batch, `{}`, 400, "events"),
		mk("batch: 1001 events", batch, `{"events":[`+items(1001)+`]}`, 400, "events", "1000"),
		mk("batch: item 3 has an unknown type", batch, `{"events":[`+items(3)+`,{"event_type":"nope.nope","data":{}},`+items(1)+`]}`,
			400, "events[3].event_type"),
		mk("batch: item 3 data is an array", batch, `{"events":[`+items(3)+`,{"event_type":"generation.failed","data":[]}]}`, 400, "events[3].data"),
		mk("batch: item 3 data over 256 KiB", batch, `{"events":[`+items(3)+`,{"event_type":"generation.failed","data":{"x":"`+big(maxData)+`"}}]}`,
			413, "events[3].data"),
		mk("batch: item 3 event_type is a number", batch, `{"events":[`+items(3)+`,{"event_type":5,"data":{}}]}`, 400, "events[3].event_type"),
		mk("batch: item 3 has an unknown field", batch, `{"events":[`+items(3)+`,{"event_type":"generation.failed","data":{},"x":1}]}`, 400, "events[3]", "x"),
		mk("batch: item 3 is not an object", batch, `{"events":[`+items(3)+`,7]}`, 400, "events[3]"),
		mk("batch: events is an object", batch, `{"events":{}}`, 400, "events"),
		mk("batch: item 3 has a duplicate key", batch, `{"events":[`+items(3)+`,{"event_type":"generation.failed","data":{},"data":{}}]}`, 400, "events[3].data", "duplicate"),

		// Hostile input: what encoding/json would let through silently.
		mk("duplicate key", wh, `{`+goodURL+`,"events":["*"],"events":["generation.failed"]}`, 400, "events", "duplicate"),
		mk("field in another case", wh, `{"URL":"https://127.0.0.1/h","events":["*"]}`, 400, "URL", "unknown"),
		mk("publish: field in another case", ev, `{"Event_Type":"generation.completed","data":{}}`, 400, "Event_Type"),
		mk("publish: duplicate key inside data", ev, `{"event_type":"generation.completed","data":{"amount":1,"amount":1000}}`, 400, "data.amount", "duplicate"),
		mk("publish: duplicate event_type", ev, `{"event_type":"generation.completed","event_type":"generation.failed","data":{}}`, 400, "event_type", "duplicate"),
		mk("publish: nested 33 levels", ev, `{"event_type":"generation.completed","data":`+strings.Repeat(`{"a":`, 33)+`1`+strings.Repeat(`}`, 33)+`}`, 400, "nested"),
		mk("publish: nested 10000 arrays", ev, `{"event_type":"generation.completed","data":{"a":`+strings.Repeat(`[`, 10000)+strings.Repeat(`]`, 10000)+`}}`, 400, "nested"),
		mk("publish: huge number", ev, `{"event_type":"generation.completed","data":{"n":1e400}}`, 400, "data.n", "out of range"),
		mk("publish: long huge integer", ev, `{"event_type":"generation.completed","data":{"n":`+strings.Repeat("9", 400)+`}}`, 400, "data.n"),
		mk("publish: NaN", ev, `{"event_type":"generation.completed","data":{"n":NaN}}`, 400),
		mk("publish: NUL in a key", ev, "{\"event_type\":\"generation.completed\",\"data\":{\"a\u0000\":1},\"x\u0000\":1}", 400),

		// Lists.
		mk("limit 0", "GET /v1/webhooks?limit=0", "", 400, "limit"),
		mk("limit 251", "GET /v1/webhooks?limit=251", "", 400, "limit"),
		mk("limit -1", "GET /v1/webhooks?limit=-1", "", 400, "limit"),
		mk("limit abc", "GET /v1/webhooks?limit=abc", "", 400, "limit"),
		mk("limit 2.5", "GET /v1/webhooks?limit=2.5", "", 400, "limit"),
		mk("cursor garbage", "GET /v1/webhooks?cursor=%21%21", "", 400, "cursor"),
		mk("cursor not issued", "GET /v1/webhooks?cursor=Zm9vYmFy", "", 400, "cursor"),
		mk("search of 201 characters", "GET /v1/webhooks?search="+big(201), "", 400, "search"),
		mk("deliveries: status", "GET /v1/webhooks/"+all+"/deliveries?status=sent", "", 400, "status"),
		mk("deliveries: since", "GET /v1/webhooks/"+all+"/deliveries?since=yesterday", "", 400, "since"),
		mk("deliveries: until", "GET /v1/webhooks/"+all+"/deliveries?until=2026-13-01T00:00:00Z", "", 400, "until"),
		mk("deliveries: since without zone", "GET /v1/webhooks/"+all+"/deliveries?since=2026-05-12T12:00:00", "", 400, "since"),
		mk("deliveries: limit", "GET /v1/webhooks/"+all+"/deliveries?limit=1000", "", 400, "limit"),
		mk("deliveries: cursor", "GET /v1/webhooks/"+all+"/deliveries?cursor=xyz", "", 400, "cursor"),
	}
	b.runBad(t, b.A.Full, cases)

	// The valid items of the refused batches were not stored: publishing
	// them now is no duplicate.
	st, env := b.do(t, "POST", "/v1/events/batch", b.A.Full, `{"events":[`+items(1)+`]}`)
	if got := decodeAs[[]publishJSON](t, ok(t, st, env, http.StatusAccepted)); got[0].Duplicate {
		t.Fatal("an item of a refused batch was stored")
	}
}

// TestURLGuard runs the production guard (no loopback), so private and
// loopback destinations are refused at creation.
func TestURLGuard(t *testing.T) {
	t.Parallel()
	b := setupWith(t, options{strict: true})
	body := func(url string) string { return `{"url":"` + url + `","events":["*"]}` }
	var cases []badCase
	for _, u := range []string{
		"http://hooks.example.com/x",
		"https://127.0.0.1/x",
		"https://127.1/x",
		"https://2130706433/x",
		"https://0x7f000001/x",
		"https://localhost/x",
		"https://api.localhost/x",
		"https://[::1]/x",
		"https://[::ffff:10.0.0.1]/x",
		"https://10.0.0.8/x",
		"https://192.168.1.1/x",
		"https://169.254.169.254/latest",
		"https://internal.example.com/x",
		"https://rebind.example.com/x",
		"https://metadata.example.com/x",
		"https://nxdomain.example.com/x",
		"https://hooks.example.com:8443/x",
		"https://hooks.example.com:80/x",
	} {
		cases = append(cases, badCase{name: u, method: "POST", path: "/v1/webhooks", body: body(u), want: 400, words: []string{"url"}})
	}
	b.runBad(t, b.A.Full, cases)

	for _, u := range []string{"https://hooks.example.com/x", "https://hooks.example.com:443/y", "https://93.184.215.14/z"} {
		st, env := b.do(t, "POST", "/v1/webhooks", b.A.Full, body(u))
		ok(t, st, env, http.StatusCreated)
	}
}

// TestLimitsAreInclusive checks the accepted side of every limit.
func TestLimitsAreInclusive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	t.Run("batch of 1000", func(t *testing.T) { // first: no endpoint yet, so it stays fast under -race
		items := make([]map[string]any, 1000)
		for i := range items {
			items[i] = map[string]any{"event_type": "generation.failed", "data": map[string]any{"i": i}}
		}
		st, env := b.do(t, "POST", "/v1/events/batch", b.A.Full, map[string]any{"events": items})
		if got := decodeAs[[]publishJSON](t, ok(t, st, env, http.StatusAccepted)); len(got) != 1000 {
			t.Fatalf("%d results", len(got))
		}
	})
	prefix := "https://127.0.0.1/"
	for name, url := range map[string]string{
		"ascii": prefix + strings.Repeat("a", 2048-len(prefix)),
		// Characters, not bytes: 2048 characters, 4,000 bytes.
		"non-ascii": prefix + strings.Repeat("é", 2048-len(prefix)),
	} {
		t.Run("url of 2048 characters, "+name, func(t *testing.T) {
			st, env := b.do(t, "POST", "/v1/webhooks", b.A.Full, map[string]any{"url": url, "events": []string{"*"}})
			ok(t, st, env, http.StatusCreated)
		})
	}
	t.Run("100 event types", func(t *testing.T) {
		ev := make([]string, 100)
		for i := range ev {
			ev[i] = "generation.completed"
		}
		st, env := b.do(t, "POST", "/v1/webhooks", b.A.Full, map[string]any{"url": prefix, "events": ev})
		ok(t, st, env, http.StatusCreated)
	})
	t.Run("charset utf-8", func(t *testing.T) {
		st, env := b.send(t, "POST", "/v1/webhooks", b.A.Full, "application/json; charset=UTF-8",
			[]byte(`{"url":"https://127.0.0.1/","events":["*"]}`))
		ok(t, st, env, http.StatusCreated)
	})
	t.Run("data of exactly 256 KiB", func(t *testing.T) {
		data := `{"x":"` + strings.Repeat("a", 256<<10-len(`{"x":""}`)) + `"}`
		st, env := b.do(t, "POST", "/v1/events", b.A.Full, `{"event_type":"generation.completed","data":`+data+`}`)
		ok(t, st, env, http.StatusAccepted)
	})
	t.Run("nesting of 32 levels and large but finite numbers", func(t *testing.T) {
		// The body is level 0, data level 1, 30 objects inside it and an
		// array at level 32.
		data := strings.Repeat(`{"a":`, 31) + `[1e308,-1e308,123456789012345678901234567890,1e-400]` + strings.Repeat(`}`, 31)
		st, env := b.do(t, "POST", "/v1/events", b.A.Full, `{"event_type":"generation.completed","data":`+data+`}`)
		ok(t, st, env, http.StatusAccepted)
	})
	t.Run("data measured compacted", func(t *testing.T) {
		// Whitespace around values is not payload.
		data := `{"x":      "` + strings.Repeat("a", 256<<10-len(`{"x":""}`)) + `"   }`
		st, env := b.do(t, "POST", "/v1/events", b.A.Full, `{"event_type":"generation.completed","data":`+data+`}`)
		ok(t, st, env, http.StatusAccepted)
	})
}
