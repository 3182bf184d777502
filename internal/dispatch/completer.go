package dispatch

import (
	"context"
	"log/slog"
	"time"

	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/store"
)

// completer writes attempt results in batches: at thousands of attempts a
// second, one transaction each would saturate SQLite's single writer.
type completer struct {
	store    Store
	log      *slog.Logger
	metrics  *metrics.Metrics
	interval time.Duration
	in       chan completion
}

type completion struct {
	result store.AttemptResult
	done   func()
}

const maxRecordBatch = 1000

func newCompleter(s Store, log *slog.Logger, m *metrics.Metrics, interval time.Duration) *completer {
	return &completer{store: s, log: log, metrics: m, interval: interval, in: make(chan completion, 4*maxRecordBatch)}
}

func (c *completer) add(r store.AttemptResult, done func()) {
	c.in <- completion{result: r, done: done}
}

// run writes until ctx ends; the caller cancels ctx only after every worker
// has stopped, so whatever is still queued then is written before return.
func (c *completer) run(ctx context.Context) {
	for {
		var batch []completion
		select {
		case it := <-c.in:
			batch = append(batch, it)
		case <-ctx.Done():
			for {
				select {
				case it := <-c.in:
					batch = append(batch, it)
				default:
					c.flush(context.WithoutCancel(ctx), batch)
					return
				}
			}
		}
		deadline := time.NewTimer(c.interval)
	gather:
		for len(batch) < maxRecordBatch {
			select {
			case it := <-c.in:
				batch = append(batch, it)
			case <-deadline.C:
				break gather
			}
		}
		deadline.Stop()
		c.flush(ctx, batch)
	}
}

// flush retries until the write succeeds: dropping results would only
// cause re-sends, but the workers wait for them to release their endpoints.
func (c *completer) flush(ctx context.Context, batch []completion) {
	if len(batch) == 0 {
		return
	}
	results := make([]store.AttemptResult, len(batch))
	for i, it := range batch {
		results[i] = it.result
	}
	wait := 50 * time.Millisecond
	for {
		err := c.store.DeliveriesRecord(context.WithoutCancel(ctx), results)
		if err == nil {
			break
		}
		c.log.Error("record attempts; retrying", "count", len(results), "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			// Shutting down with the database unreachable: the deliveries
			// stay pending and are sent again after restart.
			c.log.Error("giving up recording attempts at shutdown; they will be re-sent", "count", len(results))
			for _, it := range batch {
				it.done()
			}
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
	c.metrics.RecordBatchSize.Observe(float64(len(results)))
	for _, it := range batch {
		it.done()
	}
}
