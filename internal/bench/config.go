// Package bench is hookrelay's load generator (SPEC §9): it drives the real
// binary over loopback and measures, in the same run, the bare ceiling of
// the same HTTP client and receivers, so that results are ratios.
package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Scenarios.
const (
	ScenarioThroughput = "throughput"
	ScenarioLatency    = "latency"
	ScenarioBacklog    = "backlog"
	ScenarioIsolation  = "isolation"
	ScenarioMatrix     = "matrix"
)

// isolationTimeout is serve's --delivery-timeout in the isolation scenario
// unless the serve arguments or HOOKRELAY_DELIVERY_TIMEOUT set one: short,
// so that the dead endpoint's attempts fail (and its breaker opens) within
// the run.
const isolationTimeout = "2s"

// Config is one run.
type Config struct {
	Scenario        string
	Binary          string // prebuilt hookrelay; empty builds ./cmd/hookrelay
	Database        string // empty: a fresh SQLite file in the temp dir
	Keep            bool   // keep the temp dir
	Endpoints       int
	Fanout          bool // every endpoint subscribes to every event
	Nodes           int  // serve processes on one (PostgreSQL) database
	Events          int
	Publishers      int
	Batch           int // events per publish request; 1 = POST /v1/events
	Rate            float64
	Duration        time.Duration
	ReceiverLatency time.Duration
	DataBytes       int
	ServeArgs       []string // extra `hookrelay serve` arguments
	Ceiling         bool
	CeilingRequests int           // 0: as many as deliveries
	CeilingMax      time.Duration // the ceiling stops starting requests after this long
	Matrix          MatrixConfig
	Drain           bool
	Settle          time.Duration // backlog: how long RSS is sampled with everything pending
	Timeout         time.Duration // longest wait for deliveries after publishing
	Stall           time.Duration // give up waiting when nothing new arrives for this long
	// SigtermAfter (throughput): this long after publishing ends, with
	// deliveries still in flight, SIGTERM the first node, check it exits
	// within its --shutdown-timeout, start it again and wait for the rest.
	SigtermAfter time.Duration
	Progress     io.Writer // progress lines; nil for none
	// CPUProfile, when set, is where a CPU profile of serve during the
	// measured phase is written (fetched from serve's --pprof-addr).
	CPUProfile        string
	CPUProfileSeconds time.Duration
}

// Validate checks c and fills derived defaults.
func (c *Config) Validate() error {
	switch c.Scenario {
	case ScenarioThroughput, ScenarioLatency, ScenarioBacklog, ScenarioIsolation, ScenarioMatrix:
	default:
		return fmt.Errorf("--scenario %q: must be throughput, latency, backlog, isolation or matrix", c.Scenario)
	}
	if c.Nodes == 0 {
		c.Nodes = 1
	}
	isPostgres := strings.HasPrefix(c.Database, "postgres://") || strings.HasPrefix(c.Database, "postgresql://")
	switch {
	case c.Nodes < 1 || c.Nodes > 16:
		return fmt.Errorf("--nodes %d: must be 1..16", c.Nodes)
	case c.Nodes > 1 && !isPostgres:
		return fmt.Errorf("--nodes %d: several nodes share a PostgreSQL database; pass --database postgres://…", c.Nodes)
	case c.Nodes > 1 && c.Scenario != ScenarioThroughput && c.Scenario != ScenarioLatency && c.Scenario != ScenarioMatrix:
		return fmt.Errorf("--nodes %d: only the throughput, latency and matrix scenarios run several nodes", c.Nodes)
	case c.Fanout && c.Scenario == ScenarioIsolation:
		return errors.New("--fanout: the isolation scenario routes each event to one endpoint")
	}
	if c.CeilingMax <= 0 {
		c.CeilingMax = 10 * time.Second
	}
	if c.Scenario == ScenarioMatrix {
		if isPostgres {
			// Each run needs a database of its own, and the bench does not
			// create PostgreSQL databases.
			return errors.New("--scenario matrix runs on fresh SQLite databases; run single shapes against PostgreSQL")
		}
		return c.Matrix.validate()
	}
	switch {
	case c.Endpoints < 1 || c.Endpoints > 10000:
		return fmt.Errorf("--endpoints %d: must be 1..10000", c.Endpoints)
	case c.Events < 1:
		return fmt.Errorf("--events %d: must be at least 1", c.Events)
	case c.Publishers < 1:
		return fmt.Errorf("--publishers %d: must be at least 1", c.Publishers)
	case c.Batch < 0 || c.Batch > 1000:
		return fmt.Errorf("--batch %d: must be 0..1000 (the API's batch limit)", c.Batch)
	case (c.Scenario == ScenarioLatency || c.Scenario == ScenarioIsolation) && (c.Rate <= 0 || c.Duration <= 0):
		return fmt.Errorf("--rate %v and --duration %s must be positive", c.Rate, c.Duration)
	case c.Scenario == ScenarioIsolation && c.Batch > 1:
		return fmt.Errorf("--batch %d: the isolation scenario publishes one event per request", c.Batch)
	case c.DataBytes < 32 || c.DataBytes > 200<<10:
		return fmt.Errorf("--data-bytes %d: must be 32..204800", c.DataBytes)
	case c.CPUProfile != "" && c.CPUProfileSeconds < time.Second:
		return fmt.Errorf("--cpuprofile-seconds %s: must be at least 1s", c.CPUProfileSeconds)
	case c.CeilingRequests < 0:
		return fmt.Errorf("--ceiling-requests %d: must not be negative", c.CeilingRequests)
	}
	if c.Batch == 0 {
		c.Batch = 1
	}
	if c.Scenario == ScenarioLatency || c.Scenario == ScenarioIsolation {
		c.Events = int(c.Rate * c.Duration.Seconds())
		if c.Events < 1 || (c.Scenario == ScenarioIsolation && c.Events < c.Endpoints) {
			return fmt.Errorf("--rate %v for --duration %s is too few events", c.Rate, c.Duration)
		}
	}
	if c.Scenario == ScenarioIsolation {
		if _, ok := flagValue(c.ServeArgs, "delivery-timeout"); !ok && os.Getenv("HOOKRELAY_DELIVERY_TIMEOUT") == "" {
			c.ServeArgs = append(c.ServeArgs, "--delivery-timeout", isolationTimeout)
		}
	}
	if c.SigtermAfter < 0 || (c.SigtermAfter > 0 && c.Scenario != ScenarioThroughput) {
		return fmt.Errorf("--sigterm-after %s: a positive duration, for the throughput scenario", c.SigtermAfter)
	}
	if _, err := c.ShutdownTimeout(); err != nil {
		return err
	}
	if c.CeilingRequests == 0 {
		c.CeilingRequests = c.Events * c.fan()
	}
	if c.Scenario == ScenarioBacklog && c.Drain {
		for _, a := range c.ServeArgs {
			if strings.HasPrefix(strings.TrimLeft(a, "-"), "dispatcher") {
				return fmt.Errorf("--serve-args %q: the backlog scenario sets --dispatcher itself", a)
			}
		}
	}
	return nil
}

// eventTypes is how many event types the run uses: one per endpoint, one
// in all with fan-out; the isolation scenario adds a dead and a refusing
// endpoint to its healthy ones.
func (c *Config) eventTypes() int {
	switch {
	case c.Scenario == ScenarioIsolation:
		return c.Endpoints + 2
	case c.Fanout:
		return 1
	}
	return c.Endpoints
}

// fan is how many deliveries each event has.
func (c *Config) fan() int {
	if c.Fanout {
		return c.Endpoints
	}
	return 1
}

// InFlight is the per-endpoint cap serve will use: --max-in-flight-per-endpoint
// from the serve arguments, else its variable, else serve's default 10.
func (c *Config) InFlight() (int, error) {
	return c.serveInt("max-in-flight-per-endpoint", 10)
}

// TotalInFlight is serve's process-wide cap (--max-in-flight, default
// 2048): the ceiling keeps no more requests in flight than serve may.
func (c *Config) TotalInFlight() (int, error) {
	return c.serveInt("max-in-flight", 2048)
}

// ShutdownTimeout is serve's --shutdown-timeout: from the serve arguments,
// else its variable, else serve's default 15s.
func (c *Config) ShutdownTimeout() (time.Duration, error) {
	v, ok := flagValue(c.ServeArgs, "shutdown-timeout")
	if !ok {
		v = os.Getenv("HOOKRELAY_SHUTDOWN_TIMEOUT")
	}
	if v == "" {
		return 15 * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("shutdown-timeout %q: must be a positive duration", v)
	}
	return d, nil
}

// serveInt is a positive integer setting of serve: from the serve
// arguments, else its variable, else def.
func (c *Config) serveInt(name string, def int) (int, error) {
	v, ok := flagValue(c.ServeArgs, name)
	if !ok {
		v, ok = os.LookupEnv(strings.ToUpper("HOOKRELAY_" + strings.ReplaceAll(name, "-", "_")))
	}
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s %q: must be a positive integer", name, v)
	}
	return n, nil
}

// flagValue finds the last value of --name (or -name) in args, in any of
// the forms the flag package accepts: -name=v, --name=v, -name v, --name v.
func flagValue(args []string, name string) (string, bool) {
	val, found := "", false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		k, v, hasEq := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if k != name {
			continue
		}
		switch {
		case hasEq:
			val, found = v, true
		case i+1 < len(args):
			val, found = args[i+1], true
			i++
		}
	}
	return val, found
}
