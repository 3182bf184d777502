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
	"strings"
	"sync"
	"sync/atomic"
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
	EndpointsRelease(ctx context.Context, p store.EndpointsReleaseParams) (int, error)
	DeliveriesDueBatch(ctx context.Context, ps []store.DeliveriesDueParams) ([][]store.DueDelivery, error)
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
	MaxInFlight            int           // requests in flight across all endpoints [2048]
	MaxEndpoints           int           // endpoints leased at once by this process [10000]
	LeaseTTL               time.Duration // [30s]
	PollInterval           time.Duration // how often to look for due work another process created [250ms]
	RecordInterval         time.Duration // longest a result waits to be written [5ms]
	RecordBatch            int           // most results written in one transaction [1000]
	// RecordBacklog is how many results may wait to be written before
	// workers stop starting requests [4000]. Requests already in flight
	// still finish, so it bounds memory, not correctness.
	RecordBacklog   int
	ShutdownTimeout time.Duration // how long shutdown may take in all, in-flight requests included [10s]
	// StallAfter is how long work may wait with nothing progressing before
	// the watchdog reports a stall [60s; at least twice Timeout].
	StallAfter    time.Duration
	Retention     time.Duration // delivery log kept this long [720h]; 0 keeps the default, <0 never prunes
	PruneInterval time.Duration // [1m]
	Breaker       Breaker       // [5 failures, 30s doubling to 30m]
	AutoDisable   AutoDisable   // [5 failed deliveries and no success for 24h]
	QueueMaxAge   time.Duration // queued deliveries older than this are dropped [168h]
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
	def(&c.StallAfter, time.Minute)
	// A request may legitimately take the whole timeout; only twice that
	// without any progress is a stall.
	c.StallAfter = max(c.StallAfter, 2*c.Timeout)
	def(&c.Retention, 720*time.Hour)
	def(&c.PruneInterval, time.Minute)
	if c.MaxInFlightPerEndpoint <= 0 {
		c.MaxInFlightPerEndpoint = 10
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 2048
	}
	if c.MaxEndpoints <= 0 {
		c.MaxEndpoints = 10000
	}
	if c.RecordBatch <= 0 {
		c.RecordBatch = 1000
	}
	if c.RecordBacklog <= 0 {
		c.RecordBacklog = 4 * c.RecordBatch
	}
	def(&c.QueueMaxAge, 7*24*time.Hour)
	c.Breaker.defaults()
	c.AutoDisable.defaults()
}

// Dispatcher delivers. Create it with New and start it with Run.
//
// Its goroutines and who may block whom (docs/architecture.md draws it):
// the claim loop starts one worker per leased endpoint; each worker starts
// one goroutine per request; the completer writes results; the renew loop,
// the janitor and the watchdog run on tickers. Only the completer and the
// claim loop wait on the database for long; no goroutine ever waits on a
// worker, and a worker waits on nothing but its own select.
type Dispatcher struct {
	store   Store
	client  *http.Client
	box     *secretbox.Box
	signer  *signing.Signer
	clock   clock.Clock
	log     *slog.Logger
	logErr  *errorLog
	metrics *metrics.Metrics
	cfg     Config
	owner   string

	wake       chan struct{}
	completer  *completer
	fetcher    *fetcher
	slots      *slots
	claimWatch watchState
	stalled    atomic.Pointer[stall]
	plan       atomic.Pointer[shutdownPlan] // set when shutdown begins

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
	d.logErr = &errorLog{d: d, interval: 10 * time.Second, last: map[string]*errorSeen{}}
	d.completer = newCompleter(s, log, m, cfg.RecordInterval, cfg.RecordBatch, cfg.RecordBacklog)
	d.fetcher = newFetcher(s, fetchBatch)
	d.slots = newSlots(cfg.MaxInFlight)
	return d
}

// Notify tells the dispatcher that endpoints got due work (a publish, a
// replay, a test event in this process). Workers already sending to them
// look again at once; others are claimed at once instead of at the next
// poll. It never blocks.
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
		signal(d.wake)
	}
}

// fetchBatch is the most endpoints' reads answered from one transaction.
const fetchBatch = 256

// shutdownPlan splits ShutdownTimeout, counted from the stop signal: in-
// flight requests may finish until sendsEnd, then are cancelled; workers
// wait for their results to be written until workersEnd, then end anyway
// (what was not written is sent again later); the completer writes what
// it holds until end.
type shutdownPlan struct {
	sendsEnd, workersEnd, end time.Time
}

func (d *Dispatcher) planShutdown(now time.Time) shutdownPlan {
	reserve := min(d.cfg.ShutdownTimeout/4, 2*time.Second)
	end := now.Add(d.cfg.ShutdownTimeout)
	return shutdownPlan{sendsEnd: end.Add(-reserve), workersEnd: end.Add(-reserve / 2), end: end}
}

// Run dispatches until ctx ends, then shuts down within ShutdownTimeout:
// no new requests start, in-flight ones may finish, results are written
// and leases given back so other nodes take over at once.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.log.Info("dispatcher started", "owner", d.owner, "max_in_flight_per_endpoint", d.cfg.MaxInFlightPerEndpoint,
		"max_in_flight", d.cfg.MaxInFlight,
		"retry_schedule", formatDelays(d.cfg.Policy.Delays), "timeout", d.cfg.Timeout.String(),
		"stall_after", d.cfg.StallAfter.String())
	// Requests outlive ctx by the shutdown grace period: they stop on
	// sendCtx, cancelled when that period is over.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	abandon := make(chan struct{})
	recordCtx, stopRecording := context.WithCancel(context.WithoutCancel(ctx))
	recorded := make(chan struct{})
	go func() {
		d.completer.run(recordCtx, func() time.Time { return d.plan.Load().end })
		close(recorded)
	}()
	fetchCtx, stopFetching := context.WithCancel(context.WithoutCancel(ctx))
	fetched := make(chan struct{})
	go func() {
		d.fetcher.run(fetchCtx)
		close(fetched)
	}()

	var wg sync.WaitGroup
	watchCtx, stopWatching := context.WithCancel(context.WithoutCancel(ctx))
	wg.Go(func() { d.renewLoop(ctx, watchCtx) })
	wg.Go(func() { d.janitor(ctx) })
	wg.Go(func() { d.watchdog(watchCtx) })
	var workers sync.WaitGroup
	poll := time.NewTicker(d.cfg.PollInterval)
	defer poll.Stop()
	for ctx.Err() == nil {
		d.claim(ctx, sendCtx, abandon, &workers)
		select {
		case <-ctx.Done():
		case <-poll.C:
		case <-d.wake:
		}
	}

	p := d.planShutdown(time.Now())
	d.plan.Store(&p)
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(p.sendsEnd)):
		d.log.Warn("shutdown grace period over: cancelling requests still in flight")
		cancelSends()
		select {
		case <-done:
		case <-time.After(time.Until(p.workersEnd)):
			d.log.Warn("shutdown deadline: leaving without waiting for results still being written")
			close(abandon)
			<-done
		}
	}
	// Workers stopped by the shutdown left their leases for this: one
	// statement gives them all back, so another node takes over at once.
	rctx, cancel := d.bookkeepingCtx()
	if n, err := d.store.EndpointsRelease(rctx, store.EndpointsReleaseParams{Owner: d.owner}); err != nil {
		d.log.Error("release leases at shutdown; they expire after --lease-ttl", "err", err)
	} else if n > 0 {
		d.log.Info("leases given back", "endpoints", n)
	}
	cancel()
	stopWatching()
	wg.Wait()
	stopFetching()
	<-fetched
	stopRecording()
	<-recorded
	d.log.Info("dispatcher stopped")
	return nil
}

// bookkeepingCtx bounds a release or a disable: never the cancelled
// context of a shutdown (a release that never happens makes another node
// wait a whole lease TTL), never past the shutdown's end.
func (d *Dispatcher) bookkeepingCtx() (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(bookkeepingTimeout)
	if p := d.plan.Load(); p != nil && p.end.Before(deadline) {
		deadline = p.end
	}
	return context.WithDeadline(context.Background(), deadline)
}

func formatDelays(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.String()
	}
	return strings.Join(parts, ",")
}

func (d *Dispatcher) claim(ctx, sendCtx context.Context, abandon <-chan struct{}, workers *sync.WaitGroup) {
	d.mu.Lock()
	room := d.cfg.MaxEndpoints - len(d.workers)
	d.mu.Unlock()
	if room <= 0 {
		return
	}
	now := d.clock.Now()
	d.claimWatch.set("claiming endpoints")
	claimed, err := d.store.EndpointsClaim(ctx, store.EndpointsClaimParams{
		Owner: d.owner, Now: now, LeaseUntil: now.Add(d.cfg.LeaseTTL), Limit: room,
	})
	if err != nil {
		if ctx.Err() == nil {
			// Still counted as busy: a claim that keeps failing is a stall.
			d.claimWatch.set("claiming endpoints, failing: " + err.Error())
			d.logErr.Error("claim endpoints", "err", err)
		}
		return
	}
	d.claimWatch.update("waiting for due work", false)
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
			d.logErr.Error("endpoint secret cannot be opened; check --encryption-key", "endpoint", c.ID, "err", err)
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
			w.run(ctx, sendCtx, abandon)
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
// took it), so two nodes never keep sending to one endpoint. Workers still
// finishing after ctx ends keep their leases until stop ends.
func (d *Dispatcher) renewLoop(ctx, stop context.Context) {
	t := time.NewTicker(d.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-stop.Done():
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.LeaseTTL/3)
		d.renew(rctx)
		cancel()
	}
}

func (d *Dispatcher) renew(ctx context.Context) {
	now := d.clock.Now()
	held, err := d.store.EndpointsRenew(ctx, store.EndpointsRenewParams{Owner: d.owner, Now: now, LeaseUntil: now.Add(d.cfg.LeaseTTL)})
	if err != nil {
		d.logErr.Error("renew leases", "err", err)
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
		d.metrics.DeliveriesDropped(metrics.DropAge, n)
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
