// Package dispatch sends deliveries: it leases endpoints that have due work,
// sends their deliveries signed, records every attempt and schedules
// retries.
//
// The unit of work is the endpoint, not the delivery. A process leases an
// endpoint (a row lease with an expiry, renewed while it works) and is then
// the only sender to it, so per-endpoint ordering and the in-flight cap are
// plain in-memory rules, and one slow endpoint only ever occupies its own
// worker. A crashed process's leases expire and another process (or the same
// one restarted) claims the endpoints; what was in flight is still pending
// in the database and is sent again: at least once, never lost.
//
// Claiming, sending and recording are three parts: a claim loop, one
// worker goroutine per leased endpoint, and a completer that writes
// attempt results in batches so the single SQLite writer is not asked for
// one transaction per request.
package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/internal/store"
)

// Store is the part of the store the dispatcher uses.
type Store interface {
	EndpointsClaim(ctx context.Context, p store.EndpointsClaimParams) ([]store.ClaimedEndpoint, error)
	EndpointsRenew(ctx context.Context, p store.EndpointsRenewParams) ([]string, error)
	EndpointRelease(ctx context.Context, p store.EndpointReleaseParams) (bool, error)
	DeliveriesDue(ctx context.Context, p store.DeliveriesDueParams) ([]store.DueDelivery, error)
	DeliveriesRecord(ctx context.Context, results []store.AttemptResult) error
	Prune(ctx context.Context, p store.PruneParams) (int, error)
	QueueExpire(ctx context.Context, p store.QueueExpireParams) (int, error)
	EndpointDisable(ctx context.Context, p store.EndpointDisableParams) (bool, error)
	EndpointReload(ctx context.Context, p store.EndpointReloadParams) (store.ClaimedEndpoint, error)
}

// Config tunes the dispatcher. Zero values take the defaults in brackets.
type Config struct {
	Policy                 Policy
	Timeout                time.Duration // per attempt [30s]
	MaxInFlightPerEndpoint int           // [10]
	MaxEndpoints           int           // endpoints leased at once by this process [10000]
	LeaseTTL               time.Duration // [30s]
	PollInterval           time.Duration // how often to look for due work another process created [250ms]
	RecordInterval         time.Duration // longest a result waits to be written [5ms]
	ShutdownTimeout        time.Duration // how long in-flight requests may finish at shutdown [10s]
	Retention              time.Duration // delivery log kept this long [720h]; 0 keeps the default, <0 never prunes
	PruneInterval          time.Duration // [1m]
	Breaker                Breaker       // [5 failures, 30s doubling to 30m]
	AutoDisable            AutoDisable   // [5 failed deliveries and no success for 24h]
	QueueMaxAge            time.Duration // queued deliveries older than this are dropped [168h]
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Timeout, 30*time.Second)
	def(&c.LeaseTTL, 30*time.Second)
	def(&c.PollInterval, 250*time.Millisecond)
	def(&c.RecordInterval, 5*time.Millisecond)
	def(&c.ShutdownTimeout, 10*time.Second)
	def(&c.Retention, 720*time.Hour)
	def(&c.PruneInterval, time.Minute)
	if c.MaxInFlightPerEndpoint <= 0 {
		c.MaxInFlightPerEndpoint = 10
	}
	if c.MaxEndpoints <= 0 {
		c.MaxEndpoints = 10000
	}
	def(&c.QueueMaxAge, 7*24*time.Hour)
	c.Breaker.defaults()
	c.AutoDisable.defaults()
}

// Dispatcher delivers. Create it with New and start it with Run.
type Dispatcher struct {
	store   Store
	client  *http.Client
	box     *secretbox.Box
	signer  *signing.Signer
	clock   clock.Clock
	log     *slog.Logger
	metrics *metrics.Metrics
	cfg     Config
	owner   string

	wake      chan struct{}
	completer *completer

	mu      sync.Mutex
	workers map[string]*worker // by endpoint id
}

// New returns a dispatcher. client must be the SSRF-guarded client, with
// redirects disabled; box opens the endpoints' secrets.
func New(s Store, client *http.Client, box *secretbox.Box, signer *signing.Signer, c clock.Clock,
	log *slog.Logger, m *metrics.Metrics, cfg Config) *Dispatcher {
	cfg.defaults()
	host, _ := os.Hostname()
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	d := &Dispatcher{
		store: s, client: client, box: box, signer: signer, clock: c, log: log, metrics: m, cfg: cfg,
		owner:   fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(suffix)),
		wake:    make(chan struct{}, 1),
		workers: map[string]*worker{},
	}
	d.completer = newCompleter(s, log, m, cfg.RecordInterval)
	return d
}

// Notify tells the dispatcher that endpoints got due work (a publish, a
// replay, a test event in this process). Workers already sending to them
// look again at once; others are claimed at once instead of at the next
// poll.
func (d *Dispatcher) Notify(endpointIDs []string) {
	claim := false
	d.mu.Lock()
	for _, id := range endpointIDs {
		if w, ok := d.workers[id]; ok {
			w.poke()
		} else {
			claim = true
		}
	}
	d.mu.Unlock()
	if claim {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// Run dispatches until ctx ends, then shuts down gracefully: no new
// requests start, in-flight ones get ShutdownTimeout to finish, results are
// written and leases given back so other nodes take over at once.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.log.Info("dispatcher started", "owner", d.owner, "max_in_flight_per_endpoint", d.cfg.MaxInFlightPerEndpoint,
		"retry_schedule", fmt.Sprint(d.cfg.Policy.Delays), "timeout", d.cfg.Timeout)
	// Workers outlive ctx by the shutdown grace period; they stop on
	// workCtx, cancelled only when that period is over.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	recordCtx, stopRecording := context.WithCancel(context.WithoutCancel(ctx))
	recorded := make(chan struct{})
	go func() {
		d.completer.run(recordCtx)
		close(recorded)
	}()

	var wg sync.WaitGroup
	wg.Go(func() { d.renewLoop(ctx, workCtx) })
	wg.Go(func() { d.janitor(ctx) })
	var workers sync.WaitGroup
	poll := time.NewTicker(d.cfg.PollInterval)
	defer poll.Stop()
	for ctx.Err() == nil {
		d.claim(ctx, workCtx, &workers)
		select {
		case <-ctx.Done():
		case <-poll.C:
		case <-d.wake:
		}
	}

	// Shutdown: workers see ctx done, stop taking work and wait for their
	// requests; after the grace period the requests are cancelled.
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d.cfg.ShutdownTimeout):
		d.log.Warn("shutdown grace period over: cancelling requests still in flight")
		cancelWork()
		<-done
	}
	wg.Wait()
	stopRecording()
	<-recorded
	d.log.Info("dispatcher stopped")
	return nil
}

func (d *Dispatcher) claim(ctx, workCtx context.Context, workers *sync.WaitGroup) {
	d.mu.Lock()
	room := d.cfg.MaxEndpoints - len(d.workers)
	d.mu.Unlock()
	if room <= 0 {
		return
	}
	now := d.clock.Now()
	claimed, err := d.store.EndpointsClaim(ctx, store.EndpointsClaimParams{
		Owner: d.owner, Now: now, LeaseUntil: now.Add(d.cfg.LeaseTTL), Limit: room,
	})
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("claim endpoints", "err", err)
		}
		return
	}
	for _, c := range claimed {
		d.mu.Lock()
		w, held := d.workers[c.ID]
		d.mu.Unlock()
		if held {
			// Our own lease had expired (a stall, or a clock jump) and we
			// took it back: the worker is still running; never start a
			// second one for the same endpoint.
			w.poke()
			continue
		}
		ep, err := d.endpointState(c)
		if err != nil {
			// Without a secret nothing can be signed; leave the lease to
			// expire so the error repeats visibly rather than silently.
			d.log.Error("endpoint secret cannot be opened; check --encryption-key", "endpoint", c.ID, "err", err)
			continue
		}
		w = newWorker(d, ep)
		d.mu.Lock()
		d.workers[c.ID] = w
		d.metrics.EndpointsHeld.Set(float64(len(d.workers)))
		d.mu.Unlock()
		workers.Add(1)
		go func() {
			defer workers.Done()
			w.run(ctx, workCtx)
			d.mu.Lock()
			delete(d.workers, c.ID)
			d.metrics.EndpointsHeld.Set(float64(len(d.workers)))
			d.mu.Unlock()
		}()
	}
}

// endpointState is what a worker needs about its endpoint.
type endpointState struct {
	id          string
	accountID   string
	strictOrder bool
	createdAt   time.Time
	target      *target              // replaced, never changed, when the endpoint is reloaded
	health      store.EndpointHealth // owned by the worker while it holds the lease
}

// target is where and how to send; requests in flight keep the one they
// started with while the worker loads a newer one.
type target struct {
	url     string
	version int64 // the endpoint's secret_version this was loaded at
	secrets []heldSecret
}

type heldSecret struct {
	secret  signing.Secret
	expires *time.Time // end of a rotation grace period
}

// signingSecrets returns the secrets that sign at now, newest first.
func (t *target) signingSecrets(now time.Time) []signing.Secret {
	out := make([]signing.Secret, 0, len(t.secrets))
	for _, s := range t.secrets {
		if s.expires == nil || s.expires.After(now) {
			out = append(out, s.secret)
		}
	}
	return out
}

func (d *Dispatcher) endpointState(c store.ClaimedEndpoint) (*endpointState, error) {
	t, err := d.target(c)
	if err != nil {
		return nil, err
	}
	return &endpointState{id: c.ID, accountID: c.AccountID, strictOrder: c.StrictOrder,
		createdAt: c.CreatedAt, health: c.Health, target: t}, nil
}

func (d *Dispatcher) target(c store.ClaimedEndpoint) (*target, error) {
	t := &target{url: c.URL, version: c.SecretVersion}
	for _, s := range c.Secrets {
		plain, err := d.box.Open(s.Ciphertext, []byte(c.ID))
		if err != nil {
			return nil, err
		}
		sec, err := signing.ParseSecret(string(plain))
		if err != nil {
			return nil, fmt.Errorf("endpoint %s secret: %w", c.ID, err)
		}
		t.secrets = append(t.secrets, heldSecret{secret: sec, expires: s.ExpiresAt})
	}
	if len(t.secrets) == 0 {
		return nil, fmt.Errorf("endpoint %s has no valid secret", c.ID)
	}
	return t, nil
}

// renewLoop keeps this process's leases alive and stops the workers of any
// endpoint whose lease was lost (we stalled past the TTL and another node
// took it), so two nodes never keep sending to one endpoint.
func (d *Dispatcher) renewLoop(ctx, workCtx context.Context) {
	t := time.NewTicker(d.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			// Workers still finishing keep their leases through the grace period.
			for {
				d.mu.Lock()
				n := len(d.workers)
				d.mu.Unlock()
				if n == 0 {
					return
				}
				select {
				case <-t.C:
					d.renew(workCtx)
				case <-workCtx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
		d.renew(ctx)
	}
}

func (d *Dispatcher) renew(ctx context.Context) {
	now := d.clock.Now()
	held, err := d.store.EndpointsRenew(ctx, store.EndpointsRenewParams{Owner: d.owner, Now: now, LeaseUntil: now.Add(d.cfg.LeaseTTL)})
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("renew leases", "err", err)
		}
		return
	}
	still := make(map[string]bool, len(held))
	for _, id := range held {
		still[id] = true
	}
	d.mu.Lock()
	for id, w := range d.workers {
		if !still[id] {
			d.log.Warn("lease lost; stopping sends to endpoint", "endpoint", id)
			w.stop()
		}
	}
	d.mu.Unlock()
}

// janitor enforces the time limits: the queue's age limit (old queued
// deliveries become dropped, with the reason) and retention (finished
// deliveries, their attempts and events are deleted). Both work in small
// batches so the writer is never held for long.
func (d *Dispatcher) janitor(ctx context.Context) {
	t := time.NewTicker(d.cfg.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.Sweep(ctx)
	}
}

// Sweep runs the janitor's work once (tests call it directly).
func (d *Dispatcher) Sweep(ctx context.Context) {
	now := d.clock.Now()
	const batch = 1000
	for ctx.Err() == nil {
		n, err := d.store.QueueExpire(ctx, store.QueueExpireParams{Before: now.Add(-d.cfg.QueueMaxAge), Now: now, Limit: batch,
			Reason: fmt.Sprintf("queue limit: queued longer than %s", d.cfg.QueueMaxAge)})
		if err != nil {
			d.log.Error("expire queued deliveries", "err", err)
			break
		}
		d.metrics.Dropped.Add(float64(n))
		if n < batch {
			break
		}
	}
	var before time.Time // zero: keep the log (retention off)
	if d.cfg.Retention > 0 {
		before = now.Add(-d.cfg.Retention)
	}
	for ctx.Err() == nil {
		// Idempotency keys answer repeats for 24 h (SPEC §3).
		n, err := d.store.Prune(ctx, store.PruneParams{Before: before, Limit: batch,
			IdempotencyBefore: now.Add(-24 * time.Hour)})
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("prune", "err", err)
			}
			return
		}
		if n < batch {
			return
		}
	}
}
