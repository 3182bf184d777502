package api

import (
	"errors"
	"io"
	"net/http"
	"sync"
)

// Request bodies are read into memory (a batch of up to 32 MiB is decoded,
// validated and committed as a whole), so many large ones at once could
// take the process past any memory it has. A byte budget shared by every
// request in flight bounds them: each body draws on it as it is read and
// gives back what it drew when its request ends. A request that finds the
// budget spent is answered 503 with Retry-After, before it reads more.

// errBodyBudget is what a body read returns once the budget is spent.
var errBodyBudget = errors.New("request bodies in flight use all the memory allowed for them")

// bodyRetryAfter is the Retry-After, in seconds, of a 503 for a spent
// budget: bodies in flight are committed within moments.
const bodyRetryAfter = 1

// bodyChunk is how much a body draws at a time, so that the budget's
// lock is taken once per chunk, not once per read.
const bodyChunk = 64 << 10

// byteBudget is bytes that bodies in flight may hold; nil is unlimited.
type byteBudget struct {
	mu   sync.Mutex
	used int64
	max  int64
}

func newByteBudget(max int64) *byteBudget {
	if max <= 0 {
		return nil
	}
	return &byteBudget{max: max}
}

func (b *byteBudget) tryTake(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *byteBudget) give(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// budgetedBody is a request body drawing on the budget as it is read.
type budgetedBody struct {
	io.ReadCloser
	budget *byteBudget
	held   int64 // drawn so far
	read   int64
}

func (b *budgetedBody) Read(p []byte) (int, error) {
	if need := b.read + int64(len(p)) - b.held; need > 0 {
		take := max(need, bodyChunk)
		if !b.budget.tryTake(take) {
			// A smaller read may still fit: what a request needs next is
			// often much less than its buffer.
			if need >= bodyChunk || !b.budget.tryTake(need) {
				return 0, errBodyBudget
			}
			take = need
		}
		b.held += take
	}
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	return n, err
}

// release gives back what the body drew.
func (b *budgetedBody) release() {
	if b.held > 0 {
		b.budget.give(b.held)
		b.held = 0
	}
}

// withBudget makes r's body draw on s's budget and returns the function
// that gives it back, to call when the request ends.
func (s *Server) withBudget(r *http.Request) func() {
	if s.bodies == nil || r.Body == nil || r.Body == http.NoBody {
		return func() {}
	}
	b := &budgetedBody{ReadCloser: r.Body, budget: s.bodies}
	r.Body = b
	return b.release
}

func busy() *apiError {
	e := errorf(http.StatusServiceUnavailable, "server_busy",
		"the server is reading as many request bodies as its memory allows; retry in a moment")
	e.retryAfter = bodyRetryAfter
	return e
}
