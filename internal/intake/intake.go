// Package intake accepts published events. Concurrent publishes are grouped
// into one store transaction (group commit): while one batch is being
// committed and fsynced, the next one gathers, so under load many
// publishes share one fsync and nobody waits for a timer.
package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/store"
)

// Publisher is the part of the store intake needs.
type Publisher interface {
	EventsPublish(ctx context.Context, p store.EventsPublishParams) ([]store.PublishResult, error)
}

// Config tunes group commit.
type Config struct {
	// MaxBatch caps the events in one transaction, bounding its latency.
	MaxBatch int
	// Committers is how many transactions may run at once: 1 for SQLite
	// (one writer anyway), more for PostgreSQL.
	Committers int
	// QueueMax caps each disabled endpoint's queue (0: no cap).
	QueueMax int
}

// Intake commits events.
type Intake struct {
	store   Publisher
	clock   clock.Clock
	notify  func(endpointIDs []string)
	metrics *metrics.Metrics
	log     *slog.Logger
	cfg     Config
	reqs    chan *request
	stopped chan struct{} // closed when Run has returned

	mu   sync.Mutex
	last time.Time // publish times never go backwards, so publish order is time order
}

type request struct {
	queued  time.Time // real time, for the wait metric
	events  []store.PublishEvent
	results []store.PublishResult
	err     error
	done    chan struct{}
}

// ErrClosed is returned once the intake has stopped.
var ErrClosed = errors.New("intake is shutting down")

// New returns an Intake; notify (may be nil) is told which endpoints got
// new work after each commit, to wake this process's dispatcher at once.
func New(s Publisher, c clock.Clock, notify func([]string), m *metrics.Metrics, log *slog.Logger, cfg Config) *Intake {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 2000
	}
	if cfg.Committers <= 0 {
		cfg.Committers = 1
	}
	return &Intake{store: s, clock: c, notify: notify, metrics: m, log: log, cfg: cfg, reqs: make(chan *request, 4096),
		stopped: make(chan struct{})}
}

// Run commits batches until ctx ends, then fails what was already queued.
func (in *Intake) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range in.cfg.Committers {
		wg.Go(func() { in.commitLoop(ctx) })
	}
	wg.Wait()
	close(in.stopped)
	in.drain()
}

// Publish commits events durably and returns one result per event. It
// returns only after the transaction holding them has committed.
func (in *Intake) Publish(ctx context.Context, events []store.PublishEvent) ([]store.PublishResult, error) {
	r := &request{queued: time.Now(), events: events, done: make(chan struct{})}
	select {
	case in.reqs <- r:
	case <-in.stopped:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-r.done:
		return r.results, r.err
	case <-in.stopped:
		// Queued as the intake stopped: nobody will commit it. Whoever
		// takes it from the queue (a commit loop's last batch, or a drain)
		// finishes it.
		in.drain()
		<-r.done
		return r.results, r.err
	case <-ctx.Done():
		// The batch may still commit; the caller saw no acknowledgement,
		// and a retry with the same event_id will find it.
		return nil, ctx.Err()
	}
}

func (in *Intake) commitLoop(ctx context.Context) {
	for {
		var first *request
		select {
		case first = <-in.reqs:
		case <-ctx.Done():
			in.drain()
			return
		}
		batch := []*request{first}
		n := len(first.events)
	gather:
		for n < in.cfg.MaxBatch {
			select {
			case r := <-in.reqs:
				batch = append(batch, r)
				n += len(r.events)
			default:
				break gather
			}
		}
		in.commit(context.WithoutCancel(ctx), batch)
	}
}

// drain fails requests still queued at shutdown: their callers get an error
// (not an acknowledgement), so nothing acknowledged is lost.
func (in *Intake) drain() {
	for {
		select {
		case r := <-in.reqs:
			r.err = ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

func (in *Intake) now() time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	t := in.clock.Now().Truncate(time.Millisecond)
	if t.Before(in.last) {
		t = in.last
	}
	in.last = t
	return t
}

func (in *Intake) commit(ctx context.Context, batch []*request) {
	var events []store.PublishEvent
	start := time.Now()
	for _, r := range batch {
		events = append(events, r.events...)
		if !r.queued.IsZero() {
			in.metrics.PublishWait.Observe(start.Sub(r.queued).Seconds())
			r.queued = time.Time{} // a retry alone is not a second wait
		}
	}
	results, err := in.store.EventsPublish(ctx, store.EventsPublishParams{Events: events, Now: in.now(), QueueMax: in.cfg.QueueMax})
	in.metrics.PublishCommit.Observe(time.Since(start).Seconds())
	if err != nil && errors.Is(err, store.ErrUnavailable) {
		// The storage failed, not a request: retrying them one by one
		// would only fail again.
		for _, r := range batch {
			r.err = fmt.Errorf("commit events: %w", err)
			close(r.done)
		}
		return
	}
	if err != nil && len(batch) > 1 {
		// One bad request must not fail its neighbours: retry them alone.
		in.log.Warn("group commit failed; retrying requests one by one", "requests", len(batch), "err", err)
		for _, r := range batch {
			in.commit(ctx, []*request{r})
		}
		return
	}
	if err != nil {
		batch[0].err = fmt.Errorf("commit events: %w", err)
		close(batch[0].done)
		return
	}
	in.metrics.PublishBatchSize.Observe(float64(len(events)))
	dropped := 0
	for _, res := range results {
		dropped += res.Dropped
	}
	// Counted before any publisher is answered, so that a scrape it makes
	// next already shows what its publish dropped.
	in.metrics.DeliveriesDropped(metrics.DropQueueLimit, dropped)
	var woken []string
	seen := map[string]bool{}
	i := 0
	for _, r := range batch {
		r.results = results[i : i+len(r.events)]
		i += len(r.events)
		for _, res := range r.results {
			if !res.Duplicate {
				in.metrics.EventsPublished.Inc()
			}
			for _, id := range res.EndpointIDs {
				if !seen[id] {
					seen[id] = true
					woken = append(woken, id)
				}
			}
		}
		close(r.done)
	}
	if in.notify != nil && len(woken) > 0 {
		in.notify(woken)
	}
}
