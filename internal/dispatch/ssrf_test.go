package dispatch_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/hookrelay/hookrelay/internal/ssrf"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// rebinder answers a public address the first time (the check at
// creation) and loopback afterwards (at delivery): DNS rebinding.
type rebinder struct{ calls atomic.Int32 }

func (r *rebinder) LookupNetIP(_ context.Context, _, _ string) ([]netip.Addr, error) {
	if r.calls.Add(1) == 1 {
		return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// TestRebindingRefusedAtConnect: an endpoint that passed the URL check at
// creation and then resolves to loopback is refused when the dispatcher
// dials; the refusal and its rule are recorded on the attempt, and nothing
// reaches a receiver on loopback.
func TestRebindingRefusedAtConnect(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	receiver := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	// Listen on loopback port 443 when we may, so that only the guard stands
	// between the request and the receiver; elsewhere the error still
	// proves the dial was refused before connecting.
	if l, err := net.Listen("tcp", "127.0.0.1:443"); err == nil {
		receiver.Listener.Close()
		receiver.Listener = l
	}
	receiver.StartTLS()
	defer receiver.Close()

	res := &rebinder{}
	guard := ssrf.New(ssrf.Options{Resolver: res})
	const url = "https://hooks.rebind.example/webhooks"
	if err := guard.CheckURL(context.Background(), url); err != nil {
		t.Fatalf("creation-time check refused the public answer: %v", err)
	}
	h := setup(t, options{guard: guard})
	ep, _ := h.endpoint(url)
	id := deliveryID(h.publish(1)[0], h, ep)
	d := h.waitStatus(ep, id, 1, webhook.StatusPending)
	if d.LastError != "destination resolves to a loopback address (127.0.0.0/8)" || d.LastStatusCode != 0 {
		t.Fatalf("attempt recorded %q (status %d), want the loopback refusal", d.LastError, d.LastStatusCode)
	}
	if hits.Load() != 0 {
		t.Fatal("the loopback receiver was reached")
	}
}
