package dispatch

import (
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
)

// Breaker pauses an endpoint whose recent attempts all fail, so a dead
// receiver is probed instead of hammered, and deliveries waiting behind it
// keep their retries for when it recovers.
//
// Closed: attempts flow. Threshold failed attempts in a row trip it: Open
// until a cool-down passes (Cooldown, doubling with each trip in a row, at
// most MaxCooldown). Then half-open: one probe attempt; success closes it,
// failure opens it again for longer.
type Breaker struct {
	Threshold   int
	Cooldown    time.Duration
	MaxCooldown time.Duration
}

func (b *Breaker) defaults() {
	if b.Threshold <= 0 {
		b.Threshold = 5
	}
	if b.Cooldown <= 0 {
		b.Cooldown = 30 * time.Second
	}
	if b.MaxCooldown < b.Cooldown {
		b.MaxCooldown = max(b.Cooldown, 30*time.Minute)
	}
}

type breakerState int

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

func (b Breaker) state(h store.EndpointHealth, now time.Time) breakerState {
	switch {
	case h.BreakerOpenUntil == nil:
		return breakerClosed
	case h.BreakerOpenUntil.After(now):
		return breakerOpen
	}
	return breakerHalfOpen
}

// record applies one attempt's outcome and reports whether it tripped.
func (b Breaker) record(h store.EndpointHealth, ok bool, now time.Time) (store.EndpointHealth, bool) {
	if ok {
		h.ConsecutiveFailures, h.BreakerTrips, h.BreakerOpenUntil = 0, 0, nil
		return h, false
	}
	h.ConsecutiveFailures++
	switch b.state(h, now) {
	case breakerOpen:
		// A request started before the trip: it adds nothing new.
		return h, false
	case breakerClosed:
		if h.ConsecutiveFailures < b.Threshold {
			return h, false
		}
	}
	h.BreakerTrips++
	cool := b.Cooldown << min(h.BreakerTrips-1, 20)
	if cool > b.MaxCooldown || cool <= 0 {
		cool = b.MaxCooldown
	}
	until := now.Add(cool)
	h.BreakerOpenUntil = &until
	return h, true
}

// AutoDisable is the rule that disables an endpoint whose deliveries keep
// exhausting their retries: Failures failed deliveries in a row and no
// success for After (counted from creation when it never succeeded).
type AutoDisable struct {
	Failures int
	After    time.Duration
}

func (a *AutoDisable) defaults() {
	if a.Failures <= 0 {
		a.Failures = 5
	}
	if a.After <= 0 {
		a.After = 24 * time.Hour
	}
}

// reason returns why the endpoint must be disabled now, or "".
func (a AutoDisable) reason(h store.EndpointHealth, created, now time.Time) string {
	if h.FailedDeliveries < a.Failures {
		return ""
	}
	since := created
	if h.LastSuccessAt != nil {
		since = *h.LastSuccessAt
	}
	if now.Sub(since) < a.After {
		return ""
	}
	what := "since it was created"
	if h.LastSuccessAt != nil {
		what = "since " + h.LastSuccessAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%d deliveries in a row exhausted their retries, with no successful delivery %s", h.FailedDeliveries, what)
}

// reasonGone is recorded when a receiver answers 410 (Standard Webhooks:
// the receiver asks not to be sent to any more).
const reasonGone = "the endpoint answered 410 Gone"
