package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Scopes of the bench's API key.
const benchScopes = "webhooks:read,webhooks:manage,events:publish"

// stopGrace is how long serve gets to exit on SIGTERM before SIGKILL.
const stopGrace = 20 * time.Second

// runner is the state of one run.
type runner struct {
	cfg           Config
	report        *Report
	start         time.Time
	dir           string
	binary        string
	database      string
	env           []string
	inFlight      int // serve's per-endpoint cap
	totalInFlight int // serve's process-wide cap
	recv          *Receivers
	key           string // the account's
	opKey         string // an operator key, for the catalog
	payloads      Payloads
	logN          int // serve processes started, to name their logs
}

// Run performs one benchmark run. The report holds whatever was measured
// even when err is not nil.
func Run(ctx context.Context, cfg Config, command string) (*Report, error) {
	r := &runner{cfg: cfg, start: time.Now()}
	r.report = &Report{
		Command: command, StartedAt: r.start.UTC().Truncate(time.Second), GoVersion: runtime.Version(),
		OS: runtime.GOOS, Arch: runtime.GOARCH, NumCPU: runtime.NumCPU(),
	}
	err := r.run(ctx)
	r.report.TotalSeconds = time.Since(r.start).Seconds()
	r.report.BenchCPUSeconds = selfCPU()
	if err != nil {
		r.report.Errors = append(r.report.Errors, err.Error())
	}
	return r.report, err
}

func (r *runner) logf(format string, a ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "[%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, a...))
	}
}

func (r *runner) run(ctx context.Context) (err error) {
	if err := r.cfg.Validate(); err != nil {
		return err
	}
	if r.inFlight, err = r.cfg.InFlight(); err != nil {
		return err
	}
	if r.totalInFlight, err = r.cfg.TotalInFlight(); err != nil {
		return err
	}
	if r.dir, err = os.MkdirTemp("", "hookrelay-bench-"); err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer func() {
		if r.cfg.Keep {
			r.logf("kept %s", r.dir)
			return
		}
		if rmErr := os.RemoveAll(r.dir); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove %s: %w", r.dir, rmErr))
		}
	}()
	// A socket per request in flight on each side (receivers and serve's
	// idle pool may hold more), plus the ceiling's.
	endpoints := r.cfg.eventTypes()
	if r.cfg.Scenario == ScenarioMatrix {
		endpoints = slices.Max(r.cfg.Matrix.Endpoints)
	}
	need := uint64(2*min(endpoints*r.inFlight, r.totalInFlight) + 2048)
	if got := raiseFileLimit(need); got != 0 && got < need {
		r.logf("warning: open-file limit %d is below the %d this run may need; the ceiling and receivers may fail (raise ulimit -n)", got, need)
	}
	if r.cfg.Scenario == ScenarioMatrix {
		if err := r.findBinary(ctx); err != nil {
			return err
		}
		r.report.Settings = Settings{Scenario: ScenarioMatrix, InFlight: r.inFlight, DataBytes: r.cfg.DataBytes,
			ServeArgs: r.cfg.ServeArgs, Nodes: r.cfg.Nodes, Database: "sqlite (fresh, temp dir, per run)"}
		if r.cfg.Database != "" {
			r.report.Settings.Database = "postgres (per run)"
		}
		return r.matrix(ctx)
	}
	if err := r.setup(ctx); err != nil {
		return err
	}
	r.recv, err = StartReceivers(r.cfg.Endpoints, r.cfg.ReceiverLatency)
	if err != nil {
		return err
	}
	defer func() {
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if cerr := r.recv.Close(shutCtx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close receivers: %w", cerr))
		}
	}()

	if r.cfg.Ceiling && (r.cfg.Scenario != ScenarioBacklog || r.cfg.Drain) {
		r.logf("ceiling: %d requests to %d receivers, %d in flight each", r.cfg.CeilingRequests, r.cfg.Endpoints, r.inFlight)
		c, err := Ceiling(ctx, r.recv, r.payloads, r.cfg.CeilingRequests, r.inFlight, r.totalInFlight, 30*time.Second, r.cfg.CeilingMax)
		if err != nil {
			return fmt.Errorf("ceiling: %w", err)
		}
		r.report.Ceiling = &c
		r.logf("ceiling: %.0f req/s", c.RequestsPerSec)
	}

	switch r.cfg.Scenario {
	case ScenarioThroughput:
		return r.deliveryScenario(ctx, func(apis []*API, tr *Tracker) PublishResult {
			return PublishClosed(ctx, apis, r.payloads, tr, r.cfg.Events, r.cfg.Publishers, r.cfg.Batch)
		})
	case ScenarioLatency:
		return r.deliveryScenario(ctx, func(apis []*API, tr *Tracker) PublishResult {
			return PublishOpen(ctx, apis, r.payloads, tr, r.cfg.Rate, r.cfg.Duration)
		})
	case ScenarioIsolation:
		return r.isolation(ctx)
	default:
		return r.backlog(ctx)
	}
}

// setup finds or builds the binary, chooses the database and bootstraps it.
func (r *runner) setup(ctx context.Context) error {
	c := r.cfg
	r.payloads = Payloads{Endpoints: c.Endpoints, DataBytes: c.DataBytes, Fanout: c.Fanout}
	r.report.Settings = Settings{
		Scenario: c.Scenario, Endpoints: c.Endpoints, Events: c.Events, Publishers: c.Publishers,
		Batch: c.Batch, InFlight: r.inFlight, ReceiverLatency: c.ReceiverLatency.String(),
		DataBytes: c.DataBytes, ServeArgs: c.ServeArgs, Fanout: c.Fanout, Nodes: c.Nodes,
	}
	if err := r.findBinary(ctx); err != nil {
		return err
	}

	r.database = c.Database
	r.env = os.Environ()
	isPostgres := strings.HasPrefix(r.database, "postgres://") || strings.HasPrefix(r.database, "postgresql://")
	switch {
	case r.database == "":
		r.database = filepath.Join(r.dir, "bench.db")
		r.report.Settings.Database = "sqlite (fresh, temp dir)"
	case isPostgres:
		r.report.Settings.Database = "postgres"
		if _, ok := flagValue(c.ServeArgs, "encryption-key"); !ok && os.Getenv("HOOKRELAY_ENCRYPTION_KEY") == "" {
			key := make([]byte, 32)
			_, _ = rand.Read(key)
			r.env = append(r.env, "HOOKRELAY_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(key))
		}
	default:
		r.report.Settings.Database = "sqlite " + r.database
	}

	return r.bootstrap(ctx)
}

// findBinary takes --binary or builds ./cmd/hookrelay into the temp dir.
func (r *runner) findBinary(ctx context.Context) error {
	r.binary = r.cfg.Binary
	if r.binary == "" {
		r.logf("building ./cmd/hookrelay")
		b, err := BuildBinary(ctx, r.dir)
		if err != nil {
			return err
		}
		r.binary = b
	} else if _, err := os.Stat(r.binary); err != nil {
		return fmt.Errorf("--binary: %w", err)
	}
	return nil
}

// bootstrap prepares r.database with the admin commands: the schema, an
// account with its key (r.key) and an operator key (r.opKey).
func (r *runner) bootstrap(ctx context.Context) error {
	admin := Admin{Binary: r.binary, Database: r.database, Env: r.env}
	r.logf("bootstrapping: schema, account, API key, operator key")
	if err := admin.Migrate(ctx); err != nil {
		return err
	}
	account, err := admin.CreateAccount(ctx, fmt.Sprintf("bench %s", r.start.Format(time.RFC3339)))
	if err != nil {
		return err
	}
	if r.key, err = admin.CreateAPIKey(ctx, account, benchScopes); err != nil {
		return err
	}
	r.opKey, err = admin.CreateOperatorKey(ctx)
	return err
}

// startNodes starts --nodes serve processes on the run's database; the
// first is the profiled one.
func (r *runner) startNodes(ctx context.Context) ([]*Serve, error) {
	var nodes []*Serve
	for i := range r.cfg.Nodes {
		s, err := r.startServe(ctx, i == 0)
		if err != nil {
			r.stopNodes(nodes)
			return nil, err
		}
		nodes = append(nodes, s)
	}
	return nodes, nil
}

func (r *runner) stopNodes(nodes []*Serve) {
	for _, s := range nodes {
		r.stopServe(s)
	}
}

// startServe starts serve on a free port with the run's arguments plus
// extra, and waits until it is ready. A profiled serve gets a pprof
// listener when --cpuprofile is set.
func (r *runner) startServe(ctx context.Context, profiled bool, extra ...string) (*Serve, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	// The per-key rate limit protects tenants' keys; the benchmark measures
	// the service, so it is off unless --serve-args sets it.
	args := append([]string{"--dev-allow-localhost", "--rate-limit", "0", "--addr", addr, "--database", r.database}, r.cfg.ServeArgs...)
	args = append(args, extra...)
	pprofAddr := ""
	if profiled && r.cfg.CPUProfile != "" {
		if pprofAddr, err = FreeAddr(); err != nil {
			return nil, err
		}
		args = append(args, "--pprof-addr", pprofAddr)
	}
	r.logN++
	logPath := filepath.Join(r.dir, fmt.Sprintf("serve-%d.log", r.logN))
	s, err := StartServe(r.binary, addr, args, r.env, logPath)
	if err != nil {
		return nil, err
	}
	s.PprofAddr = pprofAddr
	if err := s.WaitReady(ctx, time.Minute); err != nil {
		_ = s.Stop(stopGrace)
		return nil, err
	}
	r.logf("serve ready (pid %d): %s", s.Pid, strings.Join(s.Args, " "))
	return s, nil
}

// stopServe stops s, recording a failure to stop as a report error.
func (r *runner) stopServe(s *Serve) {
	if err := s.Stop(stopGrace); err != nil {
		r.report.Errors = append(r.report.Errors, err.Error())
	}
}

// createEndpoints creates the run's event types, then registers one
// endpoint per receiver: endpoint i subscribed to EventType(i) only, so
// each event has exactly one delivery, or with fan-out every endpoint
// subscribed to EventType(0), so each event has one per endpoint.
func (r *runner) createEndpoints(ctx context.Context, api *API) error {
	n := r.cfg.eventTypes()
	r.logf("creating %d event types and %d endpoints", n, r.cfg.Endpoints)
	const workers = 8
	op := NewAPI(api.base, r.opKey, workers)
	defer op.Close()
	parallel := func(n int, do func(i int) error) error {
		errs := make([]error, n)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < n; i += workers {
					errs[i] = do(i)
				}
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	if err := parallel(n, func(i int) error {
		return op.CreateEventType(ctx, EventType(i), "hookrelay-bench endpoint "+fmt.Sprint(i))
	}); err != nil {
		return err
	}
	return parallel(r.cfg.Endpoints, func(i int) error {
		typ := EventType(i)
		if r.cfg.Fanout {
			typ = EventType(0)
		}
		_, err := api.CreateWebhook(ctx, r.recv.URLs[i], []string{typ})
		return err
	})
}

// progress prints status() every few seconds until the returned stop is called.
func (r *runner) progress(status func() string) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r.logf("%s", status())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// waitDeliveries waits until want deliveries have arrived, and returns
// why it stopped early ("" when all arrived).
func (r *runner) waitDeliveries(ctx context.Context, tr *Tracker, want int64, nodes ...*Serve) string {
	exited := make(chan *Serve, len(nodes))
	for _, s := range nodes {
		go func() {
			select {
			case <-s.Exited():
				exited <- s
			case <-ctx.Done():
			}
		}()
	}
	deadline := time.Now().Add(r.cfg.Timeout)
	lastCount, lastChange := tr.Unique(), time.Now()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		n := tr.Unique()
		if n >= want {
			return ""
		}
		if n != lastCount {
			lastCount, lastChange = n, time.Now()
		}
		switch {
		case time.Since(lastChange) > r.cfg.Stall:
			return fmt.Sprintf("no new delivery for %s with %d of %d delivered", r.cfg.Stall, n, want)
		case time.Now().After(deadline):
			return fmt.Sprintf("--timeout %s reached with %d of %d delivered", r.cfg.Timeout, n, want)
		}
		select {
		case <-ctx.Done():
			return fmt.Sprintf("interrupted with %d of %d delivered", n, want)
		case s := <-exited:
			return s.ExitError().Error()
		case <-t.C:
		}
	}
}

// rssMiB is the nodes' resident memory now, added up.
func rssMiB(nodes ...*Serve) string {
	var sum uint64
	for _, s := range nodes {
		m, err := ReadMem(s.Pid)
		if err != nil {
			return "?"
		}
		sum += m.RSS
	}
	return fmt.Sprintf("%.0f MiB", float64(sum)/mib)
}
