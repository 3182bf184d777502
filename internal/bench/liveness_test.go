package bench

import (
	"context"
	"io"
	"os"
	"testing"
	"time"
)

// TestBurstLiveness is the short version of the shape that once stopped
// the dispatcher for good: a burst of batch publishes spread over 100
// endpoints, and the same endpoints all subscribed to every event, on the
// real binary. It asserts only that every delivery arrives (a liveness
// test, not a timing test): a run fails when deliveries stop coming for
// the stall window or when any is missing.
func TestBurstLiveness(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary under load for about a minute")
	}
	dir := t.TempDir()
	binary, err := BuildBinary(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var progress io.Writer
	if testing.Verbose() {
		progress = os.Stderr
	}
	for _, tc := range []struct {
		name   string
		events int
		fanout bool
	}{
		{"spread over 100 endpoints", 30000, false},
		{"fan-out to 100 endpoints", 300, true}, // 30,000 deliveries
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{
				Scenario: ScenarioThroughput, Binary: binary, Endpoints: 100, Fanout: tc.fanout, Events: tc.events,
				Publishers: 8, Batch: 500, DataBytes: 200, Ceiling: false,
				Timeout: 5 * time.Minute, Stall: 30 * time.Second, Progress: progress,
			}
			rep, err := Run(context.Background(), cfg, "TestBurstLiveness")
			if err != nil {
				t.Fatalf("%v", err)
			}
			d := rep.Delivery
			if d == nil || d.Missing != 0 || d.Unique != int64(tc.events*cfg.fan()) {
				t.Fatalf("delivered %+v, want all %d", d, tc.events*cfg.fan())
			}
			t.Logf("%d deliveries in %.1f s (%.0f/s), %d duplicates", d.Unique, d.Seconds, d.DeliveriesPerSec, d.Duplicates)
		})
	}
}
