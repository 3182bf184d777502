package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// watchState is what one loop (a worker, the claim loop) tells the
// watchdog: what it is doing and since when it has had work without
// making progress. Loops write it on every turn; the watchdog reads it.
type watchState struct {
	mu        sync.Mutex
	doing     string
	busySince time.Time // zero while there is nothing to do
}

// set says what the loop is about to do that may take a while; the loop
// counts as busy from now if it was not already.
func (s *watchState) set(doing string) {
	s.mu.Lock()
	s.doing = doing
	if s.busySince.IsZero() {
		s.busySince = time.Now()
	}
	s.mu.Unlock()
}

// update says what the loop waits for and whether it has work it is
// waiting to complete.
func (s *watchState) update(doing string, busy bool) {
	s.mu.Lock()
	s.doing = doing
	switch {
	case !busy:
		s.busySince = time.Time{}
	case s.busySince.IsZero():
		s.busySince = time.Now()
	}
	s.mu.Unlock()
}

// progressed says the loop's work moved on (an attempt finished).
func (s *watchState) progressed() {
	s.mu.Lock()
	if !s.busySince.IsZero() {
		s.busySince = time.Now()
	}
	s.mu.Unlock()
}

func (s *watchState) read() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doing, s.busySince
}

// stall is the watchdog's finding: the parts that have had work and made
// no progress for longer than StallAfter.
type stall struct {
	since time.Time // when the oldest stuck part last made progress
	parts []string  // "endpoint wh_…: waiting for …", oldest first
}

func (s *stall) summary(max int) string {
	parts := s.parts
	more := ""
	if len(parts) > max {
		more = fmt.Sprintf("; and %d more", len(parts)-max)
		parts = parts[:max]
	}
	return strings.Join(parts, "; ") + more
}

// watchdog looks for a dispatcher that has work and makes no progress: a
// stall must never be silent. It logs what each stuck part waits on, sets
// the stalled gauge and makes Stalled (hence /readyz) fail, so that an
// orchestrator restarts the node; a restart loses nothing, since every
// unfinished delivery is still pending in the database.
func (d *Dispatcher) watchdog(ctx context.Context) {
	every := min(d.cfg.StallAfter/4, 5*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	var lastLog time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		s := d.findStall(now)
		was := d.stalled.Swap(s)
		switch {
		case s != nil:
			d.metrics.DispatcherStalled.Set(1)
			if was == nil || now.Sub(lastLog) >= d.cfg.StallAfter {
				lastLog = now
				if was == nil {
					d.metrics.DispatcherStalls.Inc()
				}
				d.log.Error("dispatcher stalled: work is waiting and nothing progresses; /readyz fails until it recovers",
					"stalled_for", now.Sub(s.since).Round(time.Second).String(), "stuck", len(s.parts), "waiting_on", s.summary(20))
			}
		case was != nil:
			d.metrics.DispatcherStalled.Set(0)
			d.log.Info("dispatcher recovered from a stall", "stalled_for", now.Sub(was.since).Round(time.Second).String())
		}
	}
}

// findStall returns the parts stuck for longer than StallAfter, or nil.
func (d *Dispatcher) findStall(now time.Time) *stall {
	type stuck struct {
		since time.Time
		what  string
	}
	var found []stuck
	check := func(name string, ws *watchState) {
		doing, since := ws.read()
		if !since.IsZero() && now.Sub(since) > d.cfg.StallAfter {
			found = append(found, stuck{since, fmt.Sprintf("%s: %s (for %s)", name, doing, now.Sub(since).Round(time.Second))})
		}
	}
	check("claim loop", &d.claimWatch)
	if n := d.completer.backlog(); n > 0 {
		last := time.Unix(0, d.completer.progress.Load())
		if now.Sub(last) > d.cfg.StallAfter {
			what := fmt.Sprintf("completer: %d attempt results not written (for %s)", n, now.Sub(last).Round(time.Second))
			if e := d.completer.lastErr.Load(); e != nil {
				what += "; last error: " + *e
			}
			found = append(found, stuck{last, what})
		}
	}
	if n := d.fetcher.backlog(); n > 0 {
		last := time.Unix(0, d.fetcher.progress.Load())
		if now.Sub(last) > d.cfg.StallAfter {
			found = append(found, stuck{last, fmt.Sprintf("fetcher: %d reads of due deliveries waiting (for %s)", n, now.Sub(last).Round(time.Second))})
		}
	}
	d.mu.Lock()
	for id, w := range d.workers {
		check("endpoint "+id, &w.watch)
	}
	d.mu.Unlock()
	if len(found) == 0 {
		return nil
	}
	slices.SortFunc(found, func(a, b stuck) int { return a.since.Compare(b.since) })
	s := &stall{since: found[0].since}
	for _, f := range found {
		s.parts = append(s.parts, f.what)
	}
	return s
}

// Stalled reports an error while the watchdog finds the dispatcher stalled,
// naming what it waits on; /readyz fails with it.
func (d *Dispatcher) Stalled(context.Context) error {
	s := d.stalled.Load()
	if s == nil {
		return nil
	}
	return errors.New("dispatcher stalled for " + time.Since(s.since).Round(time.Second).String() + ": " + s.summary(3))
}

// errorLog logs an error at most once per interval per message, with how
// many were suppressed meanwhile: a database that refuses every write must
// be loud, but not four lines a second.
type errorLog struct {
	d        *Dispatcher
	interval time.Duration
	mu       sync.Mutex
	last     map[string]*errorSeen
}

type errorSeen struct {
	at         time.Time
	suppressed int
}

func (e *errorLog) Error(msg string, args ...any) {
	now := time.Now()
	e.mu.Lock()
	seen := e.last[msg]
	if seen != nil && now.Sub(seen.at) < e.interval {
		seen.suppressed++
		e.mu.Unlock()
		return
	}
	suppressed := 0
	if seen != nil {
		suppressed = seen.suppressed
	}
	e.last[msg] = &errorSeen{at: now}
	e.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "repeated", suppressed)
	}
	e.d.log.Error(msg, args...)
}
