package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// Idempotency-Key handling (SPEC §3): a repeat of a POST with the same key
// and the same request gets the first response byte for byte, for 24 h; the
// same key with another request is 422; a repeat while the first is still
// running is 409 with Retry-After. Keys live in the database, so this holds
// across restarts and across nodes.
//
// Only answers below 400 are kept. A 4xx is given before anything changes
// (validation, a missing object, a state conflict), so the key stays free
// for the corrected request (Stripe's rule); after a 5xx the client may
// retry with the same key too.
//
// Stored answers are sealed (they hold secrets and API keys shown once),
// and the request fingerprint is keyed (a body may hold a password), both
// under keys derived from the encryption key.
//
// A key in progress is held by this process (Deps.Owner): once the process
// is gone — stopped, crashed, restarted — the key is free at once.
const (
	idempotencyTTL = 24 * time.Hour
	// idempotencyStale is when a key begun by a process that recorded no
	// owner (an older version) may be taken over.
	idempotencyStale = 2 * time.Minute
	// idempotencyRetryAfter is what a 409 for a request still running
	// asks the client to wait, in seconds: most requests finish sooner.
	idempotencyRetryAfter = 1
)

// Owner is this process as the holder of the keys it has in progress
// (liveness.Tracker).
type Owner interface {
	ID() string
	// AliveSince is the oldest heartbeat of a process still alive.
	AliveSince() time.Time
}

func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, c caller, key string, run func(http.ResponseWriter)) {
	if aerr := checkIdentifier("Idempotency-Key", key, true); aerr != nil {
		writeError(w, aerr)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBatchBodyBytes))
	if err != nil {
		writeError(w, bodyReadError(err, maxBatchBodyBytes))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	k := store.IdempotencyKey{Scope: c.key.ID, Key: key}
	owner, aliveSince := "", time.Time{}
	if s.Owner != nil {
		owner, aliveSince = s.Owner.ID(), s.Owner.AliveSince()
	}
	prior, err := s.Store.IdempotencyBegin(r.Context(), store.IdempotencyBeginParams{
		IdempotencyKey: k, Owner: owner, Fingerprint: s.Fingerprint(r.Method, r.URL.Path, r.URL.RawQuery, body), Now: s.Clock.Now(),
		AliveSince: aliveSince, StaleAfter: idempotencyStale,
	})
	switch {
	case errors.Is(err, webhook.ErrConflict):
		e := errorf(http.StatusConflict, "idempotency_in_progress", "a request with this Idempotency-Key is still in progress; retry later")
		e.retryAfter = idempotencyRetryAfter
		writeError(w, e)
		return
	case err != nil:
		writeError(w, s.storeError(r, err))
		return
	case prior != nil && prior.Mismatch:
		writeError(w, errorf(http.StatusUnprocessableEntity, "idempotency_mismatch",
			"this Idempotency-Key was used with a different request; use a new key for a new request"))
		return
	case prior != nil:
		stored, err := s.replies.Open(prior.Body, replyAAD(k))
		if err != nil {
			s.Log.Error("open a stored idempotent response (was the encryption key changed?)", "err", err)
			writeError(w, errorf(http.StatusInternalServerError, "internal_error", "internal error"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(prior.Status)
		_, _ = w.Write(stored)
		return
	}

	// Stored or released even if the client went away (its retry must
	// find the answer) or the handler panicked (the key must not stay
	// held by a live process forever).
	ctx := context.WithoutCancel(r.Context())
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	completed := false
	defer func() {
		if completed {
			return
		}
		if err := s.Store.IdempotencyAbort(ctx, store.IdempotencyAbortParams{IdempotencyKey: k, Owner: owner}); err != nil {
			s.Log.Error("release idempotency key", "err", err)
		}
	}()
	run(rec)
	if rec.status >= 400 {
		return
	}
	completed = true
	if err := s.Store.IdempotencyComplete(ctx, store.IdempotencyCompleteParams{
		IdempotencyKey: k, Owner: owner, Status: rec.status, Body: s.replies.Seal(rec.body.Bytes(), replyAAD(k)), Now: s.Clock.Now(),
	}); err != nil {
		s.Log.Error("store idempotent response", "status", strconv.Itoa(rec.status), "err", err)
	}
}

// Fingerprint is what an Idempotency-Key is bound to: the request's
// method, path, query and body, authenticated under a key derived from the
// encryption key, so that the database never holds a plain hash of a body
// (which may carry a password).
func (s *Server) Fingerprint(method, path, rawQuery string, body []byte) []byte {
	var b bytes.Buffer
	for _, part := range []string{method, path, rawQuery} {
		b.WriteString(part)
		b.WriteByte(0)
	}
	b.Write(body)
	return s.fingerprints.MAC(b.Bytes())
}

// replyAAD binds a sealed answer to its key, so that it cannot be
// replayed under another.
func replyAAD(k store.IdempotencyKey) []byte {
	return []byte("idempotency\x00" + k.Scope + "\x00" + k.Key)
}

// recorder passes a response through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
