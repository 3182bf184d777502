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
// owner who fixed the receiver and presses Replay, Recover, Send test
// event or Deliver queued events, or disables and enables the endpoint
// again, sees it sent at once, not after the cool-down (up to 30 min after
// repeated trips); its success closes the breaker. The fake clock never
// moves here, so nothing but the action can make the breaker let it go.
func TestOwnerActionIsTheProbe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// prepare runs before the failures that open the breaker.
		prepare func(h *harness, ep string)
		act     func(h *harness, ep string, failed []webhook.Delivery) int // requests the action should cause
	}{
		{"replay", nil, func(h *harness, ep string, failed []webhook.Delivery) int {
			if _, err := h.store.DeliveryReplay(h.ctx, store.DeliveryReplayParams{AccountID: h.account, EndpointID: ep,
				ID: failed[0].ID, Now: h.clock.Now()}); err != nil {
				h.t.Fatal(err)
			}
			return 1
		}},
		{"recover", nil, func(h *harness, ep string, failed []webhook.Delivery) int {
			n, err := h.store.DeliveriesRecover(h.ctx, store.DeliveriesRecoverParams{AccountID: h.account, EndpointID: ep,
				Since: t0.Add(-time.Hour), Now: h.clock.Now()})
			if err != nil || n != len(failed) {
				h.t.Fatalf("recover = %d, %v", n, err)
			}
			return n // the first is the probe; its success lets the rest go
		}},
		{"send test event", nil, func(h *harness, ep string, failed []webhook.Delivery) int {
			if _, err := h.store.DeliveryCreateTest(h.ctx, store.DeliveryCreateTestParams{AccountID: h.account, EndpointID: ep,
				EventID: "evt_probe", DeliveryID: "dlv_probe", Data: []byte(`{}`), Now: h.clock.Now()}); err != nil {
				h.t.Fatal(err)
			}
			return 1
		}},
		{"deliver queued events", func(h *harness, ep string) {
			// Events held while the endpoint was disabled stay queued after
			// it is enabled, until the owner asks for them.
			if _, err := h.store.EndpointDisable(h.ctx, store.EndpointDisableParams{AccountID: h.account, ID: ep,
				Reason: "by hand", Now: h.clock.Now()}); err != nil {
				h.t.Fatal(err)
			}
			h.publish(2)
			if _, err := h.store.EndpointEnable(h.ctx, store.EndpointEnableParams{AccountID: h.account, ID: ep,
				Now: h.clock.Now()}); err != nil {
				h.t.Fatal(err)
			}
		}, func(h *harness, ep string, _ []webhook.Delivery) int {
			n, err := h.store.DeliveriesQueuedDeliver(h.ctx, store.DeliveriesQueuedDeliverParams{AccountID: h.account,
				EndpointID: ep, Now: h.clock.Now()})
			if err != nil || n != 2 {
				h.t.Fatalf("deliver queued = %d, %v", n, err)
			}
			return n
		}},
		{"enable endpoint", nil, func(h *harness, ep string, _ []webhook.Delivery) int {
			// Re-enabling is the owner saying the receiver works again:
			// the next event goes at once, not after the old cool-down.
			if _, err := h.store.EndpointDisable(h.ctx, store.EndpointDisableParams{AccountID: h.account, ID: ep,
				Reason: "by hand", Now: h.clock.Now()}); err != nil {
				h.t.Fatal(err)
			}
			if changed, err := h.store.EndpointEnable(h.ctx, store.EndpointEnableParams{AccountID: h.account, ID: ep,
				Now: h.clock.Now()}); err != nil || !changed {
				h.t.Fatalf("enable = %v, %v", changed, err)
			}
			h.publish(1)
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
			if tc.prepare != nil {
				tc.prepare(h, ep)
			}
			h.publish(3)
			eventually(t, "3 failed deliveries", func() bool {
				n, err := countDeliveries(h, webhook.StatusFailed)
				return err == nil && n == 3
			})
			if e := h.endpointState(ep); e.Status != webhook.EndpointActive {
				t.Fatalf("endpoint %s", e.Status)
			}
			quiet()
			if !breakerOpen(h, ep) {
				t.Fatal("the breaker is not open before the owner's action")
			}
			before := rc.n()
			healthy.Store(true)
			want := tc.act(h, ep, h.deliveries(ep))
			h.d.Notify([]string{ep})
			eventually(t, "the owner's action sent at once", func() bool { return rc.n() == before+want })
			eventually(t, "the breaker closed by the probe's success", func() bool { return breakerClosed(h, ep) })
		})
	}
}

// breakerOpen reports whether the endpoint's stored health shows an open
// breaker, holding everything back until its cool-down ends.
func breakerOpen(h *harness, ep string) bool {
	c, err := h.store.EndpointReload(h.ctx, store.EndpointReloadParams{EndpointID: ep, Now: h.clock.Now()})
	if err != nil {
		h.t.Fatal(err)
	}
	return c.Health.BreakerOpenUntil != nil && c.Health.BreakerOpenUntil.After(h.clock.Now())
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
