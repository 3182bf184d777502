package webhook

import "fmt"

// ConflictError is a request that conflicts with the state it met: a
// second primary owner, a disabled endpoint asked to send, a name taken.
// Message is written for the caller and names no database detail; Err, when
// set, is the driver's error behind it, for logs. errors.Is(err,
// ErrConflict) holds for it.
type ConflictError struct {
	Message string
	Err     error
}

// Conflict returns a ConflictError with a formatted message.
func Conflict(format string, args ...any) error {
	return &ConflictError{Message: fmt.Sprintf(format, args...)}
}

func (e *ConflictError) Error() string { return "conflict: " + e.Message }

func (e *ConflictError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrConflict) hold.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
