// Package liveness registers this process in the database and tells which
// other processes using it are gone, so that what a dead process held is
// freed at once instead of after a long timeout. It holds Idempotency-Keys
// in progress today; anything else a process must hold "only while it
// lives" can name Tracker.ID as its owner the same way.
//
// A process is gone when
//   - its heartbeat is older than the TTL: the rule that works across
//     machines (several nodes on PostgreSQL), at the cost of waiting a TTL
//     after a crash; or
//   - it ran on this host (same boot and pid namespace) and its pid no
//     longer runs, or now belongs to a process started at another time:
//     the rule that frees a crashed process's keys the moment it is
//     restarted, which is the usual case on one machine (SQLite).
//
// A clean stop removes the process's row itself.
package liveness

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// Store is the part of the store liveness needs.
type Store interface {
	ProcessHeartbeat(ctx context.Context, p store.Process) error
	ProcessList(ctx context.Context) ([]store.Process, error)
	ProcessRemove(ctx context.Context, id string) error
}

// Tracker is this process's registration.
type Tracker struct {
	st    Store
	clock clock.Clock
	log   *slog.Logger
	ttl   time.Duration
	self  store.Process
}

// New returns a Tracker for this process; ttl is how long a process whose
// heartbeat stopped still counts as alive (the dispatcher's lease TTL is a
// good value: the same failure is judged the same way).
func New(st Store, c clock.Clock, log *slog.Logger, ttl time.Duration) *Tracker {
	now := c.Now()
	self := store.Process{ID: webhook.NewID("proc", now), Host: hostID(), PID: os.Getpid(), StartedAt: now, HeartbeatAt: now}
	self.PIDStart, _ = pidStart(self.PID)
	return &Tracker{st: st, clock: c, log: log, ttl: ttl, self: self}
}

// ID is this process's owner id.
func (t *Tracker) ID() string { return t.self.ID }

// AliveSince is the oldest heartbeat of a process that still counts as
// alive.
func (t *Tracker) AliveSince() time.Time { return t.clock.Now().Add(-t.ttl) }

// Register records this process and removes the processes that are gone;
// call it before serving.
func (t *Tracker) Register(ctx context.Context) error {
	if err := t.beat(ctx); err != nil {
		return err
	}
	return t.Reap(ctx)
}

func (t *Tracker) beat(ctx context.Context) error {
	t.self.HeartbeatAt = t.clock.Now()
	return t.st.ProcessHeartbeat(ctx, t.self)
}

// Run keeps the heartbeat and removes gone processes until ctx ends, then
// unregisters this process.
func (t *Tracker) Run(ctx context.Context) {
	tick := time.NewTicker(max(t.ttl/3, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// Its own deadline: ctx is already cancelled.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := t.st.ProcessRemove(dctx, t.self.ID); err != nil {
				t.log.Warn("unregister process", "err", err)
			}
			return
		case <-tick.C:
		}
		if err := t.beat(ctx); err != nil {
			t.log.Warn("process heartbeat", "err", err)
		}
		if err := t.Reap(ctx); err != nil {
			t.log.Warn("remove gone processes", "err", err)
		}
	}
}

// Reap removes the processes that are gone, freeing what they held.
func (t *Tracker) Reap(ctx context.Context) error {
	ps, err := t.st.ProcessList(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if why := t.gone(p); why != "" {
			if err := t.st.ProcessRemove(ctx, p.ID); err != nil {
				return err
			}
			t.log.Info("removed a process that is gone", "process", p.ID, "pid", p.PID, "why", why)
		}
	}
	return nil
}

// gone says why p is gone, or "" while it may be alive.
func (t *Tracker) gone(p store.Process) string {
	if p.ID == t.self.ID {
		return ""
	}
	if p.HeartbeatAt.Before(t.AliveSince()) {
		return fmt.Sprintf("no heartbeat for %s", t.clock.Now().Sub(p.HeartbeatAt).Round(time.Second))
	}
	if p.Host != "" && p.Host == t.self.Host {
		start, ok := pidStart(p.PID)
		switch {
		case !ok:
			return "its pid no longer runs on this host"
		case start != p.PIDStart:
			return "its pid now belongs to another process"
		}
	}
	return ""
}

// hostID names the kernel boot and the pid namespace this process runs
// in: two processes with the same hostID see the same pids (containers on
// one host have pid namespaces of their own). Empty where /proc does not
// say.
func hostID() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(boot)) + " " + ns
}

// pidStart returns when pid started, in clock ticks after boot (the 22nd
// field of /proc/<pid>/stat), and false when no such process runs.
func pidStart(pid int) (int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces
	// and parentheses itself: count fields after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return 0, false
	}
	// A zombie has exited; only its exit status is left to collect.
	if fields[0] == "Z" || fields[0] == "X" {
		return 0, false
	}
	v, err := strconv.ParseInt(fields[19], 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}
