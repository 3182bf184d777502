package app_test

import (
	"bufio"
	"bytes"
	"context"
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
	dir := t.TempDir()
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

// TestNoSecretInTheDatabaseFile creates an endpoint and an API key through
// the real service, then reads every byte of the database (and its WAL):
// neither the signing secret, in any encoding, nor the API key is there.
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
	key, hash := auth.NewKey(false)
	if _, err := r.app.Store.APIKeyCreate(ctx, store.APIKeyCreateParams{ID: webhook.NewID("key", now), AccountID: acc.ID,
		Name: "k", Prefix: auth.DisplayPrefix(key), Hash: hash, Scopes: auth.Scopes, Now: now}); err != nil {
		t.Fatal(err)
	}
	body := `{"url":"http://127.0.0.1:9/hook","events":["x.y"]}`
	req, _ := http.NewRequest("POST", r.base+"/v1/webhooks", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Data struct {
			Secret string `json:"secret"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	secret := created.Data.Secret
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("no secret in the create answer (status %d)", resp.StatusCode)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	r.stop() // closed: the file and WAL hold everything written

	needles := map[string][]byte{
		"secret":                   []byte(secret),
		"secret base64":            []byte(strings.TrimPrefix(secret, "whsec_")),
		"secret bytes":             raw,
		"secret bytes, first half": raw[:16],
		"API key":                  []byte(key),
		"API key body":             []byte(strings.TrimPrefix(key, "hrk_")),
	}
	files, _ := filepath.Glob(filepath.Join(r.dir, "hookrelay.db*"))
	checked, sawURL := 0, false
	for _, f := range files {
		if strings.HasSuffix(f, ".key") {
			continue // the encryption key file, 0600, beside the database
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checked += len(b)
		for name, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s found in clear in %s", name, filepath.Base(f))
			}
		}
		sawURL = sawURL || bytes.Contains(b, []byte("127.0.0.1:9/hook"))
	}
	// The endpoint's URL is stored in clear: finding it proves the search
	// read the real data.
	if !sawURL || checked < 4096 {
		t.Fatalf("searched %d bytes without finding the endpoint's URL", checked)
	}
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
