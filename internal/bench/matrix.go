package bench

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// MatrixConfig is the matrix scenario: one throughput run per shape users
// have, each on a fresh database with its own serve and its own ceiling,
// so that a shape that stalls or crawls cannot hide behind one that flies.
type MatrixConfig struct {
	Endpoints []int           // endpoint counts [1,10,100,1000]
	Shapes    []string        // "spread" (each event to one endpoint) and/or "fanout" (to all)
	Batches   []int           // events per publish request: 1 = POST /v1/events [1,100,1000]
	Latencies []time.Duration // receivers answer after this long [0,50ms]
	// Deliveries is each run's size with receivers that answer at once
	// [100000]. With slow receivers a run is cut to what the ceiling could
	// send in SlowSeconds, so that it measures the service, not patience.
	Deliveries  int
	SlowSeconds float64 // [10]
	Repeat      int     // runs of each shape [1]
}

// Shapes of the matrix.
const (
	ShapeSpread = "spread"
	ShapeFanout = "fanout"
)

func (m *MatrixConfig) validate() error {
	if len(m.Endpoints) == 0 {
		m.Endpoints = []int{1, 10, 100, 1000}
	}
	if len(m.Shapes) == 0 {
		m.Shapes = []string{ShapeSpread, ShapeFanout}
	}
	if len(m.Batches) == 0 {
		m.Batches = []int{1, 100, 1000}
	}
	if len(m.Latencies) == 0 {
		m.Latencies = []time.Duration{0, 50 * time.Millisecond}
	}
	if m.Deliveries == 0 {
		m.Deliveries = 100000
	}
	if m.SlowSeconds == 0 {
		m.SlowSeconds = 10
	}
	if m.Repeat == 0 {
		m.Repeat = 1
	}
	for _, e := range m.Endpoints {
		if e < 1 || e > 10000 {
			return fmt.Errorf("--matrix-endpoints: %d is not in 1..10000", e)
		}
	}
	for _, s := range m.Shapes {
		if s != ShapeSpread && s != ShapeFanout {
			return fmt.Errorf("--matrix-shapes: %q is not spread or fanout", s)
		}
	}
	for _, b := range m.Batches {
		if b < 1 || b > 1000 {
			return fmt.Errorf("--matrix-batches: %d is not in 1..1000", b)
		}
	}
	switch {
	case m.Deliveries < 1:
		return fmt.Errorf("--deliveries %d: must be positive", m.Deliveries)
	case m.SlowSeconds <= 0:
		return fmt.Errorf("--slow-seconds %v: must be positive", m.SlowSeconds)
	case m.Repeat < 1:
		return fmt.Errorf("--repeat %d: must be positive", m.Repeat)
	}
	return nil
}

// MatrixShape is one cell of the matrix.
type MatrixShape struct {
	Endpoints int           `json:"endpoints"`
	Fanout    bool          `json:"fanout"`
	Batch     int           `json:"batch"`
	Latency   time.Duration `json:"receiver_latency_ns"`
	Events    int           `json:"events"`
}

func (s MatrixShape) String() string {
	return fmt.Sprintf("%d endpoints %s, %s, receivers %s", s.Endpoints, s.shapeName(), s.publishName(), latencyName(s.Latency))
}

func (s MatrixShape) shapeName() string {
	if s.Fanout {
		return ShapeFanout
	}
	return ShapeSpread
}

func (s MatrixShape) publishName() string {
	if s.Batch > 1 {
		return "batch " + strconv.Itoa(s.Batch)
	}
	return "single"
}

func latencyName(d time.Duration) string {
	if d == 0 {
		return "at once"
	}
	return "in " + d.String()
}

// shapes lists the matrix's cells. One endpoint has no fan-out of its own;
// its fan-out cell would repeat the spread one.
func (m *MatrixConfig) shapes(inFlight int) []MatrixShape {
	var out []MatrixShape
	for _, lat := range m.Latencies {
		for _, eps := range m.Endpoints {
			for _, shape := range m.Shapes {
				fanout := shape == ShapeFanout
				if fanout && eps == 1 {
					continue
				}
				deliveries := m.Deliveries
				if lat > 0 {
					// What the ceiling could send in SlowSeconds: every
					// endpoint's slots busy for lat each.
					capacity := float64(eps*inFlight) / lat.Seconds()
					deliveries = min(deliveries, max(int(capacity*m.SlowSeconds), eps))
				}
				for _, b := range m.Batches {
					events := deliveries
					if fanout {
						events = max(deliveries/eps, 1)
					}
					out = append(out, MatrixShape{Endpoints: eps, Fanout: fanout, Batch: b, Latency: lat, Events: events})
				}
			}
		}
	}
	return out
}

// MatrixRow is one run of one shape.
type MatrixRow struct {
	Shape MatrixShape `json:"shape"`
	Run   int         `json:"run"` // 1-based, with --repeat
	// From the run's report.
	Deliveries       int64   `json:"deliveries"`
	Missing          int64   `json:"missing"`
	Duplicates       int64   `json:"duplicates"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	CeilingPerSec    float64 `json:"ceiling_per_sec"`
	Ratio            float64 `json:"ratio_to_ceiling"`
	FirstAttemptP50  float64 `json:"first_attempt_p50_ms"`
	FirstAttemptP99  float64 `json:"first_attempt_p99_ms"`
	PeakRSSMiB       float64 `json:"peak_rss_mib"`
	CPUMicrosPerDlv  float64 `json:"cpu_us_per_delivery"`
	Seconds          float64 `json:"seconds"`
	Error            string  `json:"error,omitempty"` // stalled, lost, failed
	Report           *Report `json:"report"`
}

// MatrixResult is the matrix scenario's outcome.
type MatrixResult struct {
	Rows   []MatrixRow `json:"rows"`
	Failed int         `json:"failed"` // runs that lost, stalled or failed
}

// matrix runs every shape (Repeat times) and fails if any run did not
// deliver everything.
func (r *runner) matrix(ctx context.Context) error {
	mc := r.cfg.Matrix
	shapes := mc.shapes(r.inFlight)
	res := &MatrixResult{}
	r.report.Matrix = res
	r.logf("matrix: %d shapes × %d runs", len(shapes), mc.Repeat)
	for i, sh := range shapes {
		for run := 1; run <= mc.Repeat; run++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			c := r.cfg
			c.Scenario, c.Binary = ScenarioThroughput, r.binary
			c.Endpoints, c.Fanout, c.Batch, c.ReceiverLatency, c.Events = sh.Endpoints, sh.Fanout, sh.Batch, sh.Latency, sh.Events
			c.CeilingRequests, c.Progress = 0, nil
			if sh.Batch == 1 {
				c.Publishers = max(r.cfg.Publishers, 32)
			} else {
				c.Publishers = min(r.cfg.Publishers, 8)
			}
			r.logf("[%d/%d] %s (run %d): %d events", i+1, len(shapes), sh, run, sh.Events)
			rep, err := Run(ctx, c, "")
			row := matrixRow(sh, run, rep, err)
			if row.Error != "" {
				res.Failed++
			}
			res.Rows = append(res.Rows, row)
			r.logf("  %s", row.summary())
		}
	}
	if res.Failed > 0 {
		return fmt.Errorf("matrix: %d of %d runs did not deliver everything", res.Failed, len(res.Rows))
	}
	return nil
}

func matrixRow(sh MatrixShape, run int, rep *Report, err error) MatrixRow {
	row := MatrixRow{Shape: sh, Run: run, Report: rep}
	if d := rep.Delivery; d != nil {
		row.Deliveries, row.Missing, row.Duplicates = d.Unique, d.Missing, d.Duplicates
		row.DeliveriesPerSec, row.Ratio, row.Seconds = d.DeliveriesPerSec, d.RatioToCeiling, d.Seconds
		row.FirstAttemptP50, row.FirstAttemptP99 = d.FirstAttempt.P50, d.FirstAttempt.P99
		if d.Missing > 0 && err == nil {
			err = fmt.Errorf("%d deliveries missing", d.Missing)
		}
	}
	if c := rep.Ceiling; c != nil {
		row.CeilingPerSec = c.RequestsPerSec
		if c.Errors > 0 && err == nil {
			// A ratio to a broken ceiling means nothing.
			err = fmt.Errorf("ceiling: %d of %d requests failed; first: %s", c.Errors, c.Requests, c.FirstError)
		}
	}
	if s := rep.Serve; s != nil {
		row.PeakRSSMiB = float64(s.PeakRSSBytes) / mib
		if row.Deliveries > 0 {
			row.CPUMicrosPerDlv = s.CPUSeconds * 1e6 / float64(row.Deliveries)
		}
	}
	if err != nil {
		row.Error = firstLine(err.Error())
	}
	return row
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func (row MatrixRow) summary() string {
	if row.Error != "" {
		return "FAILED: " + row.Error
	}
	return fmt.Sprintf("%.0f deliveries/s = %.2f × ceiling %.0f/s; p99 %.1f ms; %d duplicates; peak RSS %.0f MiB",
		row.DeliveriesPerSec, row.Ratio, row.CeilingPerSec, row.FirstAttemptP99, row.Duplicates, row.PeakRSSMiB)
}

// writeMatrix prints the matrix as one table, a row per run.
func writeMatrix(w io.Writer, res *MatrixResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoints\tshape\tpublish\treceivers\trun\tdeliveries\tmissing\tdup\tdeliveries/s\tceiling/s\tratio\tp50 ms\tp99 ms\tpeak RSS MiB\tCPU µs/dlv\t")
	for _, row := range res.Rows {
		sh := row.Shape
		shape, pub := sh.shapeName(), sh.publishName()
		if row.Error != "" {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\tFAILED: %s\t\t\t\t\t\t\t\n", sh.Endpoints, shape, pub, latencyName(sh.Latency),
				row.Run, row.Deliveries, row.Missing, row.Duplicates, row.Error)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.0f\t%.0f\t%.2f\t%.1f\t%.1f\t%.0f\t%.0f\t\n", sh.Endpoints, shape, pub,
			latencyName(sh.Latency), row.Run, row.Deliveries, row.Missing, row.Duplicates, row.DeliveriesPerSec, row.CeilingPerSec,
			row.Ratio, row.FirstAttemptP50, row.FirstAttemptP99, row.PeakRSSMiB, row.CPUMicrosPerDlv)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.Failed > 0 {
		_, err := fmt.Fprintf(w, "%d of %d runs FAILED\n", res.Failed, len(res.Rows))
		return err
	}
	_, err := fmt.Fprintf(w, "all %d runs delivered everything\n", len(res.Rows))
	return err
}
