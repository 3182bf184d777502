package dispatch

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Policy is the retry schedule: the delay after each failed attempt. With
// n delays a delivery gets n+1 attempts.
type Policy struct {
	Delays []time.Duration
	// Jitter spreads retries by ±this fraction so that an endpoint's
	// failures do not come back as one burst.
	Jitter float64
	// Rand returns a float in [0,1); nil uses math/rand/v2.
	Rand func() float64
}

// DefaultDelays is SPEC §2's schedule: five attempts in all.
var DefaultDelays = []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour}

// ParseSchedule reads "1m,5m,30m,2h".
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		d, err := time.ParseDuration(part)
		if err != nil {
			return nil, fmt.Errorf("retry schedule %q: %w", s, err)
		}
		if d <= 0 {
			return nil, fmt.Errorf("retry schedule %q: delays must be positive", s)
		}
		out = append(out, d)
	}
	if len(out) > 20 {
		return nil, fmt.Errorf("retry schedule %q: at most 20 retries", s)
	}
	return out, nil
}

// MaxAttempts is how many attempts a delivery gets before it fails.
func (p Policy) MaxAttempts() int { return len(p.Delays) + 1 }

// Next returns the delay before the next attempt after attempt number n
// (1-based, counted since the schedule started) failed, and false when
// the schedule is exhausted. retryAfter > 0 is the receiver's Retry-After
// (only honoured on 429 and 503 by the caller): it is obeyed, clamped to
// between the scheduled delay and twice it, so a receiver can slow us down
// but neither stall a delivery for days nor make us hammer it.
func (p Policy) Next(n int, retryAfter time.Duration) (time.Duration, bool) {
	if n < 1 || n > len(p.Delays) {
		return 0, false
	}
	base := p.Delays[n-1]
	if retryAfter > 0 {
		return min(max(retryAfter, base), 2*base), true
	}
	r := p.Rand
	if r == nil {
		r = rand.Float64
	}
	f := 1 + p.Jitter*(2*r()-1)
	return time.Duration(float64(base) * f), true
}
