package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// heldBody serves head, tells read once all of it was read, then waits for
// release before serving tail.
type heldBody struct {
	head, tail    *strings.Reader
	read, release chan struct{}
	told          bool
}

func (h *heldBody) Read(p []byte) (int, error) {
	if h.head.Len() > 0 {
		return h.head.Read(p)
	}
	if !h.told {
		h.told = true
		close(h.read)
		<-h.release
	}
	return h.tail.Read(p)
}

// TestBodyBudget: while bodies in flight hold the memory allowed for them,
// another request with a body is refused with 503 and Retry-After, before
// anything changes; once they are done it goes through.
func TestBodyBudget(t *testing.T) {
	t.Parallel()
	b := setupWith(t, options{bodyMemory: 1 << 20})
	var head strings.Builder
	head.WriteString(`{"events":[`)
	for i := 0; head.Len() < 900<<10; i++ {
		if i > 0 {
			head.WriteByte(',')
		}
		fmt.Fprintf(&head, `{"event_type":"generation.completed","data":{"i":%d,"pad":"%s"}}`, i, strings.Repeat("x", 4000))
	}
	body := &heldBody{head: strings.NewReader(head.String()), tail: strings.NewReader(`]}`),
		read: make(chan struct{}), release: make(chan struct{})}
	req := httptest.NewRequest("POST", "/v1/events/batch", io.NopCloser(body))
	req.Header.Set("Authorization", "Bearer "+b.A.Full)
	req.Header.Set("Content-Type", "application/json")
	first := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { b.API.ServeHTTP(first, req); close(done) }()
	<-body.read // 900 KiB of the 1 MiB budget are held

	before := b.snapshot(t)
	big := fmt.Sprintf(`{"event_type":"generation.completed","data":{"pad":"%s"}}`, strings.Repeat("y", 200<<10))
	st, env := b.do(t, "POST", "/v1/events", b.A.Full, big)
	wantError(t, st, env, http.StatusServiceUnavailable, "retry")
	if env.Error.Code != "server_busy" || env.Header.Get("Retry-After") != "1" {
		t.Fatalf("%s with Retry-After %q, want server_busy and Retry-After 1", env.Raw, env.Header.Get("Retry-After"))
	}
	if b.snapshot(t) != before {
		t.Fatal("a refused request changed state")
	}

	close(body.release)
	<-done
	if first.Code != http.StatusAccepted {
		t.Fatalf("the batch in flight: %d %s", first.Code, first.Body)
	}
	st, env = b.do(t, "POST", "/v1/events", b.A.Full, big)
	ok(t, st, env, http.StatusAccepted)
}
