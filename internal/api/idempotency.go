package api

import (
	"bytes"
	"context"
	"crypto/sha256"
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
// running is 409. Keys live in the database, so this holds across restarts
// and across nodes. Only responses that completed (< 500) are kept: after
// a server error the client may retry with the same key.
const (
	idempotencyTTL = 24 * time.Hour
	// idempotencyStale is when a key whose request never finished (its
	// process died) may be taken over: longer than any request may run.
	idempotencyStale = 2 * time.Minute
)

func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, c caller, key string, run func(http.ResponseWriter)) {
	if aerr := checkIdentifier("Idempotency-Key", key, true); aerr != nil {
		writeError(w, aerr)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBatchBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, tooLarge(maxBatchBodyBytes))
			return
		}
		writeError(w, errorf(http.StatusBadRequest, "invalid_request", "could not read the request body: %v", err))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	h := sha256.New()
	for _, part := range []string{r.Method, r.URL.Path, r.URL.RawQuery} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(body)
	k := store.IdempotencyKey{Scope: c.key.ID, Key: key}
	prior, err := s.Store.IdempotencyBegin(r.Context(), store.IdempotencyBeginParams{
		IdempotencyKey: k, Fingerprint: h.Sum(nil), Now: s.Clock.Now(), StaleAfter: idempotencyStale,
	})
	switch {
	case errors.Is(err, webhook.ErrConflict):
		writeError(w, errorf(http.StatusConflict, "idempotency_in_progress", "a request with this Idempotency-Key is still in progress; retry later"))
		return
	case err != nil:
		writeError(w, s.storeError(r, err))
		return
	case prior != nil && prior.Mismatch:
		writeError(w, errorf(http.StatusUnprocessableEntity, "idempotency_mismatch",
			"this Idempotency-Key was used with a different request; use a new key for a new request"))
		return
	case prior != nil:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(prior.Status)
		_, _ = w.Write(prior.Body)
		return
	}

	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	run(rec)
	// Stored even if the client went away: its retry must find the answer.
	ctx := context.WithoutCancel(r.Context())
	if rec.status >= 500 {
		if err := s.Store.IdempotencyAbort(ctx, k); err != nil {
			s.Log.Error("release idempotency key", "err", err)
		}
		return
	}
	if err := s.Store.IdempotencyComplete(ctx, store.IdempotencyCompleteParams{
		IdempotencyKey: k, Status: rec.status, Body: rec.body.Bytes(), Now: s.Clock.Now(),
	}); err != nil {
		s.Log.Error("store idempotent response", "status", strconv.Itoa(rec.status), "err", err)
	}
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
