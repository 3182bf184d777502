// Package app owns the order in which hookrelay's parts start and stop.
// main parses configuration and calls Open then Run; tests and the demo do
// the same in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookrelay/hookrelay/internal/api"
	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/dashboard"
	"github.com/hookrelay/hookrelay/internal/dispatch"
	"github.com/hookrelay/hookrelay/internal/intake"
	"github.com/hookrelay/hookrelay/internal/liveness"
	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/internal/ssrf"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/postgres"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// Version is reported in the User-Agent of deliveries.
const Version = "0.1.0"

// The database gauges of /metrics: each scrape's queries get statsTimeout,
// and at most statsTopFailing endpoints are named, keeping the number of
// series bounded however many endpoints fail.
const (
	statsTimeout    = 2 * time.Second
	statsTopFailing = 10
)

// Options are what a caller may inject beside the Config.
type Options struct {
	Clock    clock.Clock   // nil: the real clock
	Resolver ssrf.Resolver // nil: the system resolver
	Log      *slog.Logger
	// ReadHeaderTimeout and ReadTimeout bound how long a client may take
	// to send a request (slow-loris); zero takes 10s and 30s.
	ReadHeaderTimeout, ReadTimeout time.Duration
}

// App is a configured hookrelay process.
type App struct {
	cfg        *config.Config
	opt        Options
	log        *slog.Logger
	Store      store.Store
	Box        *secretbox.Box
	Intake     *intake.Intake
	Dispatcher *dispatch.Dispatcher
	API        *api.Server
	// Liveness registers this process: the Idempotency-Keys it holds in
	// progress are freed at once when it is gone. Set with the API.
	Liveness  *liveness.Tracker
	Ops       *operations.Ops
	Dashboard *dashboard.Dashboard
	listener  net.Listener
}

// StoreOptions say how a command may open the database.
type StoreOptions struct {
	// Create makes a missing SQLite database: serve and migrate do. Other
	// commands fail naming the path, so that a typo, or running in another
	// directory, never creates an empty database.
	Create bool
	// Created is told the absolute path of a database this call created.
	Created func(path string)
}

// OpenStore opens (and migrates) the configured database. The commands
// that only touch data (admin, migrate) use it alone.
func OpenStore(ctx context.Context, cfg *config.Config, o StoreOptions) (store.Store, error) {
	s, err := openDatabase(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openDatabase opens the configured database without migrating it: a
// postgres:// URL on the PostgreSQL driver, anything else a SQLite file.
func openDatabase(ctx context.Context, cfg *config.Config, o StoreOptions) (store.Store, error) {
	if cfg.IsPostgres() {
		return postgres.Open(ctx, cfg.Database, postgres.Options{MaxConns: cfg.DatabaseMaxConns})
	}
	path, err := filepath.Abs(cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("--database %s: %w", cfg.Database, err)
	}
	var s *sqlite.Store
	if o.Create {
		s, err = sqlite.Open(path)
	} else {
		s, err = sqlite.OpenExisting(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("database %s does not exist: check --database (or %s); "+
				"\"hookrelay migrate\" or \"hookrelay serve\" creates it", path, config.EnvName("database"))
		}
	}
	if err != nil {
		return nil, err
	}
	if s.Created() && o.Created != nil {
		o.Created(path)
	}
	return s, nil
}

// openKey returns the secret-encryption key: the configured one, or for
// SQLite the key file beside the database, created when the database holds
// no secret yet. It refuses a key that cannot open the secrets the
// database holds: serving with it would leave every endpoint undeliverable
// while looking healthy.
func openKey(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (*secretbox.Box, error) {
	database := cfg.Database
	if !cfg.IsPostgres() {
		database, _ = filepath.Abs(cfg.Database)
	}
	var key []byte
	var source string
	var err error
	switch {
	case cfg.EncryptionKey != "":
		source = "the key given by --encryption-key (or " + config.EnvName("encryption-key") + ")"
		key, err = secretbox.ParseKey(cfg.EncryptionKey)
	case cfg.IsPostgres():
		return nil, errEncryptionKeyRequired
	default:
		path := keyPath(database)
		source = "the key file " + path
		key, err = secretbox.ReadKeyFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			_, serr := st.SealedSecretSample(ctx)
			switch {
			case serr == nil:
				return nil, fmt.Errorf("encryption key file %s is missing, but database %s holds signing secrets sealed with a key: "+
					"restore the key file from your backup (or pass the key it held with --encryption-key); "+
					"a new key could not open them", path, database)
			case !errors.Is(serr, webhook.ErrNotFound):
				return nil, fmt.Errorf("check the database for sealed secrets: %w", serr)
			}
			var created bool
			key, created, err = secretbox.CreateKeyFile(path)
			if created {
				log.Warn("generated a new encryption key for signing secrets: back this file up with the database; "+
					"without it the secrets cannot be opened", "key_file", path)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	sample, err := st.SealedSecretSample(ctx)
	switch {
	case errors.Is(err, webhook.ErrNotFound):
		return box, nil // nothing sealed yet: any key will do
	case err != nil:
		return nil, fmt.Errorf("check the encryption key: %w", err)
	}
	if _, err := box.Open(sample.Ciphertext, []byte(sample.EndpointID)); err != nil {
		return nil, fmt.Errorf("%s (fingerprint %s) cannot open the signing secrets in database %s: "+
			"they were sealed with another key. Restore the key file from your backup, or pass the original key "+
			"with --encryption-key; serving with this key would leave every endpoint undeliverable",
			source, box.Fingerprint(), database)
	}
	return box, nil
}

// errEncryptionKeyRequired: with PostgreSQL there is no file beside the
// database to keep a generated key in, and every node must open the same
// secrets.
var errEncryptionKeyRequired = errors.New("--encryption-key (or " + config.EnvName("encryption-key") + ") is required with a " +
	"PostgreSQL --database: every node must share one key to open the signing secrets; make one with: " +
	"head -c 32 /dev/urandom | base64, and give the same value to every node")

func keyPath(database string) string {
	dir, file := filepath.Split(database)
	return filepath.Join(dir, file+".key")
}

// Open builds every part from cfg.
func Open(ctx context.Context, cfg *config.Config, opt Options) (*App, error) {
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	c := opt.Clock
	if c == nil {
		c = clock.Real{}
	}
	if cfg.IsPostgres() && cfg.EncryptionKey == "" {
		return nil, errEncryptionKeyRequired // before connecting: nothing else to learn there
	}
	if cfg.DevAllowLocalhost {
		log.Warn("DEVELOPMENT MODE: --dev-allow-localhost lets endpoints use http:// and loopback addresses; never enable it in production")
	}
	st, err := OpenStore(ctx, cfg, StoreOptions{Create: true, Created: func(path string) {
		log.Info("created a new database", "path", path)
	}})
	if err != nil {
		return nil, err
	}
	box, err := openKey(ctx, cfg, st, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	if opt.ReadHeaderTimeout == 0 {
		opt.ReadHeaderTimeout = 10 * time.Second
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = 30 * time.Second
	}
	a := &App{cfg: cfg, opt: opt, log: log, Store: st, Box: box}

	reg := prometheus.NewRegistry()
	m := metrics.New(reg, true)
	reg.MustRegister(metrics.NewStoreCollector(st, c.Now, statsTimeout, statsTopFailing))
	guard := ssrf.New(ssrf.Options{AllowLoopback: cfg.DevAllowLocalhost, Resolver: opt.Resolver})

	var wake func([]string)
	var readiness []func(context.Context) error
	if cfg.Dispatcher {
		signer := signing.NewSigner(cfg.HeaderPrefix, "hookrelay/"+Version)
		a.Dispatcher = dispatch.New(st, guard.Client(cfg.MaxInFlightPerEndpoint, cfg.MaxInFlight), box, signer, c, log, m, dispatch.Config{
			Policy:                 dispatch.Policy{Delays: cfg.RetryDelays, Jitter: 0.1},
			Timeout:                cfg.DeliveryTimeout,
			MaxInFlightPerEndpoint: cfg.MaxInFlightPerEndpoint,
			MaxInFlight:            cfg.MaxInFlight,
			LeaseTTL:               cfg.LeaseTTL,
			PollInterval:           cfg.PollInterval,
			ShutdownTimeout:        cfg.ShutdownTimeout,
			StallAfter:             cfg.StallTimeout,
			Retention:              cfg.Retention,
			Breaker:                dispatch.Breaker{Threshold: cfg.BreakerThreshold, Cooldown: cfg.BreakerCooldown, MaxCooldown: cfg.BreakerMaxCooldown},
			AutoDisable:            dispatch.AutoDisable{Failures: cfg.DisableAfterFailures, After: cfg.DisableAfter},
			QueueMaxAge:            cfg.QueueMaxAge,
		})
		wake = a.Dispatcher.Notify
		readiness = append(readiness, a.Dispatcher.Stalled)
	}
	if !cfg.API {
		// A dispatcher-only node still answers its orchestrator and its
		// scraper: a stall must show on every node, not just API nodes.
		a.API = api.NewHealth(api.Deps{Store: st, Log: log, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			Readiness: readiness})
	}
	if cfg.API {
		a.Liveness = liveness.New(st, c, log, cfg.LeaseTTL)
		if err := a.Liveness.Register(ctx); err != nil {
			if !errors.Is(err, store.ErrUnavailable) {
				st.Close()
				return nil, fmt.Errorf("register this process: %w", err)
			}
			// Serve anyway: /readyz and every write say 503 with the
			// reason, and the heartbeat registers once writes work again.
			log.Error("the database does not take writes; serving 503 until it does", "err", err)
		}
		a.Intake = intake.New(st, c, wake, m, log, intake.Config{QueueMax: cfg.QueueMax})
		catalog := intake.NewCatalog(st, 5*time.Second)
		a.Ops = operations.New(operations.Deps{Store: st, Catalog: catalog, Box: box, CheckURL: guard.CheckURL, Wake: wake, Clock: c,
			Metrics: m})
		a.Dashboard, err = dashboard.New(dashboard.Deps{Ops: a.Ops, Box: box, Signer: signing.NewSigner(cfg.HeaderPrefix, "hookrelay/"+Version),
			PublicURL: cfg.PublicURL, Clock: c, Log: log})
		if err != nil {
			st.Close()
			return nil, err
		}
		a.API = api.New(api.Deps{
			Store:           st,
			Ops:             a.Ops,
			Publisher:       a.Intake,
			Catalog:         catalog,
			Box:             box,
			Wake:            wake,
			Clock:           c,
			Log:             log,
			Metrics:         promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			HTTPMetrics:     metrics.NewHTTP(reg),
			DeliveryMetrics: m,
			RateLimit:       cfg.RateLimit,
			RateBurst:       cfg.RateBurst,
			QueueMax:        cfg.QueueMax,
			Readiness:       readiness,
			Owner:           a.Liveness,
			BodyMemory:      int64(cfg.MaxBodyMemory),
		})
	}
	return a, nil
}

// mount serves the API's paths (SPEC §3: /v1/*, /healthz, /readyz,
// /metrics) from the API and every other path from the dashboard (SPEC §5:
// pages at /, sign-in at /login), on one address.
func mount(apiServer, dash http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/v1/") || p == "/v1" || p == "/healthz" || p == "/readyz" || p == "/metrics" {
			apiServer.ServeHTTP(w, r)
			return
		}
		dash.ServeHTTP(w, r)
	})
}

// Handler is what the process serves on its address: the API and the
// dashboard, or on a dispatcher-only node (--api=false) its health routes.
func (a *App) Handler() http.Handler {
	if a.Dashboard == nil {
		return a.API
	}
	return mount(a.API, a.Dashboard)
}

// listener is a store that hears of due work other processes create
// (PostgreSQL's LISTEN/NOTIFY); SQLite's processes poll instead.
type listener interface {
	Listen(ctx context.Context, log *slog.Logger, wake func(endpointIDs []string))
}

// Listen binds the API's address (":0" picks a free port); Addr tells it.
func (a *App) Listen() error {
	if a.API == nil || a.listener != nil {
		return nil
	}
	l, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.cfg.Addr, err)
	}
	a.listener = l
	return nil
}

// Addr is the API's bound address, or "" when the API is off.
func (a *App) Addr() string {
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// Run serves until ctx ends, then stops in the order that loses nothing:
// the HTTP server first (requests in progress finish, and their publishes
// commit because the intake still runs), then the intake, then the
// dispatcher (which lets in-flight deliveries finish and hands its
// endpoints back).
func (a *App) Run(ctx context.Context) error {
	defer a.Store.Close()
	if err := a.Listen(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	intakeCtx, stopIntake := context.WithCancel(context.WithoutCancel(ctx))
	defer stopIntake()
	if a.Intake != nil {
		wg.Go(func() { a.Intake.Run(intakeCtx) })
	}
	livenessCtx, stopLiveness := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLiveness()
	var live sync.WaitGroup
	if a.Liveness != nil {
		live.Go(func() { a.Liveness.Run(livenessCtx) })
	}
	dispatchCtx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDispatch()
	if l, ok := a.Store.(listener); ok && a.Dispatcher != nil {
		// Work other nodes publish wakes this dispatcher at once, not at
		// its next poll.
		wg.Go(func() { l.Listen(dispatchCtx, a.log, a.Dispatcher.Notify) })
	}
	dispatched := make(chan struct{})
	if a.Dispatcher != nil {
		go func() {
			_ = a.Dispatcher.Run(dispatchCtx)
			close(dispatched)
		}()
	} else {
		close(dispatched)
	}

	if a.cfg.PprofAddr != "" {
		stopPprof, err := servePprof(a.cfg.PprofAddr, a.log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	var srv *http.Server
	serveErr := make(chan error, 1)
	unused := newUnusedConns()
	if a.API != nil {
		srv = &http.Server{
			ConnState:         unused.track,
			Handler:           a.Handler(),
			ReadHeaderTimeout: a.opt.ReadHeaderTimeout,
			ReadTimeout:       a.opt.ReadTimeout, // a slow-loris body cannot hold a connection forever
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			// The API refuses headers over 64 KiB itself, in its JSON
			// envelope; the server's own refusal is plain text.
			MaxHeaderBytes: http.DefaultMaxHeaderBytes,
			ErrorLog:       slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		}
		// Shutdown waits for a connection that has not sent a byte until it
		// is five seconds old (net/http treats it as a request about to
		// arrive); clients and load balancers open such connections ahead
		// of need, and nothing is lost by closing them once the listener
		// is closed.
		srv.RegisterOnShutdown(unused.closeAll)
		a.log.Info("hookrelay listening", "addr", a.Addr(), "database", config.DatabaseName(a.cfg.Database), "version", Version)
		go func() { serveErr <- srv.Serve(a.listener) }()
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	}
	a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout.String())
	// The dispatcher stops beside the HTTP server, not after it, so that the
	// whole shutdown fits in --shutdown-timeout: its work is all in the
	// database, and publishes still committing only add more of it.
	stopDispatch()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		if e := srv.Shutdown(sctx); e != nil {
			a.log.Warn("http shutdown", "err", e)
		}
		cancel()
	}
	stopIntake()
	wg.Wait()
	<-dispatched
	stopLiveness() // last: requests in progress held keys until now
	live.Wait()
	return err
}

// unusedConns are the server's connections that have not yet sent a byte.
type unusedConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newUnusedConns() *unusedConns { return &unusedConns{conns: map[net.Conn]struct{}{}} }

func (u *unusedConns) track(c net.Conn, state http.ConnState) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if state == http.StateNew {
		u.conns[c] = struct{}{}
	} else {
		delete(u.conns, c)
	}
}

func (u *unusedConns) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for c := range u.conns {
		_ = c.Close()
		delete(u.conns, c)
	}
}
