// Package app owns the order in which hookrelay's parts start and stop.
// main parses configuration and calls Open then Run; tests and the demo do
// the same in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookrelay/hookrelay/internal/api"
	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/dispatch"
	"github.com/hookrelay/hookrelay/internal/intake"
	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/internal/ssrf"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
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
	listener   net.Listener
}

// OpenStore opens (and migrates) the configured database. The commands
// that only touch data (admin, migrate) use it alone.
func OpenStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	if cfg.IsPostgres() {
		return nil, errors.New("PostgreSQL storage is not part of this build yet; use a SQLite file for --database")
	}
	s, err := sqlite.Open(cfg.Database)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// LoadKey returns the secret-encryption key: the configured one, or for
// SQLite the key file beside the database, created on first run.
func LoadKey(cfg *config.Config) (*secretbox.Box, error) {
	var key []byte
	var err error
	switch {
	case cfg.EncryptionKey != "":
		key, err = secretbox.ParseKey(cfg.EncryptionKey)
	case cfg.IsPostgres():
		return nil, errors.New("--encryption-key is required with PostgreSQL: every node must share it")
	default:
		key, err = secretbox.LoadOrCreateKeyFile(keyPath(cfg.Database))
	}
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	return secretbox.New(key)
}

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
	if cfg.DevAllowLocalhost {
		log.Warn("DEVELOPMENT MODE: --dev-allow-localhost lets endpoints use http:// and loopback addresses; never enable it in production")
	}
	box, err := LoadKey(cfg)
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
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
		a.Dispatcher = dispatch.New(st, guard.Client(cfg.MaxInFlightPerEndpoint), box, signer, c, log, m, dispatch.Config{
			Policy:                 dispatch.Policy{Delays: cfg.RetryDelays, Jitter: 0.1},
			Timeout:                cfg.DeliveryTimeout,
			MaxInFlightPerEndpoint: cfg.MaxInFlightPerEndpoint,
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
		a.Intake = intake.New(st, c, wake, m, log, intake.Config{QueueMax: cfg.QueueMax})
		a.API = api.New(api.Deps{
			Store:       st,
			Publisher:   a.Intake,
			Catalog:     intake.NewCatalog(st, 5*time.Second),
			Box:         box,
			CheckURL:    guard.CheckURL,
			Wake:        wake,
			Clock:       c,
			Log:         log,
			Metrics:     promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			HTTPMetrics: metrics.NewHTTP(reg),
			RateLimit:   cfg.RateLimit,
			RateBurst:   cfg.RateBurst,
			QueueMax:    cfg.QueueMax,
			Readiness:   readiness,
		})
	}
	return a, nil
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
	dispatchCtx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDispatch()
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
	if a.API != nil {
		srv = &http.Server{
			Handler:           a.API,
			ReadHeaderTimeout: a.opt.ReadHeaderTimeout,
			ReadTimeout:       a.opt.ReadTimeout, // a slow-loris body cannot hold a connection forever
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		}
		a.log.Info("hookrelay listening", "addr", a.Addr(), "database", a.cfg.Database, "version", Version)
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
	return err
}
