package dispatch

import (
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
)

func TestBreaker(t *testing.T) {
	t.Parallel()
	b := Breaker{Threshold: 3, Cooldown: 10 * time.Second, MaxCooldown: 25 * time.Second}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var h store.EndpointHealth
	steps := []struct {
		name      string
		advance   time.Duration
		ok        bool
		tripped   bool
		state     breakerState // after the step
		openedFor time.Duration
	}{
		{"fail 1", 0, false, false, breakerClosed, 0},
		{"fail 2", 0, false, false, breakerClosed, 0},
		{"fail 3 trips", 0, false, true, breakerOpen, 10 * time.Second},
		{"in-flight failure while open", time.Second, false, false, breakerOpen, 9 * time.Second},
		{"probe fails: longer", 10 * time.Second, false, true, breakerOpen, 20 * time.Second},
		{"probe fails again: capped", 20 * time.Second, false, true, breakerOpen, 25 * time.Second},
		{"probe succeeds: closed", 25 * time.Second, true, false, breakerClosed, 0},
		{"one failure after closing", 0, false, false, breakerClosed, 0},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		var tripped bool
		h, tripped = b.record(h, s.ok, now)
		if tripped != s.tripped {
			t.Fatalf("%s: tripped = %v", s.name, tripped)
		}
		if got := b.state(h, now); got != s.state {
			t.Fatalf("%s: state = %v, want %v", s.name, got, s.state)
		}
		if s.openedFor > 0 && h.BreakerOpenUntil.Sub(now) != s.openedFor {
			t.Fatalf("%s: open for %v, want %v", s.name, h.BreakerOpenUntil.Sub(now), s.openedFor)
		}
	}
	if h.BreakerTrips != 0 || h.ConsecutiveFailures != 1 {
		t.Fatalf("after closing: %+v", h)
	}
}

func TestAutoDisable(t *testing.T) {
	t.Parallel()
	a := AutoDisable{Failures: 5, After: 24 * time.Hour}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	success := created.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		failed  int
		success *time.Time
		now     time.Time
		disable bool
	}{
		{"4 failed, a day without success", 4, &success, success.Add(48 * time.Hour), false},
		{"5 failed, exactly 24 h since success", 5, &success, success.Add(24 * time.Hour), true},
		{"5 failed, just under 24 h", 5, &success, success.Add(24*time.Hour - time.Millisecond), false},
		{"5 failed, never succeeded, new endpoint", 5, nil, created.Add(3 * time.Hour), false},
		{"5 failed, never succeeded, a day old", 5, nil, created.Add(25 * time.Hour), true},
	} {
		h := store.EndpointHealth{FailedDeliveries: tc.failed, LastSuccessAt: tc.success}
		got := a.reason(h, created, tc.now)
		if (got != "") != tc.disable {
			t.Errorf("%s: reason = %q, want disable=%v", tc.name, got, tc.disable)
		}
		if got != "" && !strings.Contains(got, "5 deliveries in a row") {
			t.Errorf("%s: reason %q does not say why", tc.name, got)
		}
	}
}
