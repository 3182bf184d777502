package bench

import (
	"strings"
	"testing"
	"time"
)

// TestSigtermSettings: --sigterm-after belongs to throughput runs, and the
// limit it checks serve against is serve's own --shutdown-timeout.
func TestSigtermSettings(t *testing.T) {
	cases := []struct {
		name     string
		scenario string
		after    time.Duration
		args     []string
		want     time.Duration
		refusal  string // a part of the error, when refused
	}{
		{"serve's default", ScenarioThroughput, time.Second, nil, 15 * time.Second, ""},
		{"from serve's arguments", ScenarioThroughput, time.Second, []string{"--shutdown-timeout", "3s"}, 3 * time.Second, ""},
		{"= form", ScenarioThroughput, time.Second, []string{"--shutdown-timeout=500ms"}, 500 * time.Millisecond, ""},
		{"not a duration", ScenarioThroughput, time.Second, []string{"--shutdown-timeout", "soon"}, 0, "shutdown-timeout"},
		{"negative", ScenarioThroughput, -time.Second, nil, 0, "--sigterm-after"},
		{"another scenario", ScenarioLatency, time.Second, nil, 0, "--sigterm-after"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("HOOKRELAY_SHUTDOWN_TIMEOUT", "")
			cfg := Config{Scenario: c.scenario, Endpoints: 1, Events: 100, Publishers: 1, Batch: 1, Rate: 100,
				Duration: time.Second, DataBytes: 200, SigtermAfter: c.after, ServeArgs: c.args}
			err := cfg.Validate()
			if c.refusal != "" {
				if err == nil || !strings.Contains(err.Error(), c.refusal) {
					t.Fatalf("err = %v, want a refusal naming %s", err, c.refusal)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := cfg.ShutdownTimeout(); got != c.want {
				t.Fatalf("ShutdownTimeout = %s, want %s", got, c.want)
			}
		})
	}
}
