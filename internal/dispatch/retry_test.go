package dispatch

import (
	"testing"
	"time"
)

func TestPolicyNext(t *testing.T) {
	t.Parallel()
	fixed := func(v float64) func() float64 { return func() float64 { return v } }
	p := Policy{Delays: DefaultDelays, Jitter: 0.1}
	for _, tc := range []struct {
		name       string
		n          int
		rand       float64
		retryAfter time.Duration
		want       time.Duration
		ok         bool
	}{
		{"first retry, no jitter", 1, 0.5, 0, time.Minute, true},
		{"first retry, lowest jitter", 1, 0, 0, 54 * time.Second, true},
		{"first retry, highest jitter", 1, 0.9999999999, 0, 66 * time.Second, true},
		{"second retry", 2, 0.5, 0, 5 * time.Minute, true},
		{"third retry", 3, 0.5, 0, 30 * time.Minute, true},
		{"fourth retry", 4, 0.5, 0, 2 * time.Hour, true},
		{"fifth attempt failed: exhausted", 5, 0.5, 0, 0, false},
		{"nonsense attempt number", 0, 0.5, 0, 0, false},
		{"retry-after inside bounds", 1, 0.5, 90 * time.Second, 90 * time.Second, true},
		{"retry-after below schedule", 1, 0.5, 5 * time.Second, time.Minute, true},
		{"retry-after above twice", 1, 0.5, time.Hour, 2 * time.Minute, true},
		{"retry-after on last attempt", 5, 0.5, time.Minute, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := p
			p.Rand = fixed(tc.rand)
			got, ok := p.Next(tc.n, tc.retryAfter)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if d := got - tc.want; d > time.Millisecond || d < -time.Millisecond {
				t.Fatalf("delay = %v, want %v", got, tc.want)
			}
		})
	}
	if p.MaxAttempts() != 5 {
		t.Fatalf("MaxAttempts = %d, want 5", p.MaxAttempts())
	}
}

func TestPolicyJitterSpread(t *testing.T) {
	t.Parallel()
	p := Policy{Delays: []time.Duration{time.Minute}, Jitter: 0.1}
	lo, hi := time.Hour, time.Duration(0)
	for range 2000 {
		d, _ := p.Next(1, 0)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 54*time.Second || hi > 66*time.Second {
		t.Fatalf("jitter out of ±10%%: [%v, %v]", lo, hi)
	}
	if hi-lo < 6*time.Second {
		t.Fatalf("jitter too narrow to spread retries: [%v, %v]", lo, hi)
	}
}

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	got, err := ParseSchedule("1m, 5m,30m,2h")
	if err != nil || len(got) != 4 || got[3] != 2*time.Hour {
		t.Fatalf("ParseSchedule = %v, %v", got, err)
	}
	if got, err := ParseSchedule(""); err != nil || len(got) != 0 {
		t.Fatalf("empty schedule = %v, %v (no retries is allowed)", got, err)
	}
	for _, bad := range []string{"1m,x", "-1m", "0s"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) accepted", bad)
		}
	}
}
