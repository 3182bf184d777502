package dispatch_test

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/dispatch"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// TestAttemptLogLines: an operator follows a failing endpoint in the logs
// alone. Each failed attempt is one line at info saying which delivery,
// endpoint and attempt, what the receiver answered, how long it took and
// when the next try is; each success is one line at debug, so a healthy
// service does not flood the log. Durations are readable (a string or
// seconds, never bare nanoseconds), and no line holds the signing secret.
func TestAttemptLogLines(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	mid := func() float64 { return 0.5 } // jitter pinned: the retry is due in exactly 1 min
	rc, srv := newRecorder(func(_, attempt int) int {
		if attempt == 1 {
			return 500
		}
		return 200
	})
	defer srv.Close()
	h := setup(t, options{
		cfg:        dispatch.Config{Policy: dispatch.Policy{Delays: dispatch.DefaultDelays, Jitter: 0.1, Rand: mid}},
		logHandler: slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
	})
	ep, secret := h.endpoint(srv.URL)
	id := deliveryID(h.publish(1)[0], h, ep)
	failed := h.waitStatus(ep, id, 1, webhook.StatusPending)
	h.clock.Advance(time.Minute)
	h.waitStatus(ep, id, 2, webhook.StatusDelivered)
	if n := rc.n(); n != 2 {
		t.Fatalf("receiver got %d requests, want 2", n)
	}

	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", sc.Text(), err)
		}
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, "attempt ") {
			lines = append(lines, rec)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d attempt lines, want one per attempt (2):\n%s", len(lines), logs.String())
	}
	fail, ok := lines[0], lines[1]
	for _, c := range []struct {
		line      map[string]any
		msg       string
		level     string
		attempt   float64
		hasNext   bool
		hasStatus bool
	}{
		{fail, "attempt failed", "INFO", 1, true, true},
		{ok, "attempt delivered", "DEBUG", 2, false, true},
	} {
		l := c.line
		if l["msg"] != c.msg || l["level"] != c.level {
			t.Errorf("line %v: want msg %q at %s", l, c.msg, c.level)
		}
		if l["delivery"] != id || l["endpoint"] != ep || l["attempt"] != c.attempt {
			t.Errorf("%s: delivery %v endpoint %v attempt %v, want %s %s %v", c.msg, l["delivery"], l["endpoint"], l["attempt"], id, ep, c.attempt)
		}
		checkDuration(t, c.msg, l["duration"], h.cfg.Timeout)
		if _, has := l["next_attempt_at"]; has != c.hasNext {
			t.Errorf("%s: next_attempt_at present = %v, want %v", c.msg, has, c.hasNext)
		}
	}
	if fail["status_code"] != float64(500) || fail["error"] != "unexpected status 500 Internal Server Error" {
		t.Errorf("failed attempt: status_code %v error %v, want the receiver's 500", fail["status_code"], fail["error"])
	}
	if want := failed.NextAttemptAt.UTC().Format(time.RFC3339); fail["next_attempt_at"] != want {
		t.Errorf("next_attempt_at %v, want %s (as recorded)", fail["next_attempt_at"], want)
	}
	if ok["status_code"] != float64(200) {
		t.Errorf("delivered attempt: status_code %v, want 200", ok["status_code"])
	}
	if _, has := ok["error"]; has {
		t.Errorf("delivered attempt logged an error: %v", ok["error"])
	}
	key := strings.TrimPrefix(secret, "whsec_")
	if all := logs.String(); strings.Contains(all, secret) || strings.Contains(all, key) {
		t.Fatal("the endpoint's signing secret is in the logs")
	}
}

// checkDuration accepts a Go duration string or a number of seconds; a
// number above the attempt timeout can only be another unit (slog's
// default for a time.Duration is nanoseconds).
func checkDuration(t *testing.T, msg string, v any, timeout time.Duration) {
	t.Helper()
	switch d := v.(type) {
	case string:
		if p, err := time.ParseDuration(d); err != nil || p < 0 || p > timeout {
			t.Errorf("%s: duration %q is not a duration within the timeout", msg, d)
		}
	case float64:
		if d < 0 || d > timeout.Seconds() {
			t.Errorf("%s: duration %v is not seconds within the timeout", msg, d)
		}
	default:
		t.Errorf("%s: duration %v (%T), want a string or seconds", msg, v, v)
	}
}
