package dispatch

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/store"
)

// completer writes attempt results in batches: at thousands of attempts a
// second, one transaction each would saturate SQLite's single writer.
//
// It never waits on a worker. Workers hand it results with add, which
// only appends under a mutex; it tells them what was written through
// worker.recorded, which only appends and signals. Backpressure runs the
// other way and never blocks either: while the backlog is full, workers
// start no new requests and wait, in their own select, for room.
type completer struct {
	store      Store
	log        *slog.Logger
	metrics    *metrics.Metrics
	interval   time.Duration
	maxBatch   int
	maxBacklog int

	mu      sync.Mutex
	pending []completion
	room    chan struct{} // closed while pending is below maxBacklog
	kick    chan struct{} // capacity 1: pending is not empty

	// For the watchdog: when a write last succeeded or the completer was
	// last idle, and the last write error.
	progress atomic.Int64 // unix nanoseconds
	lastErr  atomic.Pointer[string]
}

type completion struct {
	result store.AttemptResult
	w      *worker // told when the result is written
}

func newCompleter(s Store, log *slog.Logger, m *metrics.Metrics, interval time.Duration, maxBatch, maxBacklog int) *completer {
	c := &completer{store: s, log: log, metrics: m, interval: interval, maxBatch: maxBatch, maxBacklog: maxBacklog,
		room: make(chan struct{}), kick: make(chan struct{}, 1)}
	close(c.room)
	c.progress.Store(time.Now().UnixNano())
	return c
}

// add queues a result for writing. It never blocks: the caller checks
// roomCh before starting the request whose result this is, so the backlog
// exceeds maxBacklog by at most the requests already in flight.
func (c *completer) add(it completion) {
	c.mu.Lock()
	c.pending = append(c.pending, it)
	if len(c.pending) == c.maxBacklog {
		c.room = make(chan struct{})
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// roomCh returns a channel that is closed while the backlog has room.
func (c *completer) roomCh() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.room
}

// backlog is how many results wait to be written.
func (c *completer) backlog() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// take removes up to maxBatch results, oldest first.
func (c *completer) take() []completion {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(len(c.pending), c.maxBatch)
	batch := make([]completion, n)
	copy(batch, c.pending)
	// Shift rather than reslice, so the array does not grow without bound
	// under a steady stream.
	rest := copy(c.pending, c.pending[n:])
	clear(c.pending[rest:])
	c.pending = c.pending[:rest]
	if rest < c.maxBacklog {
		select {
		case <-c.room:
		default:
			close(c.room)
		}
	}
	return batch
}

// run writes until ctx ends, then writes what is left, giving up at
// deadline. The caller cancels ctx only after every worker has stopped.
func (c *completer) run(ctx context.Context, deadline func() time.Time) {
	for {
		select {
		case <-c.kick:
		case <-ctx.Done():
			c.finish(deadline())
			return
		}
		// Let a batch gather, unless one is already full.
		if c.backlog() < c.maxBatch {
			t := time.NewTimer(c.interval)
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		for {
			batch := c.take()
			if len(batch) == 0 {
				break
			}
			c.flush(ctx, batch, time.Time{})
			if len(batch) < c.maxBatch {
				break
			}
		}
		c.progress.Store(time.Now().UnixNano())
	}
}

// finish writes what is still queued at shutdown, until deadline.
func (c *completer) finish(deadline time.Time) {
	for {
		batch := c.take()
		if len(batch) == 0 {
			return
		}
		if !c.flush(context.Background(), batch, deadline) {
			// The rest would fail the same way; their deliveries stay
			// pending and are sent again after a restart.
			if n := c.backlog(); n > 0 {
				c.log.Error("giving up recording attempts at shutdown; they will be sent again", "count", n)
			}
			return
		}
	}
}

// flush writes one batch, retrying while the database refuses: dropping
// results would only cause re-sends, but workers hold their endpoints
// until their results are written. With a deadline (shutdown) it gives up
// then and reports false; until then, and without one, it retries until
// ctx ends.
func (c *completer) flush(ctx context.Context, batch []completion, deadline time.Time) bool {
	results := make([]store.AttemptResult, len(batch))
	for i, it := range batch {
		results[i] = it.result
	}
	wait := 50 * time.Millisecond
	for {
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		if !deadline.IsZero() {
			wctx, cancel = context.WithDeadline(wctx, deadline)
		}
		err := c.store.DeliveriesRecord(wctx, results)
		cancel()
		if err == nil {
			break
		}
		msg := err.Error()
		c.lastErr.Store(&msg)
		c.log.Error("record attempts; retrying", "count", len(results), "err", err)
		done := ctx.Done()
		if ctx.Err() != nil {
			done = nil // already over: wait out the pause below
			if deadline.IsZero() {
				// Shutting down: retries get a second at most.
				deadline = time.Now().Add(time.Second)
			}
		}
		if !deadline.IsZero() && time.Now().Add(wait).After(deadline) {
			c.log.Error("giving up recording attempts at shutdown; they will be sent again", "count", len(results))
			c.notify(batch)
			return false
		}
		select {
		case <-time.After(wait):
		case <-done:
		}
		wait = min(2*wait, 5*time.Second)
	}
	c.lastErr.Store(nil)
	c.progress.Store(time.Now().UnixNano())
	c.metrics.RecordBatchSize.Observe(float64(len(results)))
	c.notify(batch)
	return true
}

// notify tells each worker which of its results are settled (written, or
// given up on at shutdown), one signal per worker.
func (c *completer) notify(batch []completion) {
	var last *worker
	var ids []string
	for _, it := range batch {
		if it.w != last && last != nil {
			last.recorded(ids)
			ids = nil
		}
		last = it.w
		ids = append(ids, it.result.DeliveryID)
	}
	if last != nil {
		last.recorded(ids)
	}
}
