package liveness

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
)

func newStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(t *testing.T, s Store) []string {
	t.Helper()
	ps, err := s.ProcessList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	slices.Sort(out)
	return out
}

// TestGoneProcessesAreRemoved registers processes in every state next to
// a real one and checks which the tracker removes.
func TestGoneProcessesAreRemoved(t *testing.T) {
	t.Parallel()
	if hostID() == "" {
		t.Skip("this system has no /proc: only heartbeats tell liveness here")
	}
	ctx := context.Background()
	s := newStore(t)
	c := clock.NewFake(time.Now())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tr := New(s, c, log, 30*time.Second)

	// A process that ran on this host and exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	exited := cmd.Process.Pid
	selfStart, ok := pidStart(os.Getpid())
	if !ok {
		t.Fatal("cannot read this process's start time")
	}
	now := c.Now()
	host := hostID()
	for _, p := range []store.Process{
		{ID: "exited", Host: host, PID: exited, PIDStart: 1},
		{ID: "reused-pid", Host: host, PID: os.Getpid(), PIDStart: selfStart + 1},
		{ID: "alive-here", Host: host, PID: os.Getpid(), PIDStart: selfStart},
		{ID: "other-host-fresh", Host: "elsewhere", PID: exited, PIDStart: 1},
		{ID: "other-host-silent", Host: "elsewhere", PID: 1, PIDStart: 1, HeartbeatAt: now.Add(-31 * time.Second)},
		{ID: "unknown-host", PID: exited, PIDStart: 1},
	} {
		p.StartedAt = now.Add(-time.Hour)
		if p.HeartbeatAt.IsZero() {
			p.HeartbeatAt = now
		}
		if err := s.ProcessHeartbeat(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Register(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"alive-here", "other-host-fresh", tr.ID(), "unknown-host"}
	slices.Sort(want)
	if got := ids(t, s); !slices.Equal(got, want) {
		t.Fatalf("after registering: %v, want %v", got, want)
	}
	// Silence on another host is judged by the heartbeat alone; so is a
	// process here that stopped beating (stuck), whatever its pid says.
	c.Advance(31 * time.Second)
	if err := s.ProcessHeartbeat(ctx, store.Process{ID: "alive-here", Host: host, PID: os.Getpid(), PIDStart: selfStart, HeartbeatAt: c.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Reap(ctx); err != nil {
		t.Fatal(err)
	}
	want = []string{"alive-here", tr.ID()}
	slices.Sort(want)
	if got := ids(t, s); !slices.Equal(got, want) {
		t.Fatalf("after 31 s: %v, want %v", got, want)
	}

	// Run keeps the heartbeat, and a clean stop unregisters.
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { tr.Run(rctx); close(done) }()
	stop()
	<-done
	if got := ids(t, s); !slices.Equal(got, []string{"alive-here"}) {
		t.Fatalf("after a clean stop: %v", got)
	}
}
