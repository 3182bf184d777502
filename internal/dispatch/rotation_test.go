package dispatch_test

import (
	"github.com/hookrelay/hookrelay/internal/store/storetest"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
	"github.com/hookrelay/hookrelay/verify"
)

// TestRotationGracePeriod: during a rotation's grace period a receiver that
// knows only the old secret and one that knows only the new both verify
// every delivery; after it, only the new one does. The dispatcher holding
// the endpoint picks the new secret up without being restarted.
func TestRotationGracePeriod(t *testing.T) { storetest.OnBothDrivers(t, testRotationGracePeriod) }

func testRotationGracePeriod(t *testing.T) {
	t.Parallel()
	type got struct {
		header http.Header
		body   []byte
		at     time.Time
	}
	var mu sync.Mutex
	var requests []got
	var h *harness
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		requests = append(requests, got{r.Header.Clone(), b, h.clock.Now()})
		mu.Unlock()
	}))
	defer srv.Close()
	h = setup(t, options{})
	ep, oldSecret := h.endpoint(srv.URL)
	last := func() got {
		mu.Lock()
		defer mu.Unlock()
		return requests[len(requests)-1]
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(requests) }
	verifies := func(secret string, g got) bool {
		v, err := verify.New(secret, verify.WithClock(func() time.Time { return g.at }))
		if err != nil {
			t.Fatal(err)
		}
		return v.VerifyStandard(g.body, g.header) == nil && v.VerifyBranded(g.body, g.header) == nil
	}

	h.publish(1)
	eventually(t, "first delivery", func() bool { return count() == 1 })
	if !verifies(oldSecret, last()) {
		t.Fatal("the first delivery does not verify with the endpoint's secret")
	}

	newSecret, _ := signing.NewSecret()
	if err := h.store.EndpointRotateSecret(h.ctx, store.EndpointRotateSecretParams{AccountID: h.account, ID: ep,
		Secret: webhook.EndpointSecret{Ciphertext: h.box.Seal([]byte(newSecret), []byte(ep)), Prefix: "p"},
		Grace:  time.Hour, Now: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	h.publish(1)
	eventually(t, "delivery during the grace period", func() bool { return count() == 2 })
	g := last()
	if !verifies(oldSecret, g) || !verifies(newSecret, g) {
		t.Fatalf("during the grace period: old verifies %v, new verifies %v (headers %v)",
			verifies(oldSecret, g), verifies(newSecret, g), g.header["Webhook-Signature"])
	}

	h.clock.Advance(time.Hour + time.Second)
	h.publish(1)
	eventually(t, "delivery after the grace period", func() bool { return count() == 3 })
	g = last()
	if verifies(oldSecret, g) || !verifies(newSecret, g) {
		t.Fatalf("after the grace period: old verifies %v (want false), new verifies %v", verifies(oldSecret, g), verifies(newSecret, g))
	}

	// Rotation without grace invalidates the old secret at once.
	newest, _ := signing.NewSecret()
	if err := h.store.EndpointRotateSecret(h.ctx, store.EndpointRotateSecretParams{AccountID: h.account, ID: ep,
		Secret: webhook.EndpointSecret{Ciphertext: h.box.Seal([]byte(newest), []byte(ep)), Prefix: "p"}, Now: h.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	h.publish(1)
	eventually(t, "delivery after an immediate rotation", func() bool { return count() == 4 })
	if g = last(); verifies(newSecret, g) || !verifies(newest, g) {
		t.Fatal("an immediate rotation left the previous secret signing")
	}
}
