package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestLogsHoldNoSecret runs a full session against the real binary at
// debug level with JSON logs — admin bootstrap, keys, endpoints, a
// rotation, members, publishes (one with an Idempotency-Key), deliveries
// that succeed and fail, a request with a wrong key — and checks that no
// log line holds any secret, key or password in any form, that every line
// is JSON with durations as strings, and that each API request has its
// line with the request id the response carried.
func TestLogsHoldNoSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	t.Parallel()
	n := node{t: t, database: filepath.Join(t.TempDir(), "logs.db")}
	if out, err := exec.Command(binary, "migrate", "--database", n.database).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v %s", err, out)
	}
	var secrets []string
	keep := func(s string) string {
		t.Helper()
		if len(s) < 16 {
			t.Fatalf("%q is too short to be a secret", s)
		}
		secrets = append(secrets, s)
		return s
	}
	operator := keep(n.admin("operator-key", "create"))
	var acc struct {
		AccountID string `json:"account_id"`
	}
	if err := json.Unmarshal([]byte(n.admin("account", "create", "--name", "logs")), &acc); err != nil {
		t.Fatal(err)
	}
	key := keep(n.admin("api-key", "create", "--account", acc.AccountID, "--scopes", "webhooks:read,webhooks:manage,events:publish"))
	password := keep("correct horse battery staple 42")
	cmd := exec.Command(binary, "admin", "member", "create", "--account", acc.AccountID, "--email", "owner@example.com",
		"--role", "primary-owner", "--password-stdin", "--database", n.database)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("member create: %v %s", err, out)
	}
	n.admin("event-type", "create", "--name", "logs.test", "--description", "log test")

	var failing atomic.Bool
	var received atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()

	in := n.start(freePort(t), "--log-level", "debug", "--log-format", "json", "--retry-schedule", "200ms,200ms", "--breaker-threshold", "100")
	requestIDs := map[string]bool{}
	api := func(key, method, path string, body any, want int) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, in.base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if method == "POST" && strings.HasSuffix(path, "/events") {
			req.Header.Set("Idempotency-Key", "idem-logs-1")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
		requestIDs[resp.Header.Get("X-Request-Id")] = true
		var env struct {
			Data map[string]any `json:"data"`
		}
		_ = json.Unmarshal(raw, &env)
		return env.Data
	}

	wh := api(key, "POST", "/v1/webhooks", map[string]any{"url": rcv.URL + "/ok", "events": []string{"logs.test"}}, 201)
	keep(wh["secret"].(string))
	rotated := api(key, "POST", "/v1/webhooks/"+wh["webhook_id"].(string)+"/rotate-secret", map[string]any{"grace_period_seconds": 3600}, 200)
	keep(rotated["secret"].(string))
	apiKey := api(operator, "POST", "/v1/accounts/"+acc.AccountID+"/api-keys", map[string]any{"name": "second", "scopes": []string{"webhooks:read"}}, 201)
	keep(apiKey["key"].(string))
	password2 := keep("another long password 4242")
	api(operator, "POST", "/v1/accounts/"+acc.AccountID+"/members", map[string]any{"email": "dev@example.com", "role": "member", "password": password2}, 201)
	api(key, "POST", "/v1/events", map[string]any{"event_type": "logs.test", "data": map[string]any{"n": 1}}, 202)
	api(key, "POST", "/v1/events", map[string]any{"event_type": "logs.test", "data": map[string]any{"n": 1}}, 202) // replayed
	wrong := keep("hrk_" + strings.Repeat("Z", 43))
	api(wrong, "GET", "/v1/webhooks", nil, 401)
	for deadline := time.Now().Add(10 * time.Second); received.Load() < 1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	failing.Store(true)
	api(key, "POST", "/v1/webhooks/"+wh["webhook_id"].(string)+"/test", nil, 202)
	for deadline := time.Now().Add(10 * time.Second); received.Load() < 4 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // the test event and its two retries
	}
	api(key, "GET", "/v1/webhooks/"+wh["webhook_id"].(string)+"/deliveries", nil, 200)

	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
	case <-time.After(20 * time.Second):
		in.kill(t)
		t.Fatal("serve did not stop on SIGTERM")
	}
	encKey, err := os.ReadFile(n.database + ".key")
	if err != nil {
		t.Fatal(err)
	}
	keep(strings.TrimSpace(string(encKey)))

	// Each secret in every form it could leak in: as is, without its
	// prefix, and the raw bytes of a whsec_ secret re-encoded.
	var forms []string
	for _, s := range secrets {
		forms = append(forms, s)
		if _, rest, ok := strings.Cut(s, "_"); ok && len(rest) >= 16 {
			forms = append(forms, rest)
			if raw, err := base64.StdEncoding.DecodeString(rest); err == nil {
				forms = append(forms, fmt.Sprintf("%x", raw), base64.RawURLEncoding.EncodeToString(raw))
			}
		}
	}
	logs := in.logs.String()
	lines, requestLines := 0, 0
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		lines++
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not a JSON log line: %s", line)
			continue
		}
		for _, f := range forms {
			if strings.Contains(line, f) {
				t.Errorf("a secret (%.8s…) is in the log line %s", f, line)
			}
		}
		walk(m, func(k string, v any) {
			if num, ok := v.(float64); ok && num >= 1e6 && durationLike(k) {
				t.Errorf("%s=%v looks like nanoseconds, not a readable duration: %s", k, num, line)
			}
		})
		if m["msg"] == "request" {
			requestLines++
			if id, _ := m["request_id"].(string); !requestIDs[id] && m["route"] != "GET /readyz" {
				t.Errorf("request line with an id no response carried: %s", line)
			}
			if d, _ := m["duration"].(string); !strings.HasSuffix(d, "s") {
				t.Errorf("request duration %v is not a duration string: %s", m["duration"], line)
			}
		}
	}
	if lines < 10 || requestLines < len(requestIDs) {
		t.Fatalf("%d log lines, %d request lines for %d requests: the session was not logged\n%s", lines, requestLines, len(requestIDs), logs)
	}
	if os.Getenv("HOOKRELAY_SHOW_LOGS") != "" {
		t.Log(logs)
	}
	t.Logf("%d log lines at debug level checked against %d secrets (%d forms)", lines, len(secrets), len(forms))
}

func durationLike(key string) bool {
	for _, w := range []string{"duration", "timeout", "interval", "ttl", "delay", "took", "elapsed", "cooldown", "after", "wait"} {
		if strings.Contains(strings.ToLower(key), w) {
			return true
		}
	}
	return false
}

// walk calls f for every key and value of a decoded JSON object, nested
// objects included.
func walk(m map[string]any, f func(string, any)) {
	for k, v := range m {
		f(k, v)
		if sub, ok := v.(map[string]any); ok {
			walk(sub, f)
		}
	}
}
