package store

import (
	"errors"
	"sync/atomic"
)

// ErrUnavailable matches (errors.Is) a failure of the storage itself rather
// than of the request: a full disk, a read-only or unreachable database.
// Nothing was written; the same request may succeed once the operator has
// fixed the storage, so the API answers 503 with Retry-After and never
// acknowledges.
var ErrUnavailable = errors.New("storage unavailable")

// UnavailableError is what drivers return for ErrUnavailable. Reason says
// what is wrong in words fit for a client (no file names, no addresses);
// Err is the driver's error, for logs.
type UnavailableError struct {
	Reason string
	Err    error
	// Reopen tells the driver that its connection may be what is broken
	// (opened read-only, or its file gone) and is worth opening afresh.
	Reopen bool
}

func (e *UnavailableError) Error() string {
	return "storage unavailable: " + e.Reason + ": " + e.Err.Error()
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) hold.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// WriteHealth remembers whether the last write failed for want of storage,
// so that readiness reports it at once instead of waiting for the next
// write to fail. Drivers pass every write's outcome to Observe; a success
// clears it, which is how readiness recovers by itself.
type WriteHealth struct {
	err atomic.Pointer[UnavailableError]
}

// Observe records a write's outcome. Errors that are not ErrUnavailable
// (a conflict, a missing row) say nothing about the storage and are
// ignored.
func (h *WriteHealth) Observe(err error) {
	var ue *UnavailableError
	switch {
	case err == nil:
		if h.err.Load() != nil {
			h.err.Store(nil)
		}
	case errors.As(err, &ue):
		h.err.Store(ue)
	}
}

// Err is the last write's storage failure, or nil when it succeeded.
func (h *WriteHealth) Err() *UnavailableError { return h.err.Load() }
