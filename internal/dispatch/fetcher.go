package dispatch

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
)

// fetcher reads due deliveries for the workers, many endpoints per read:
// the store answers a batch of reads from one transaction, and with a
// hundred busy endpoints one read each per refill is most of the cost of
// reading. Like the completer it gathers while a batch runs, so a lone
// read waits for no timer.
//
// It never waits on a worker: a worker has at most one read outstanding,
// and the answer goes into that worker's channel of capacity one.
type fetcher struct {
	store    Store
	maxBatch int

	mu      sync.Mutex
	pending []fetchRequest
	kick    chan struct{} // capacity 1: pending is not empty

	progress atomic.Int64 // unix nanoseconds of the last answered batch or idle moment
}

type fetchRequest struct {
	p   store.DeliveriesDueParams
	gen int // the worker's posGen when it asked
	w   *worker
}

// fetchResult is the answer to one worker's read.
type fetchResult struct {
	p   store.DeliveriesDueParams
	gen int
	due []store.DueDelivery
	err error
}

func newFetcher(s Store, maxBatch int) *fetcher {
	f := &fetcher{store: s, maxBatch: maxBatch, kick: make(chan struct{}, 1)}
	f.progress.Store(time.Now().UnixNano())
	return f
}

// add queues a read; the answer arrives on w.fetched.
func (f *fetcher) add(w *worker, gen int, p store.DeliveriesDueParams) {
	f.mu.Lock()
	f.pending = append(f.pending, fetchRequest{p: p, gen: gen, w: w})
	f.mu.Unlock()
	signal(f.kick)
}

func (f *fetcher) backlog() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

func (f *fetcher) take() []fetchRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(len(f.pending), f.maxBatch)
	batch := make([]fetchRequest, n)
	copy(batch, f.pending)
	rest := copy(f.pending, f.pending[n:])
	clear(f.pending[rest:])
	f.pending = f.pending[:rest]
	return batch
}

// run answers reads until ctx ends. The caller cancels ctx only after
// every worker has stopped; a read in progress then is cancelled, and its
// workers are gone.
func (f *fetcher) run(ctx context.Context) {
	for {
		select {
		case <-f.kick:
		case <-ctx.Done():
			return
		}
		for {
			batch := f.take()
			if len(batch) == 0 {
				break
			}
			f.answer(ctx, batch)
		}
		f.progress.Store(time.Now().UnixNano())
	}
}

func (f *fetcher) answer(ctx context.Context, batch []fetchRequest) {
	ps := make([]store.DeliveriesDueParams, len(batch))
	for i, r := range batch {
		ps[i] = r.p
	}
	due, err := f.store.DeliveriesDueBatch(ctx, ps)
	for i, r := range batch {
		res := fetchResult{p: r.p, gen: r.gen, err: err}
		if err == nil {
			res.due = due[i]
		}
		// Never blocks: this worker's one outstanding read.
		select {
		case r.w.fetched <- res:
		default:
		}
	}
	f.progress.Store(time.Now().UnixNano())
}
