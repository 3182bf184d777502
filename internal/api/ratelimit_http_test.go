package api_test

import (
	"net/http"
	"strconv"
	"testing"
)

func TestRateLimitPerKey(t *testing.T) {
	t.Parallel()
	b := setupWith(t, options{rate: 1, burst: 5})
	for i := range 5 {
		st, env := b.do(t, "GET", "/v1/webhooks", b.A.Read, nil)
		ok(t, st, env, http.StatusOK)
		_ = i
	}
	st, env := b.do(t, "GET", "/v1/webhooks", b.A.Read, nil)
	wantError(t, st, env, http.StatusTooManyRequests, "retry")
	if ra, err := strconv.Atoi(env.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Fatalf("Retry-After = %q, want whole seconds until a token is back", env.Header.Get("Retry-After"))
	}
	// Other keys, and the operator, are unaffected.
	st, env = b.do(t, "GET", "/v1/webhooks", b.A.Full, nil)
	ok(t, st, env, http.StatusOK)
	for range 10 {
		st, env = b.do(t, "GET", "/v1/webhooks?account_id="+b.A.ID, b.Operator, nil)
		ok(t, st, env, http.StatusOK)
	}
}

func TestAuthSchemeCaseAndChallenge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	req, _ := http.NewRequest("GET", b.URL+"/v1/webhooks", nil)
	req.Header.Set("Authorization", "bearer "+b.A.Read)
	st, env := b.roundTrip(t, req)
	ok(t, st, env, http.StatusOK)
	st, env = b.do(t, "GET", "/v1/webhooks", "", nil)
	wantError(t, st, env, http.StatusUnauthorized)
	if env.Header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without a WWW-Authenticate challenge")
	}
}
