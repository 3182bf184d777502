// Package operations holds hookrelay's actions — create, change, toggle,
// rotate, test, replay, recover and drain endpoints; accounts, API keys,
// members and their roles; the event-type catalog — with their validation.
// The API, the dashboard and the admin CLI all call it, so a rule is
// written once and the three surfaces say the same thing when input is
// wrong.
//
// Each action finds the object in the caller's account before it looks at
// the input, so an object of another account is NotFound whatever was
// sent. Authorising the caller (an API key's scopes, a member's role) is
// the surface's job, with the rules this package exports (MayManage).
package operations

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// Limits of SPEC §4 that the actions enforce.
const (
	MaxPayloadBytes   = 256 << 10 // an event's data, and a catalog example
	MaxURLLength      = 2048
	MaxDescription    = 500
	MaxEventTypes     = 100 // per endpoint
	MaxSearch         = 200
	DefaultPageLimit  = 50
	MaxPageLimit      = 250
	MaxGraceSeconds   = 7 * 24 * 60 * 60 // a rotation's grace period: 0 to 7 days
	maxAccountName    = 200
	maxKeyName        = 100
	maxEmail          = 254
	reasonManual      = "disabled by an owner"
	testEventMessage  = "This is a test event from hookrelay."
	catalogListFooter = "GET /v1/event-types lists the catalog, and the operator adds types with hookrelay admin event-type create (or POST /v1/event-types)"
)

// Catalog answers whether an event type exists, cached (intake.Catalog).
type Catalog interface {
	Lookup(ctx context.Context, name string) (webhook.EventType, bool, error)
	Invalidate()
}

// Deps is what the actions are built from; main wires it.
type Deps struct {
	Store   store.Store
	Catalog Catalog
	Box     *secretbox.Box
	// CheckURL is the SSRF guard's early check of an endpoint URL; nil
	// skips it (the admin CLI, which creates no endpoints).
	CheckURL func(ctx context.Context, raw string) error
	// Wake tells this process's dispatcher that endpoints have due work;
	// nil when the dispatcher runs elsewhere (it then polls).
	Wake  func(endpointIDs []string)
	Clock clock.Clock
	// Metrics counts the deliveries an action drops (deleting an
	// endpoint); nil counts nothing (the admin CLI).
	Metrics *metrics.Metrics
	// SessionIdle and SessionAbsolute are the dashboard sessions'
	// lifetimes; zero takes the defaults.
	SessionIdle, SessionAbsolute time.Duration
}

// Ops performs the actions.
type Ops struct{ d Deps }

// New returns the actions over d.
func New(d Deps) *Ops {
	if d.Wake == nil {
		d.Wake = func([]string) {}
	}
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	return &Ops{d: d}
}

// Kind is what went wrong, which each surface turns into its own answer
// (an HTTP status, a page's message, an exit code).
type Kind int

const (
	Invalid   Kind = iota + 1 // the input is wrong; nothing changed
	NotFound                  // no such object in this account
	Conflict                  // the state forbids it (a disabled endpoint, the primary owner…)
	Forbidden                 // the caller's role does not allow it
)

// Error is an action's refusal. Field names the input at fault (the API's
// field name) when there is one.
type Error struct {
	Kind    Kind
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Invalidf is a refusal of the input in field.
func Invalidf(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(what string) *Error {
	return &Error{Kind: NotFound, Message: what + " not found"}
}

func forbidden(format string, args ...any) *Error {
	return &Error{Kind: Forbidden, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err's refusal, if it is one.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// storeErr turns the store's shared errors into refusals: not found names
// what was looked for; a conflict keeps the store's reason.
func storeErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, webhook.ErrNotFound):
		return notFound(what)
	case errors.Is(err, webhook.ErrConflict):
		msg := "conflict"
		if _, after, ok := strings.Cut(err.Error(), webhook.ErrConflict.Error()+": "); ok {
			msg = after
		}
		return &Error{Kind: Conflict, Message: msg}
	case errors.Is(err, store.ErrInvalidCursor):
		return Invalidf("cursor", "is not a cursor this list issued")
	}
	return err
}

// MayManage reports whether a member may change endpoints, keys and
// members: owners and the primary owner may; members only look (seed 001).
func MayManage(role string) bool {
	return role == webhook.RoleOwner || role == webhook.RolePrimaryOwner
}

// Page checks a list's limit (0 takes the default) and returns it.
func Page(limit int) (int, error) {
	if limit == 0 {
		return DefaultPageLimit, nil
	}
	return ParseLimit(strconv.Itoa(limit))
}

// ParseLimit reads a list's limit as given in a query ("" takes the
// default of 50; at most 250).
func ParseLimit(v string) (int, error) {
	if v == "" {
		return DefaultPageLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPageLimit {
		return 0, Invalidf("limit", "must be an integer from 1 to %d, got %q", MaxPageLimit, Truncate(v, 50))
	}
	return n, nil
}

// CheckSearch bounds a list's search text.
func CheckSearch(search string) error {
	if len(search) > MaxSearch {
		return Invalidf("search", "must be at most %d characters", MaxSearch)
	}
	return nil
}

// Name accepts a display name: 1-max characters once trimmed, no control
// characters.
func Name(field, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", Invalidf(field, "is required")
	}
	if n := utf8.RuneCountInString(v); n > max {
		return "", Invalidf(field, "must be at most %d characters, got %d", max, n)
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return "", Invalidf(field, "must not contain control characters")
	}
	return v, nil
}

// Truncate shortens what a message quotes back from the input.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
