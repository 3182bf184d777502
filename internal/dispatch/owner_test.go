package dispatch_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/dispatch"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// TestOwnerActionIsTheProbe: after an endpoint's breaker opened, an
// owner who fixed the receiver and presses Replay, Recover or Send test
// event sees it sent at once, not after the cool-down (up to 30 min after
// repeated trips); its success closes the breaker. The fake clock never
// moves here, so nothing but the action can make the breaker let it go.
func TestOwnerActionIsTheProbe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		act  func(h *harness, ep string, failed []webhook.Delivery) int // requests the action should cause
	}{
		{"replay", func(h *harness, ep string, failed []webhook.Delivery) int {
			if _, err := h.store.DeliveryReplay(h.ctx, store.DeliveryReplayParams{AccountID: h.account, EndpointID: ep,
				ID: failed[0].ID, Now: h.clock.Now()}); err != nil {
				t.Fatal(err)
			}
			return 1
		}},
		{"recover", func(h *harness, ep string, failed []webhook.Delivery) int {
			n, err := h.store.DeliveriesRecover(h.ctx, store.DeliveriesRecoverParams{AccountID: h.account, EndpointID: ep,
				Since: t0.Add(-time.Hour), Now: h.clock.Now()})
			if err != nil || n != len(failed) {
				t.Fatalf("recover = %d, %v", n, err)
			}
			return n // the first is the probe; its success lets the rest go
		}},
		{"send test event", func(h *harness, ep string, failed []webhook.Delivery) int {
			if _, err := h.store.DeliveryCreateTest(h.ctx, store.DeliveryCreateTestParams{AccountID: h.account, EndpointID: ep,
				EventID: "evt_probe", DeliveryID: "dlv_probe", Data: []byte(`{}`), Now: h.clock.Now()}); err != nil {
				t.Fatal(err)
			}
			return 1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var healthy atomic.Bool
			rc, srv := newRecorder(func(int, int) int {
				if healthy.Load() {
					return 200
				}
				return 500
			})
			defer srv.Close()
			h := setup(t, options{cfg: dispatch.Config{
				MaxInFlightPerEndpoint: 1,
				Policy:                 dispatch.Policy{Delays: []time.Duration{}}, // one attempt: a failure is final
				Breaker:                dispatch.Breaker{Threshold: 3, Cooldown: 30 * time.Minute, MaxCooldown: time.Hour},
			}})
			ep, _ := h.endpoint(srv.URL)
			h.publish(3)
			eventually(t, "3 failed deliveries", func() bool {
				n, err := countDeliveries(h, webhook.StatusFailed)
				return err == nil && n == 3
			})
			if e := h.endpointState(ep); e.Status != webhook.EndpointActive {
				t.Fatalf("endpoint %s", e.Status)
			}
			quiet()
			before := rc.n()
			healthy.Store(true)
			want := tc.act(h, ep, h.deliveries(ep))
			h.d.Notify([]string{ep})
			eventually(t, "the owner's action sent at once", func() bool { return rc.n() == before+want })
			eventually(t, "the breaker closed by the probe's success", func() bool { return breakerClosed(h, ep) })
		})
	}
}

// breakerClosed reports whether the endpoint's stored health shows a
// closed breaker.
func breakerClosed(h *harness, ep string) bool {
	c, err := h.store.EndpointReload(h.ctx, store.EndpointReloadParams{EndpointID: ep, Now: h.clock.Now()})
	if err != nil {
		h.t.Fatal(err)
	}
	return c.Health.BreakerOpenUntil == nil && c.Health.ConsecutiveFailures == 0
}
