package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/app"
	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type running struct {
	app  *app.App
	base string
	dir  string
	logs *syncBuffer
	stop func()
}

func start(t *testing.T, dev bool, opt app.Options, extra ...string) *running {
	t.Helper()
	return startIn(t, t.TempDir(), dev, opt, extra...)
}

// startIn runs the service on dir/hookrelay.db.
func startIn(t *testing.T, dir string, dev bool, opt app.Options, extra ...string) *running {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg := config.Register(fs)
	args := []string{"--database", filepath.Join(dir, "hookrelay.db"), "--addr", "127.0.0.1:0"}
	if dev {
		args = append(args, "--dev-allow-localhost")
	}
	args = append(args, extra...)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := config.Load(fs, cfg, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	opt.Log = slog.New(slog.NewTextHandler(logs, nil))
	a, err := app.Open(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	var once sync.Once
	r := &running{app: a, base: "http://" + a.Addr(), dir: dir, logs: logs, stop: func() { once.Do(func() { cancel(); <-done }) }}
	t.Cleanup(r.stop)
	return r
}

func TestDevModeWarnsAtEveryStart(t *testing.T) {
	t.Parallel()
	for _, dev := range []bool{true, false} {
		r := start(t, dev, app.Options{})
		r.stop()
		warned := strings.Contains(r.logs.String(), "level=WARN") && strings.Contains(r.logs.String(), "--dev-allow-localhost")
		if warned != dev {
			t.Fatalf("dev=%v: warning logged = %v\n%s", dev, warned, r.logs.String())
		}
	}
}

// TestNoSecretInTheDatabaseFile creates endpoints, rotates a secret,
// creates an API key and a member through the real service, with and
// without Idempotency-Key (whose answers are stored to be replayed), then
// reads every byte of the database and its WAL, while running and after
// closing: no signing secret in any encoding, no API key, no password and
// no plain hash of a request body is there. The files are 0600.
func TestNoSecretInTheDatabaseFile(t *testing.T) {
	t.Parallel()
	r := start(t, true, app.Options{})
	ctx := context.Background()
	now := time.Now()
	acc, err := r.app.Store.AccountCreate(ctx, store.AccountCreateParams{ID: webhook.NewID("acc", now), Name: "a", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.app.Store.EventTypeCreate(ctx, store.EventTypeCreateParams{Name: "x.y", Description: "d", Now: now}); err != nil {
		t.Fatal(err)
	}
	newKey := func(account string) string {
		key, hash := auth.NewKey(account == "")
		if _, err := r.app.Store.APIKeyCreate(ctx, store.APIKeyCreateParams{ID: webhook.NewID("key", now), AccountID: account,
			Name: "k", Prefix: auth.DisplayPrefix(key), Hash: hash, Scopes: auth.Scopes, Now: now}); err != nil {
			t.Fatal(err)
		}
		return key
	}
	key, operator := newKey(acc.ID), newKey("")
	type answer struct {
		Data struct {
			WebhookID string `json:"webhook_id"`
			Secret    string `json:"secret"`
			Key       string `json:"key"`
		} `json:"data"`
	}
	var bodies [][]byte // every request body sent with an Idempotency-Key
	post := func(path, key, idem, body string) answer {
		t.Helper()
		req, _ := http.NewRequest("POST", r.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if idem != "" {
			req.Header.Set("Idempotency-Key", idem)
			bodies = append(bodies, []byte(body))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a answer
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %d %v", path, resp.StatusCode, err)
		}
		return a
	}
	const password = "correct horse battery staple"
	created := post("/v1/webhooks", key, "", `{"url":"http://127.0.0.1:9/hook","events":["x.y"]}`)
	idem := post("/v1/webhooks", key, "create-1", `{"url":"http://127.0.0.1:9/idem","events":["x.y"]}`)
	if again := post("/v1/webhooks", key, "create-1", `{"url":"http://127.0.0.1:9/idem","events":["x.y"]}`); again.Data.Secret != idem.Data.Secret {
		t.Fatalf("the replayed answer has secret %q, the first %q", again.Data.Secret, idem.Data.Secret)
	}
	rotated := post("/v1/webhooks/"+created.Data.WebhookID+"/rotate-secret", key, "rotate-1", `{"grace_period_seconds":60}`)
	apiKey := post("/v1/accounts/"+acc.ID+"/api-keys", operator, "key-1", `{"name":"n","scopes":["webhooks:read"]}`)
	post("/v1/accounts/"+acc.ID+"/members", operator, "member-1",
		`{"email":"owner@example.com","role":"primary-owner","password":"`+password+`"}`)

	needles := map[string][]byte{"password": []byte(password)}
	for name, secret := range map[string]string{"secret": created.Data.Secret, "idempotent secret": idem.Data.Secret, "rotated secret": rotated.Data.Secret} {
		if !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("%s %q", name, secret)
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			t.Fatal(err)
		}
		needles[name] = []byte(secret)
		needles[name+" base64"] = []byte(strings.TrimPrefix(secret, "whsec_"))
		needles[name+" bytes"] = raw
		needles[name+" bytes, first half"] = raw[:16]
	}
	for name, k := range map[string]string{"API key": key, "operator key": operator, "created API key": apiKey.Data.Key} {
		if !strings.HasPrefix(k, "hr") {
			t.Fatalf("%s %q", name, k)
		}
		needles[name] = []byte(k)
		needles[name+" body"] = []byte(k[strings.IndexByte(k, '_')+1:])
	}
	for _, b := range bodies {
		// An unkeyed fingerprint of a body with a password in it could
		// be tested against guesses.
		for _, path := range []string{"/v1/webhooks", "/v1/accounts/" + acc.ID + "/members"} {
			h := sha256.New()
			h.Write([]byte("POST\x00" + path + "\x00\x00"))
			h.Write(b)
			needles["sha256 of a request to "+path] = h.Sum(nil)
		}
	}

	search := func(when string) {
		files, _ := filepath.Glob(filepath.Join(r.dir, "hookrelay.db*"))
		checked, sawURL := 0, false
		for _, f := range files {
			if strings.HasSuffix(f, ".key") {
				continue // the encryption key file, 0600, beside the database
			}
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s has mode %v, want 0600", when, filepath.Base(f), fi.Mode().Perm())
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			checked += len(b)
			for name, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("%s: %s found in clear in %s", when, name, filepath.Base(f))
				}
			}
			sawURL = sawURL || bytes.Contains(b, []byte("127.0.0.1:9/idem"))
		}
		// The endpoint's URL is stored in clear: finding it proves the
		// search read the real data.
		if !sawURL || checked < 4096 {
			t.Fatalf("%s: searched %d bytes of %v without finding the endpoint's URL", when, checked, files)
		}
	}
	search("while serving")
	if _, err := os.Stat(filepath.Join(r.dir, "hookrelay.db-wal")); err != nil {
		t.Fatalf("no WAL while serving: %v", err)
	}
	r.stop() // closed: the file holds everything written
	search("after closing")
	fi, err := os.Stat(filepath.Join(r.dir, "hookrelay.db.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
}

// TestSlowClientsAreCut: a client that trickles its headers, or its body,
// loses the connection at the read deadlines instead of holding it.
func TestSlowClientsAreCut(t *testing.T) {
	t.Parallel()
	r := start(t, false, app.Options{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 600 * time.Millisecond})
	addr := strings.TrimPrefix(r.base, "http://")
	for name, first := range map[string]string{
		"headers": "POST /v1/events HTTP/1.1\r\nHost: x\r\n",
		"body":    "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"event_type\":",
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, first); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			// Keep trickling a byte at a time; the server must give up.
			done := make(chan error, 1)
			go func() {
				_, err := io.Copy(io.Discard, bufio.NewReader(conn))
				done <- err
			}()
			for {
				select {
				case <-done:
					if took := time.Since(start); took > 5*time.Second {
						t.Fatalf("connection held for %v", took)
					}
					return
				case <-time.After(100 * time.Millisecond):
					_, _ = conn.Write([]byte(" "))
				case <-time.After(10 * time.Second):
					t.Fatal("the server kept a trickling connection open")
				}
			}
		})
	}
}

// TestOversizedHeaderGetsTheEnvelope: the real server lets a 100 KB
// header reach the API, which refuses it in its JSON envelope (the HTTP
// server's own refusal is plain text).
func TestOversizedHeaderGetsTheEnvelope(t *testing.T) {
	t.Parallel()
	r := start(t, false, app.Options{})
	req, _ := http.NewRequest("GET", r.base+"/v1/webhooks", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || resp.Header.Get("Content-Type") != "application/json" ||
		!strings.Contains(string(body), `"success":false`) {
		t.Fatalf("%d %q %s, want 431 in the JSON envelope", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// TestOneAddressServesAPIAndDashboard: the API keeps its paths (SPEC §3)
// and every other path is the dashboard (SPEC §5), on one address.
func TestOneAddressServesAPIAndDashboard(t *testing.T) {
	t.Parallel()
	r := start(t, false, app.Options{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		path, contentType string
		status            int
	}{
		{"/healthz", "application/json", http.StatusOK},
		{"/readyz", "application/json", http.StatusOK},
		{"/metrics", "text/plain", http.StatusOK},
		{"/v1/webhooks", "application/json", http.StatusUnauthorized},
		{"/v1/nope", "application/json", http.StatusNotFound},
		{"/login", "text/html", http.StatusOK},
		{"/", "", http.StatusSeeOther}, // to /login
		{"/nope", "text/html", http.StatusNotFound},
		{"/static/app.css", "text/css", http.StatusOK},
	} {
		resp, err := noRedirect.Get(r.base + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.contentType) {
			t.Errorf("GET %s: HTTP %d %q, want %d %q", c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.status, c.contentType)
		}
	}
}

// TestShutdownClosesUnusedConnections: a connection that never sent a byte
// (a client's or load balancer's spare) does not hold up SIGTERM. net/http's
// Shutdown would wait until it is five seconds old, past this
// --shutdown-timeout, and report the deadline.
func TestShutdownClosesUnusedConnections(t *testing.T) {
	t.Parallel()
	r := start(t, false, app.Options{}, "--shutdown-timeout", "2s")
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The server has accepted it once a request on another connection is
	// answered after it.
	resp, err := http.Get(r.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r.stop()
	if strings.Contains(r.logs.String(), "http shutdown") {
		t.Fatalf("shutdown waited on a connection that sent nothing:\n%s", r.logs)
	}
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("the unused connection is still open")
	}
}
