package api

import (
	"testing"
	"time"
)

func TestKeyLimiter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := newKeyLimiter(2, 3) // 2 per second, bursts of 3
	for i := range 3 {
		if ok, _ := k.allow("key_a", now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := k.allow("key_a", now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th request: ok=%v wait=%v, want refused for 500ms", ok, wait)
	}
	if ok, _ := k.allow("key_b", now); !ok {
		t.Fatal("another key shares the bucket")
	}
	if ok, _ := k.allow("key_a", now.Add(499*time.Millisecond)); ok {
		t.Fatal("a refused request consumed no token, so none is back before 500ms")
	}
	if ok, _ := k.allow("key_a", now.Add(500*time.Millisecond)); !ok {
		t.Fatal("a token should be back after 500ms")
	}
	if newKeyLimiter(0, 0) != nil {
		t.Fatal("rate 0 should disable limiting")
	}
	if ok, _ := (*keyLimiter)(nil).allow("x", now); !ok {
		t.Fatal("a nil limiter refuses")
	}
}
