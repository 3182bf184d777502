package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is every figure of a run.
type Report struct {
	Command   string    `json:"command"`
	StartedAt time.Time `json:"started_at"`
	GoVersion string    `json:"go_version"`
	OS        string    `json:"os"`
	Arch      string    `json:"arch"`
	NumCPU    int       `json:"num_cpu"`
	Settings  Settings  `json:"settings"`

	Ceiling  *CeilingResult  `json:"ceiling,omitempty"`
	Publish  *PublishResult  `json:"publish,omitempty"`
	Delivery *DeliveryResult `json:"delivery,omitempty"`
	Backlog  *BacklogResult  `json:"backlog,omitempty"`
	Sigterm  *SigtermResult  `json:"sigterm,omitempty"`
	// Isolation is the isolation scenario, which has its own phases.
	Isolation *IsolationResult `json:"isolation,omitempty"`
	// Matrix is the matrix scenario: a report per run.
	Matrix *MatrixResult `json:"matrix,omitempty"`
	Serve  *ServeResult  `json:"serve,omitempty"`

	CPUProfile      string   `json:"cpu_profile,omitempty"` // serve's CPU profile, when one was written
	BenchCPUSeconds float64  `json:"bench_cpu_seconds"`     // this process, which shares the machine
	TotalSeconds    float64  `json:"total_seconds"`
	Errors          []string `json:"errors,omitempty"`
}

// Settings are the run's parameters as used.
type Settings struct {
	Scenario        string   `json:"scenario"`
	Database        string   `json:"database"`
	Endpoints       int      `json:"endpoints"`
	Events          int      `json:"events"`
	Publishers      int      `json:"publishers"`
	Batch           int      `json:"batch"`
	InFlight        int      `json:"max_in_flight_per_endpoint"`
	ReceiverLatency string   `json:"receiver_latency"`
	DataBytes       int      `json:"data_bytes"`
	ServeArgs       []string `json:"serve_args"`
	Fanout          bool     `json:"fanout"` // every endpoint subscribes to every event
	Nodes           int      `json:"nodes"`  // serve processes on one database
}

// DeliveryResult is what the receivers saw of hookrelay's deliveries.
type DeliveryResult struct {
	Expected int64 `json:"expected"` // deliveries of the accepted events
	Counts
	Missing int64 `json:"missing"`
	// Seconds is first publish request sent → last unique delivery arrived.
	Seconds          float64 `json:"seconds"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	RatioToCeiling   float64 `json:"ratio_to_ceiling,omitempty"`
	// FirstAttempt is publish request sent → first attempt at the receiver.
	FirstAttempt Latency `json:"first_attempt_latency"`
	Stalled      string  `json:"stalled,omitempty"` // why waiting stopped early
}

// BacklogResult is the backlog scenario.
type BacklogResult struct {
	Pending             int64        `json:"pending"`
	RSSWithPendingBytes uint64       `json:"rss_with_pending_bytes"` // VmRSS after settling
	PeakRSSBytes        uint64       `json:"peak_rss_bytes"`         // VmHWM of the publishing process
	Drain               *DrainResult `json:"drain,omitempty"`
}

// DrainResult is the restart with the dispatcher on.
type DrainResult struct {
	StartupSeconds   float64 `json:"startup_seconds"` // process start → /readyz 200
	Delivered        int64   `json:"delivered"`
	Seconds          float64 `json:"seconds"` // restart → last unique delivery
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	RatioToCeiling   float64 `json:"ratio_to_ceiling,omitempty"`
	Duplicates       int64   `json:"duplicates"`
	Stalled          string  `json:"stalled,omitempty"`
	Usage            Usage   `json:"usage"`
	// CPUMicrosPerDelivery is the restarted serve's CPU per delivery.
	CPUMicrosPerDelivery float64 `json:"cpu_us_per_delivery"`
}

// ServeResult is the serve process at the end of the measured phase.
type ServeResult struct {
	Usage
	CPUMicrosPerEvent float64 `json:"cpu_us_per_event"` // publish + delivery, per accepted event
}

const mib = 1 << 20

// WriteTable prints r for people.
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	lat := func(l Latency) string {
		return fmt.Sprintf("p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms  (n=%d)", l.P50, l.P95, l.P99, l.Max, l.Count)
	}
	s := r.Settings
	row("command", "%s", r.Command)
	row("machine", "%d CPUs, %s/%s, %s, %s", r.NumCPU, r.OS, r.Arch, r.GoVersion, r.StartedAt.Format(time.RFC3339))
	shape := "spread"
	if s.Fanout {
		shape = "fan-out"
	}
	row("settings", "scenario %s, %d endpoints (%s), %d events, %d publishers, batch %d, in-flight cap %d, data %d B, receiver latency %s, %d node(s)",
		s.Scenario, s.Endpoints, shape, s.Events, s.Publishers, s.Batch, s.InFlight, s.DataBytes, s.ReceiverLatency, max(s.Nodes, 1))
	if len(s.ServeArgs) > 0 {
		row("serve args", "%s", strings.Join(s.ServeArgs, " "))
	}
	if c := r.Ceiling; c != nil {
		row("ceiling", "%.0f req/s  (%d requests, concurrency %d, %.2f s, %d errors)", c.RequestsPerSec, c.Requests, c.Concurrency, c.Seconds, c.Errors)
		row("ceiling send→arrival", "%s", lat(c.Latency))
	}
	if p := r.Publish; p != nil {
		row("publish", "%.0f events/s  (%d accepted of %d, %d requests, %d errors, %.2f s)", p.EventsPerSec, p.Accepted, p.Events, p.Requests, p.Errors, p.Seconds)
		if p.OfferedRate > 0 {
			row("offered rate", "%.0f events/s (open loop; scheduler's worst lag %.1f ms)", p.OfferedRate, p.MaxLagMs)
		}
		row("publish request", "%s", lat(p.RequestLatency))
		if p.FirstError != "" {
			row("first publish error", "%s", p.FirstError)
		}
	}
	if d := r.Delivery; d != nil {
		ratio := ""
		if d.RatioToCeiling > 0 {
			ratio = fmt.Sprintf("  = %.3f × ceiling", d.RatioToCeiling)
		} else if r.Publish != nil && r.Publish.OfferedRate > 0 {
			ratio = "  (paced by the offered rate)"
		}
		row("deliveries", "%.0f /s end to end%s  (%d of %d in %.2f s)", d.DeliveriesPerSec, ratio, d.Unique, d.Expected, d.Seconds)
		row("duplicates", "%d  (missing %d, extra ids %d, unknown %d)", d.Duplicates, d.Missing, d.Extra, d.Unknown)
		row("publish→first attempt", "%s", lat(d.FirstAttempt))
		if d.Stalled != "" {
			row("STALLED", "%s", d.Stalled)
		}
	}
	if g := r.Sigterm; g != nil {
		row("SIGTERM under load", "%.1f s after publishing, %d of %d delivered; exited in %.2f s (--shutdown-timeout %.0f s); restarted, ready in %.2f s",
			g.AfterPublishSeconds, g.DeliveredBefore, g.Expected, g.ExitSeconds, g.ShutdownTimeout, g.RestartSeconds)
	}
	if b := r.Backlog; b != nil {
		row("backlog", "%d pending: RSS %.1f MiB, peak (VmHWM) %.1f MiB while publishing", b.Pending, float64(b.RSSWithPendingBytes)/mib, float64(b.PeakRSSBytes)/mib)
		if d := b.Drain; d != nil {
			ratio := ""
			if d.RatioToCeiling > 0 {
				ratio = fmt.Sprintf("  = %.3f × ceiling", d.RatioToCeiling)
			}
			row("drain", "%.0f deliveries/s%s  (%d in %.2f s, startup %.2f s, %d duplicates)", d.DeliveriesPerSec, ratio, d.Delivered, d.Seconds, d.StartupSeconds, d.Duplicates)
			row("drain serve", "peak RSS (VmHWM) %.1f MiB, CPU %.1f s = %.1f µs per delivery",
				float64(d.Usage.PeakRSSBytes)/mib, d.Usage.CPUSeconds, d.CPUMicrosPerDelivery)
			if d.Stalled != "" {
				row("STALLED", "%s", d.Stalled)
			}
		}
	}
	if r.Isolation != nil {
		writeIsolation(row, lat, r.Isolation)
	}
	if r.Matrix != nil {
		row("bench process", "CPU %.2f s (same machine)", r.BenchCPUSeconds)
		row("total", "%.1f s", r.TotalSeconds)
		for _, e := range r.Errors {
			row("ERROR", "%s", e)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		return writeMatrix(w, r.Matrix)
	}
	if sv := r.Serve; sv != nil {
		row("serve process", "peak RSS (VmHWM) %.1f MiB, RSS at end %.1f MiB, CPU %.2f s = %.1f µs per event",
			float64(sv.PeakRSSBytes)/mib, float64(sv.RSSBytes)/mib, sv.CPUSeconds, sv.CPUMicrosPerEvent)
	}
	if r.CPUProfile != "" {
		row("serve CPU profile", "%s  (go tool pprof -top %s)", r.CPUProfile, r.CPUProfile)
	}
	row("bench process", "CPU %.2f s (same machine)", r.BenchCPUSeconds)
	row("total", "%.1f s", r.TotalSeconds)
	for _, e := range r.Errors {
		row("ERROR", "%s", e)
	}
	return tw.Flush()
}
