package main

// Tests of the real binary as a separate process: what only a process can
// show, such as surviving kill -9.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookrelay-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "hookrelay")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build hookrelay: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is one running `hookrelay serve`.
type instance struct {
	cmd  *exec.Cmd
	base string
	logs *bytes.Buffer
	done chan error
}

type node struct {
	t        *testing.T
	database string
}

// migrate creates the database: admin commands need one that exists.
func (n node) migrate() {
	n.t.Helper()
	if out, err := exec.Command(binary, "migrate", "--database", n.database).CombinedOutput(); err != nil {
		n.t.Fatalf("migrate: %v\n%s", err, out)
	}
}

// bootstrap creates the database, an account with a key of scopes and the
// event type typ: what every test on the real binary starts from.
func (n node) bootstrap(name, scopes, typ string) (accountID, key string) {
	n.t.Helper()
	n.migrate()
	var acc struct {
		AccountID string `json:"account_id"`
	}
	if err := json.Unmarshal([]byte(n.admin("account", "create", "--name", name)), &acc); err != nil {
		n.t.Fatal(err)
	}
	key = n.admin("api-key", "create", "--account", acc.AccountID, "--scopes", scopes)
	n.admin("event-type", "create", "--name", typ, "--description", name+" test")
	return acc.AccountID, key
}

func (n node) admin(args ...string) string {
	n.t.Helper()
	out, err := exec.Command(binary, append(append([]string{"admin"}, args...), "--database", n.database)...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("admin %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (n node) start(addr string, extra ...string) *instance {
	n.t.Helper()
	// No per-key rate limit: these tests publish as fast as they can.
	cmd := exec.Command(binary, append([]string{"serve", "--database", n.database, "--addr", addr, "--dev-allow-localhost", "--rate-limit", "0",
		"--lease-ttl", "2s", "--poll-interval", "50ms", "--shutdown-timeout", "5s", "--log-level", "warn"}, extra...)...)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	in := &instance{cmd: cmd, base: "http://" + addr, logs: logs, done: make(chan error, 1)}
	go func() { in.done <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(in.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return in
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("serve did not become ready:\n%s", logs)
	return nil
}

func (in *instance) kill(t *testing.T) {
	t.Helper()
	_ = in.cmd.Process.Signal(syscall.SIGKILL)
	<-in.done
}

func call(base, key, method, path string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// receiver counts deliveries by the event number carried in their data.
type receiver struct {
	mu       sync.Mutex
	byEvent  map[int]int
	total    atomic.Int64
	delay    time.Duration
	verified bool
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Data struct {
			N int `json:"n"`
		} `json:"webhook_data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		w.WriteHeader(400)
		return
	}
	time.Sleep(rc.delay)
	rc.mu.Lock()
	rc.byEvent[body.Data.N]++
	rc.mu.Unlock()
	rc.total.Add(1)
}

func (rc *receiver) missing(acked map[int]bool) []int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []int
	for n := range acked {
		if rc.byEvent[n] == 0 {
			out = append(out, n)
		}
	}
	return out
}

func (rc *receiver) duplicates() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	d := 0
	for _, c := range rc.byEvent {
		d += c - 1
	}
	return d
}

// TestKillNineLosesNoAcknowledgedEvent publishes a few thousand events,
// kills the server with SIGKILL while it is publishing and delivering,
// restarts it on the same database and checks that every event that was
// acknowledged with 2xx reaches the receiver at least once.
func TestKillNineLosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	n := node{t: t, database: filepath.Join(t.TempDir(), "crash.db")}
	_, key := n.bootstrap("crash", "webhooks:manage,events:publish", "crash.test")

	rc := &receiver{byEvent: map[int]int{}, delay: time.Millisecond}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	addr := freePort(t)
	in := n.start(addr)
	status, body, err := call(in.base, key, "POST", "/v1/webhooks", map[string]any{"url": srv.URL, "events": []string{"crash.test"}})
	if err != nil || status != 201 {
		t.Fatalf("create webhook: %d %s %v", status, body, err)
	}

	const total = 3000
	var mu sync.Mutex
	acked := map[int]bool{}
	next := atomic.Int64{}
	killed := make(chan struct{})
	var killOnce sync.Once
	var wg sync.WaitGroup
	publish := func(base string) {
		for {
			i := int(next.Add(1)) - 1
			if i >= total {
				return
			}
			status, _, err := call(base, key, "POST", "/v1/events", map[string]any{
				"event_type": "crash.test", "event_id": fmt.Sprintf("evt_crash_%d", i), "data": map[string]int{"n": i}})
			if err == nil && status == 202 {
				mu.Lock()
				acked[i] = true
				mu.Unlock()
			}
			if i == total/2 {
				// Kill mid-publish once deliveries are flowing too.
				for deadline := time.Now().Add(20 * time.Second); rc.total.Load() < 300 && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
				killOnce.Do(func() { in.kill(t); close(killed) })
			}
		}
	}
	for range 16 {
		wg.Go(func() { publish(in.base) })
	}
	wg.Wait()
	<-killed
	mu.Lock()
	ackedBefore := len(acked)
	mu.Unlock()
	receivedAtKill := rc.total.Load()

	// Restart on the same database: what was acknowledged must arrive.
	in = n.start(addr)
	defer in.kill(t)
	deadline := time.Now().Add(60 * time.Second)
	for len(rc.missing(acked)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if m := rc.missing(acked); len(m) > 0 {
		t.Fatalf("%d acknowledged events never arrived after the restart (e.g. %v)\nserver log:\n%s", len(m), m[:min(10, len(m))], in.logs)
	}
	t.Logf("kill -9 with %d events acknowledged and %d deliveries received: after restart all %d acknowledged events arrived; %d duplicates (at-least-once)",
		ackedBefore, receivedAtKill, len(acked), rc.duplicates())
	if len(acked) < total/3 {
		t.Fatalf("only %d of %d publishes were acknowledged: the test did not exercise much", len(acked), total)
	}
}

// TestSigtermFinishesInFlight stops the server gracefully in the middle of
// a burst: it exits by itself within its deadline, and after a restart
// everything acknowledged arrives.
func TestSigtermFinishesInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	n := node{t: t, database: filepath.Join(t.TempDir(), "term.db")}
	_, key := n.bootstrap("term", "webhooks:manage,events:publish", "term.test")
	rc := &receiver{byEvent: map[int]int{}, delay: 20 * time.Millisecond}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	addr := freePort(t)
	in := n.start(addr)
	if status, body, err := call(in.base, key, "POST", "/v1/webhooks", map[string]any{"url": srv.URL, "events": []string{"term.test"}}); err != nil || status != 201 {
		t.Fatalf("create webhook: %d %s %v", status, body, err)
	}
	acked := map[int]bool{}
	for i := range 200 {
		status, _, err := call(in.base, key, "POST", "/v1/events", map[string]any{"event_type": "term.test", "data": map[string]int{"n": i}})
		if err != nil || status != 202 {
			t.Fatalf("publish %d: %d %v", i, status, err)
		}
		acked[i] = true
	}
	for rc.total.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-in.done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM\n%s", err, in.logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve still running 15s after SIGTERM\n%s", in.logs)
	}
	t.Logf("SIGTERM: exited cleanly in %v with %d of 200 delivered", time.Since(start).Round(time.Millisecond), rc.total.Load())
	in = n.start(addr)
	defer in.kill(t)
	deadline := time.Now().Add(30 * time.Second)
	for len(rc.missing(acked)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if m := rc.missing(acked); len(m) > 0 {
		t.Fatalf("%d acknowledged events lost across a graceful restart", len(m))
	}
	if d := rc.duplicates(); d > 10 {
		t.Errorf("%d duplicates after a graceful stop: in-flight work should have finished, not been re-sent", d)
	}
}

// TestSigtermWithinShutdownTimeoutWhileSaturated: every request to every
// endpoint hangs and thousands more wait behind them when SIGTERM comes.
// The process must exit by itself within --shutdown-timeout, and a restart
// must deliver everything acknowledged once the receivers answer again.
func TestSigtermWithinShutdownTimeoutWhileSaturated(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	n := node{t: t, database: filepath.Join(t.TempDir(), "sat.db")}
	_, key := n.bootstrap("sat", "webhooks:manage,events:publish", "sat.test")

	var hang atomic.Bool
	hang.Store(true)
	var hanging atomic.Int64
	rc := &receiver{byEvent: map[int]int{}}
	released := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hang.Load() {
			hanging.Add(1)
			_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the sender hang up
			select {
			case <-r.Context().Done(): // the sender gave up
			case <-released:
			}
			return
		}
		rc.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer close(released)

	addr := freePort(t)
	const shutdown = 2 * time.Second
	in := n.start(addr, "--shutdown-timeout", shutdown.String())
	const endpoints = 20
	for i := range endpoints {
		if status, body, err := call(in.base, key, "POST", "/v1/webhooks", map[string]any{
			"url": fmt.Sprintf("%s/ep/%d", srv.URL, i), "events": []string{"sat.test"}}); err != nil || status != 201 {
			t.Fatalf("create webhook: %d %s %v", status, body, err)
		}
	}
	acked := map[int]bool{}
	for b := range 5 {
		var events []map[string]any
		for i := b * 200; i < (b+1)*200; i++ {
			events = append(events, map[string]any{"event_type": "sat.test", "data": map[string]int{"n": i}})
			acked[i] = true
		}
		if status, body, err := call(in.base, key, "POST", "/v1/events/batch", map[string]any{"events": events}); err != nil || status != 202 {
			t.Fatalf("publish batch: %d %s %v", status, body, err)
		}
	}
	// 1,000 events × 20 endpoints; every slot (20 × 10) held by a hanging request.
	for deadline := time.Now().Add(20 * time.Second); hanging.Load() < endpoints*10; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests in flight, want %d\n%s", hanging.Load(), endpoints*10, in.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-in.done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM\n%s", err, in.logs)
		}
	case <-time.After(shutdown + 3*time.Second):
		t.Fatalf("serve still running %s after SIGTERM with --shutdown-timeout %s\n%s", shutdown+3*time.Second, shutdown, in.logs)
	}
	took := time.Since(start)
	// A margin for process exit and a busy machine, not for design slack.
	if took > shutdown+time.Second {
		t.Fatalf("SIGTERM took %s with --shutdown-timeout %s\n%s", took, shutdown, in.logs)
	}
	if strings.Contains(in.logs.String(), "context canceled") {
		t.Fatalf("shutdown bookkeeping ran on a cancelled context:\n%s", in.logs)
	}
	t.Logf("SIGTERM while saturated: exited in %s (--shutdown-timeout %s)", took.Round(time.Millisecond), shutdown)

	hang.Store(false)
	in = n.start(addr)
	defer in.kill(t)
	deadline := time.Now().Add(60 * time.Second)
	for len(rc.missing(acked)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if m := rc.missing(acked); len(m) > 0 {
		t.Fatalf("%d acknowledged events lost across a saturated shutdown\n%s", len(m), in.logs)
	}
}
