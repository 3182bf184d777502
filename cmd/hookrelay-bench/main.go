// Command hookrelay-bench is hookrelay's load generator (SPEC §9). It
// builds and runs the real binary against loopback receivers and reports,
// from the same run, the bare ceiling (hookrelay's delivery HTTP client
// sending straight to the same receivers) and hookrelay's figures, so that
// results read as ratios rather than machine-dependent absolutes.
//
//	go run ./cmd/hookrelay-bench                                  # throughput, 1 endpoint, 100k events
//	go run ./cmd/hookrelay-bench --endpoints 100
//	go run ./cmd/hookrelay-bench --scenario latency --rate 1000 --duration 20s --endpoints 10
//	go run ./cmd/hookrelay-bench --scenario backlog --events 1000000 --drain
//	go run ./cmd/hookrelay-bench --scenario isolation                     # 20 healthy + a dead and a refusing endpoint
//	go run ./cmd/hookrelay-bench --endpoints 100 --fanout --events 10000  # every event to every endpoint
//	go run ./cmd/hookrelay-bench --scenario matrix                        # every shape, each run to the end
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hookrelay/hookrelay/internal/bench"
)

const usage = `Usage: go run ./cmd/hookrelay-bench [flags]

Scenarios:
  throughput  publish --events as fast as --publishers clients can (--batch K uses
              /v1/events/batch); report publish rate, end-to-end deliveries/s, duplicates,
              publish→first-attempt latency, and the ratio to the bare ceiling
  latency     publish at --rate events/s for --duration (open loop); report latency
  backlog     publish --events with the dispatcher off; report RSS with them pending;
              with --drain restart serve with the dispatcher on and measure the drain
  matrix      one throughput run per shape, each on a fresh database with its own ceiling:
              --matrix-endpoints × --matrix-shapes (spread: each event to one endpoint;
              fanout: to all) × --matrix-batches (1 = single publishes) × --matrix-latencies;
              --deliveries per run (receivers at once; slow receivers get what the ceiling
              sends in --slow-seconds), --repeat runs each; fails if any run loses or stalls
  isolation   --endpoints healthy endpoints (default 20) share --rate events/s (default 500)
              for --duration, one POST /v1/events per event, open loop; run twice on fresh
              databases: healthy only, then with a dead endpoint (never answers; serve gets
              --delivery-timeout 2s unless set) and one whose port refuses connections, each
              sent a healthy endpoint's share; report the healthy p99 publish→first attempt
              of both phases, their ratio, and what the bad endpoints got (breaker)

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "hookrelay-bench:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hookrelay-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	var cfg bench.Config
	var serveArgs string
	var jsonOut, quiet bool
	fs.StringVar(&cfg.Scenario, "scenario", bench.ScenarioThroughput, "throughput, latency, backlog or isolation")
	fs.StringVar(&cfg.Binary, "binary", "", "hookrelay binary to run (default: go build ./cmd/hookrelay into the temp dir)")
	fs.StringVar(&cfg.Database, "database", "", "database for serve (default: a fresh SQLite file in the temp dir; a postgres:// URL is passed through)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the temp dir (database, serve logs)")
	fs.IntVar(&cfg.Endpoints, "endpoints", 1, "endpoints (each its own receiver and event type; events go round-robin); isolation: healthy endpoints (default 20)")
	fs.BoolVar(&cfg.Fanout, "fanout", false, "every endpoint subscribes to one event type: each event is delivered to all of them")
	fs.IntVar(&cfg.Nodes, "nodes", 1, "serve processes on the one database (needs --database postgres://…); publishers take turns")
	fs.IntVar(&cfg.Events, "events", 100000, "events to publish (throughput, backlog)")
	fs.IntVar(&cfg.Publishers, "publishers", 32, "concurrent publishing clients (throughput, backlog)")
	fs.IntVar(&cfg.Batch, "batch", 0, "events per publish request: 1 = POST /v1/events, more = /v1/events/batch (default 1; backlog 1000)")
	fs.Float64Var(&cfg.Rate, "rate", 1000, "events/s offered (latency); isolation: to the healthy endpoints (default 500)")
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "publish phase length (latency, isolation)")
	fs.DurationVar(&cfg.ReceiverLatency, "receiver-latency", 0, "how long receivers wait before answering 200")
	fs.IntVar(&cfg.DataBytes, "data-bytes", 200, "size of each event's data object (a delivery body is ~130 bytes more)")
	fs.StringVar(&serveArgs, "serve-args", "", `extra "hookrelay serve" arguments, space-separated, e.g. "--max-in-flight-per-endpoint 20"`)
	fs.BoolVar(&cfg.Ceiling, "ceiling", true, "measure the bare ceiling first")
	fs.IntVar(&cfg.CeilingRequests, "ceiling-requests", 0, "requests of the ceiling (default: as many as deliveries)")
	fs.DurationVar(&cfg.CeilingMax, "ceiling-max", 10*time.Second, "the ceiling starts no request after this long")
	var mEndpoints, mShapes, mBatches, mLatencies string
	fs.StringVar(&mEndpoints, "matrix-endpoints", "1,10,100,1000", "matrix: endpoint counts")
	fs.StringVar(&mShapes, "matrix-shapes", "spread,fanout", "matrix: spread and/or fanout")
	fs.StringVar(&mBatches, "matrix-batches", "1,100,1000", "matrix: events per publish request (1 = single)")
	fs.StringVar(&mLatencies, "matrix-latencies", "0,50ms", "matrix: receiver latencies")
	fs.IntVar(&cfg.Matrix.Deliveries, "deliveries", 100000, "matrix: deliveries per run with receivers that answer at once")
	fs.Float64Var(&cfg.Matrix.SlowSeconds, "slow-seconds", 10, "matrix: slow receivers' runs last about this long at the ceiling")
	fs.IntVar(&cfg.Matrix.Repeat, "repeat", 1, "matrix: runs of each shape")
	fs.BoolVar(&cfg.Drain, "drain", false, "backlog: then restart serve with the dispatcher on and measure the drain")
	fs.DurationVar(&cfg.Settle, "settle", 5*time.Second, "backlog: how long RSS is sampled with everything pending")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "longest wait for deliveries after publishing")
	fs.DurationVar(&cfg.SigtermAfter, "sigterm-after", 0, "throughput: this long after publishing ends, SIGTERM serve with deliveries in flight, fail unless it exits within its --shutdown-timeout, restart it and wait for every delivery")
	fs.DurationVar(&cfg.Stall, "stall", 2*time.Minute, "stop waiting when no new delivery arrives for this long (longer than serve's first retry, 1m, so an attempt that failed is retried before a stall is called)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of serve during the measured phase here (serve's --pprof-addr)")
	fs.DurationVar(&cfg.CPUProfileSeconds, "cpuprofile-seconds", 10*time.Second, "length of the --cpuprofile profile")
	fs.BoolVar(&jsonOut, "json", false, "print every figure as one JSON object on stdout (the table goes to stderr)")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.ServeArgs = strings.Fields(serveArgs)
	var err error
	if cfg.Matrix.Endpoints, err = intList(mEndpoints); err != nil {
		return fmt.Errorf("--matrix-endpoints: %w", err)
	}
	if cfg.Matrix.Batches, err = intList(mBatches); err != nil {
		return fmt.Errorf("--matrix-batches: %w", err)
	}
	cfg.Matrix.Shapes = strings.Split(mShapes, ",")
	for _, v := range strings.Split(mLatencies, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("--matrix-latencies: %w", err)
		}
		cfg.Matrix.Latencies = append(cfg.Matrix.Latencies, d)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch cfg.Scenario {
	case bench.ScenarioBacklog:
		if cfg.Batch == 0 {
			cfg.Batch = 1000
		}
	case bench.ScenarioIsolation:
		if !set["endpoints"] {
			cfg.Endpoints = 20
		}
		if !set["rate"] {
			cfg.Rate = 500
		}
	}
	if !quiet {
		cfg.Progress = stderr
	}

	report, runErr := bench.Run(ctx, cfg, commandLine(args))
	table := stdout
	if jsonOut {
		table = stderr
	}
	if err := bench.WriteTable(table, report); err != nil {
		return errors.Join(runErr, fmt.Errorf("write table: %w", err))
	}
	if jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return errors.Join(runErr, fmt.Errorf("write JSON: %w", err))
		}
	}
	return runErr
}

func intList(s string) ([]int, error) {
	var out []int
	for _, v := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// commandLine is how to repeat the run, quoted for a POSIX shell.
func commandLine(args []string) string {
	parts := []string{"go", "run", "./cmd/hookrelay-bench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
