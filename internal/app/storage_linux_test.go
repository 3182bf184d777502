package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/app"
	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// mountTmpfs mounts a small tmpfs on a new directory: a real filesystem
// that fills up.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): this test needs root with CAP_SYS_ADMIN, to fill or write-protect a real filesystem", err)
	}
	// Registered after TempDir's cleanup, so it runs before it (and after
	// the service's stop, registered later).
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// publisher is an account key on a running service, with an event type.
type publisher struct {
	t    *testing.T
	base string
	key  string
}

func newPublisher(t *testing.T, r *running) publisher {
	t.Helper()
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
	return publisher{t: t, base: r.base, key: key}
}

// call returns the status, the Retry-After header and the body.
func (p publisher) call(method, path, body string) (int, string, string) {
	p.t.Helper()
	req, _ := http.NewRequest(method, p.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

func (p publisher) publish(dataBytes int) (int, string, string) {
	return p.call("POST", "/v1/events", fmt.Sprintf(`{"event_type":"x.y","data":{"pad":%q}}`, strings.Repeat("x", dataBytes)))
}

func (p publisher) events() int {
	p.t.Helper()
	st, _, body := p.call("GET", "/v1/events?limit=250", "")
	if st != 200 {
		p.t.Fatalf("list events: %d %s", st, body)
	}
	return strings.Count(body, `"event_id"`)
}

// wantUnavailable checks a 503 storage_unavailable with Retry-After whose
// message says why.
func wantUnavailable(t *testing.T, st int, retryAfter, body, why string) {
	t.Helper()
	if st != http.StatusServiceUnavailable || retryAfter == "" || !strings.Contains(body, `"storage_unavailable"`) || !strings.Contains(body, why) {
		t.Fatalf("answer %d (Retry-After %q) %s, want 503 storage_unavailable with Retry-After saying %q", st, retryAfter, body, why)
	}
}

// TestDiskFull: with the database on a full filesystem, publishes answer
// 503 storage_unavailable with Retry-After and acknowledge nothing,
// /readyz answers 503 saying why, and both recover by themselves once
// there is room again.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	dir := mountTmpfs(t, "8m")
	r := startIn(t, dir, false, app.Options{})
	p := newPublisher(t, r)
	if st, _, body := p.publish(10); st != http.StatusAccepted {
		t.Fatalf("publish: %d %s", st, body)
	}

	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill the disk: %v", err)
			}
			break
		}
	}
	filler.Close()

	st, retry, body := p.publish(200 << 10)
	wantUnavailable(t, st, retry, body, "full")
	st, _, body = p.call("GET", "/readyz", "")
	if st != http.StatusServiceUnavailable || !strings.Contains(body, "full") {
		t.Fatalf("/readyz on a full disk: %d %s", st, body)
	}
	if n := p.events(); n != 1 {
		t.Fatalf("%d events after a refused publish, want 1", n)
	}

	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	if st, _, body := p.call("GET", "/readyz", ""); st != http.StatusOK {
		t.Fatalf("/readyz once there is room again: %d %s", st, body)
	}
	if st, _, body := p.publish(200 << 10); st != http.StatusAccepted {
		t.Fatalf("publish once there is room again: %d %s", st, body)
	}
	if n := p.events(); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
}

// TestReadOnlyDatabase: serve on a database file it cannot write (here a
// read-only bind mount of the file; for a non-root user, a file without
// write permission is the same to SQLite) starts, answers writes 503
// storage_unavailable and /readyz 503 saying why, and recovers by itself
// when the file becomes writable.
func TestReadOnlyDatabase(t *testing.T) {
	t.Parallel()
	dir := mountTmpfs(t, "16m")
	r := startIn(t, dir, false, app.Options{})
	p := newPublisher(t, r)
	if st, _, body := p.publish(10); st != http.StatusAccepted {
		t.Fatalf("publish: %d %s", st, body)
	}
	r.stop()

	db := filepath.Join(dir, "hookrelay.db")
	if err := syscall.Mount(db, db, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mount the database file: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(db, syscall.MNT_DETACH) })
	if err := syscall.Mount("", db, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("make the database file read-only: %v", err)
	}

	r = startIn(t, dir, false, app.Options{})
	if !strings.Contains(r.logs.String(), "does not take writes") {
		t.Errorf("no log line says the database does not take writes:\n%s", r.logs)
	}
	p.base = r.base
	st, retry, body := p.publish(10)
	wantUnavailable(t, st, retry, body, "read-only")
	if st, _, body := p.call("GET", "/readyz", ""); st != http.StatusServiceUnavailable || !strings.Contains(body, "read-only") {
		t.Fatalf("/readyz on a read-only database: %d %s", st, body)
	}
	if n := p.events(); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}

	if err := syscall.Mount("", db, "", syscall.MS_REMOUNT|syscall.MS_BIND, ""); err != nil {
		t.Fatalf("make the database file writable again: %v", err)
	}
	// The writer's connection was opened read-only: the first write after
	// a failure reopens it, so readiness comes back within two probes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _, body := p.call("GET", "/readyz", "")
		if st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz once the database is writable again: %d %s", st, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, _, body := p.publish(10); st != http.StatusAccepted {
		t.Fatalf("publish once the database is writable again: %d %s", st, body)
	}
	if n := p.events(); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
}
