package bench

import (
	"fmt"
	"sort"
	"strings"
)

// IsolationResult is the isolation scenario: the healthy endpoints'
// latency without and with a dead and a refusing endpoint.
type IsolationResult struct {
	Healthy         int              `json:"healthy_endpoints"`
	HealthyRate     float64          `json:"healthy_events_per_sec"` // the bad endpoints get rate/healthy each on top
	Duration        string           `json:"duration"`
	DeliveryTimeout string           `json:"delivery_timeout,omitempty"` // serve's, when set by flag
	PublishMode     string           `json:"publish_mode"`
	Phases          []IsolationPhase `json:"phases"`
	// P99Ratio is the healthy p99 with the bad endpoints over the healthy
	// p99 without them; GoalMet is P99Ratio <= Goal.
	P99Ratio float64 `json:"p99_ratio"`
	Goal     float64 `json:"goal"`
	GoalMet  bool    `json:"goal_met"`
}

// IsolationPhase is one phase, on its own database and serve process.
type IsolationPhase struct {
	Name    string        `json:"name"`
	Publish PublishResult `json:"publish"` // the healthy endpoints' events
	// Delivery is what the healthy receivers saw; its first-attempt
	// latency is the figure compared.
	Delivery DeliveryResult `json:"delivery"`
	// Early is the healthy latency of events published in the first
	// earlyWindow, while the bad endpoints' breakers are still closed.
	Early        Latency      `json:"early_latency"`
	Dead         *BadEndpoint `json:"dead,omitempty"`
	Refused      *BadEndpoint `json:"refused,omitempty"`
	BreakerTrips *float64     `json:"breaker_trips,omitempty"` // hookrelay_breaker_trips_total at the end
	Serve        ServeResult  `json:"serve"`
}

// BadEndpoint is what a bad endpoint was sent and what hookrelay recorded.
type BadEndpoint struct {
	WebhookID    string        `json:"webhook_id"`
	URL          string        `json:"url"`
	Publish      PublishResult `json:"publish"`
	Receiver     *DeadStats    `json:"receiver,omitempty"`      // the dead one: requests it got
	StillRefused bool          `json:"still_refused,omitempty"` // the refused one: checked at the end
	Log          DeliveryTally `json:"delivery_log"`            // GET /v1/webhooks/{id}/deliveries
	State        WebhookState  `json:"state"`                   // GET /v1/webhooks/{id}
}

func writeIsolation(row func(k, format string, a ...any), lat func(Latency) string, res *IsolationResult) {
	timeout := res.DeliveryTimeout
	if timeout == "" {
		timeout = "serve's (environment)"
	}
	row("isolation", "%d healthy endpoints sharing %.0f events/s for %s; bad endpoints, with a healthy one's share each: one dead (never answers; --delivery-timeout %s), one refusing connections",
		res.Healthy, res.HealthyRate, res.Duration, timeout)
	row("publish mode", "%s", res.PublishMode)
	for _, ph := range res.Phases {
		p, d := ph.Publish, ph.Delivery
		row("phase: "+ph.Name, "healthy: %d of %d published (%d errors, offered %.0f/s, scheduler lag %.1f ms), %d delivered, %d duplicates, missing %d",
			p.Accepted, p.Events, p.Errors, p.OfferedRate, p.MaxLagMs, d.Unique, d.Duplicates, d.Missing)
		row("  publish→first attempt", "%s", lat(d.FirstAttempt))
		row(fmt.Sprintf("  first %s only", earlyWindow), "%s", lat(ph.Early))
		row("  publish request", "%s", lat(p.RequestLatency))
		if d.Stalled != "" {
			row("  STALLED", "%s", d.Stalled)
		}
		for _, b := range []struct {
			name string
			e    *BadEndpoint
		}{{"dead", ph.Dead}, {"refused", ph.Refused}} {
			if b.e != nil {
				row("  "+b.name+" endpoint", "%s", badLine(b.e))
			}
		}
		if ph.BreakerTrips != nil {
			row("  breaker trips", "%.0f (hookrelay_breaker_trips_total)", *ph.BreakerTrips)
		}
		row("  serve", "peak RSS (VmHWM) %.1f MiB, CPU %.2f s = %.1f µs per event",
			float64(ph.Serve.PeakRSSBytes)/mib, ph.Serve.CPUSeconds, ph.Serve.CPUMicrosPerEvent)
	}
	if res.P99Ratio > 0 {
		verdict := "NOT met"
		if res.GoalMet {
			verdict = "met"
		}
		row("healthy p99 ratio", "%.2f × (with bad / healthy only; goal ≤ %.2f: %s)", res.P99Ratio, res.Goal, verdict)
	}
}

func badLine(b *BadEndpoint) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%d events published", b.Publish.Accepted)
	if r := b.Receiver; r != nil {
		fmt.Fprintf(&s, "; receiver got %d requests (%d deliveries), held p50 %.0f ms before the client gave up",
			r.Requests, r.DeliveryIDs, r.Held.P50)
	}
	if b.StillRefused {
		s.WriteString("; port still refuses")
	}
	fmt.Fprintf(&s, "; log: %d attempts recorded on %d of %d deliveries", b.Log.Attempts, b.Log.Attempted, b.Log.Deliveries)
	statuses := make([]string, 0, len(b.Log.ByStatus))
	for k, v := range b.Log.ByStatus {
		statuses = append(statuses, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(statuses)
	fmt.Fprintf(&s, " (%s); endpoint %s", strings.Join(statuses, ", "), b.State.Status)
	if b.Log.LastError != "" {
		fmt.Fprintf(&s, "; last error %q", truncateString(b.Log.LastError, 80))
	}
	return s.String()
}
