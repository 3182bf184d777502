package api

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyLimiter is a token bucket per API key. It lives in each process: with
// several nodes a key's allowance is per node, which bounds abuse without
// a shared counter in the database on every request.
type keyLimiter struct {
	limit rate.Limit
	burst int

	mu    sync.Mutex
	m     map[string]*limiterEntry
	calls int
}

type limiterEntry struct {
	lim  *rate.Limiter
	last time.Time
}

// idleEviction drops buckets of keys unused this long; a full bucket is
// what a new one starts as, so forgetting it changes nothing.
const idleEviction = 10 * time.Minute

func newKeyLimiter(perSecond float64, burst int) *keyLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = max(1, int(math.Ceil(2*perSecond)))
	}
	return &keyLimiter{limit: rate.Limit(perSecond), burst: burst, m: map[string]*limiterEntry{}}
}

// allow takes a token for key; when none is left it reports how long until
// one is.
func (k *keyLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if k == nil {
		return true, 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls++
	if k.calls%4096 == 0 {
		for id, e := range k.m {
			if now.Sub(e.last) > idleEviction {
				delete(k.m, id)
			}
		}
	}
	e := k.m[key]
	if e == nil {
		e = &limiterEntry{lim: rate.NewLimiter(k.limit, k.burst)}
		k.m[key] = e
	}
	e.last = now
	r := e.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
