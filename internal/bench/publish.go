package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// PublishResult is the publish phase.
type PublishResult struct {
	Events       int     `json:"events"`   // events offered
	Accepted     int64   `json:"accepted"` // acknowledged with 202
	Errors       int64   `json:"errors"`   // failed requests (their events count as not accepted)
	FirstError   string  `json:"first_error,omitempty"`
	NoDelivery   int64   `json:"no_delivery"` // accepted but matched no endpoint (deliveries: 0)
	Requests     int64   `json:"requests"`    // HTTP requests made
	Seconds      float64 `json:"seconds"`     // first request sent → last response received
	EventsPerSec float64 `json:"events_per_sec"`
	// RequestLatency is the publish request's round trip: the time to a
	// durable acknowledgement.
	RequestLatency Latency `json:"request_latency"`
	// Open loop only (the latency scenario).
	OfferedRate float64 `json:"offered_rate,omitempty"`
	MaxLagMs    float64 `json:"max_scheduler_lag_ms,omitempty"` // how late the scheduler sent its most delayed request
}

// publishTally collects results from concurrent publishers.
type publishTally struct {
	accepted, errors, noDelivery, requests atomic.Int64
	firstErr                               sync.Once
	firstErrMsg                            string
	mu                                     sync.Mutex
	latencies                              []time.Duration
}

func (t *publishTally) record(results []Published, n int, took time.Duration, err error) {
	t.requests.Add(1)
	if err != nil {
		t.errors.Add(1)
		t.firstErr.Do(func() { t.firstErrMsg = err.Error() })
		return
	}
	t.accepted.Add(int64(n))
	for _, r := range results {
		if r.Deliveries == 0 {
			t.noDelivery.Add(1)
		}
	}
	t.mu.Lock()
	t.latencies = append(t.latencies, took)
	t.mu.Unlock()
}

func (t *publishTally) result(events int, elapsed time.Duration) PublishResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := PublishResult{
		Events: events, Accepted: t.accepted.Load(), Errors: t.errors.Load(), FirstError: t.firstErrMsg,
		NoDelivery: t.noDelivery.Load(), Requests: t.requests.Load(), Seconds: elapsed.Seconds(),
		RequestLatency: Summarize(t.latencies),
	}
	if elapsed > 0 {
		r.EventsPerSec = float64(r.Accepted) / elapsed.Seconds()
	}
	return r
}

// publisher sends events seq from..to-1 (one request; a batch when batch).
type publisher struct {
	api      *API
	payloads Payloads
	tracker  *Tracker
	tally    *publishTally
	batch    bool
}

func (p *publisher) send(ctx context.Context, buf []byte, from, to int) []byte {
	var results []Published
	var err error
	if p.batch {
		buf = p.payloads.Batch(buf, from, to)
	} else {
		buf = p.payloads.Event(buf, from)
	}
	start := time.Now()
	for seq := from; seq < to; seq++ {
		p.tracker.Sent(seq)
	}
	if p.batch {
		results, err = p.api.PublishBatch(ctx, buf)
		if err == nil && len(results) != to-from {
			err = fmt.Errorf("batch of %d answered %d results", to-from, len(results))
		}
	} else {
		var one Published
		one, err = p.api.Publish(ctx, buf)
		results = []Published{one}
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return buf
	}
	p.tally.record(results, to-from, time.Since(start), err)
	return buf
}

// PublishClosed publishes events 0..events-1 as fast as workers concurrent
// publishers can (closed loop), batch events per request (1 = POST
// /v1/events, more = /v1/events/batch). Publishers take the nodes' APIs in
// turn, as a load balancer would.
func PublishClosed(ctx context.Context, apis []*API, pl Payloads, tr *Tracker, events, workers, batch int) PublishResult {
	tally := &publishTally{}
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		pub := &publisher{api: apis[w%len(apis)], payloads: pl, tracker: tr, tally: tally, batch: batch > 1}
		wg.Go(func() {
			var buf []byte
			for ctx.Err() == nil {
				from := int(next.Add(int64(batch))) - batch
				if from >= events {
					return
				}
				buf = pub.send(ctx, buf, from, min(from+batch, events))
			}
		})
	}
	wg.Wait()
	return tally.result(events, time.Since(start))
}

// maxOutstanding bounds the open-loop publisher's concurrent requests; when
// it is reached the scheduler falls behind, which MaxLagMs shows.
const maxOutstanding = 4096

// PublishOpen publishes at a fixed rate for d, one event per request,
// whatever the response times (open loop): event i is due at start +
// i/rate and is sent then by its own goroutine.
func PublishOpen(ctx context.Context, apis []*API, pl Payloads, tr *Tracker, rate float64, d time.Duration) PublishResult {
	events := tr.Len()
	tally := &publishTally{}
	pubs := make([]*publisher, len(apis))
	for i, api := range apis {
		pubs[i] = &publisher{api: api, payloads: pl, tracker: tr, tally: tally}
	}
	interval := float64(time.Second) / rate
	due := func(i int) time.Duration { return time.Duration(float64(i) * interval) }
	elapsed, maxLag := openLoop(ctx, events, due, func(seq int) { pubs[seq%len(pubs)].send(ctx, nil, seq, seq+1) })
	r := tally.result(events, elapsed)
	r.OfferedRate = rate
	r.MaxLagMs = ms(maxLag)
	return r
}

// openLoop calls send(seq) for seq 0..n-1, each on its own goroutine at
// start + due(seq), whatever the response times; due must not decrease.
// It returns when every send has returned, with the time that took and how
// late the scheduler started its most delayed send.
func openLoop(ctx context.Context, n int, due func(int) time.Duration, send func(seq int)) (elapsed, maxLag time.Duration) {
	sem := make(chan struct{}, maxOutstanding)
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := start.Add(due(i))
		// Sleep only when more than a millisecond ahead: timers are not
		// finer than that, and a burst of due events goes out at once.
		if ahead := time.Until(at); ahead > time.Millisecond {
			select {
			case <-ctx.Done():
			case <-time.After(ahead):
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		maxLag = max(maxLag, time.Since(at))
		wg.Go(func() {
			defer func() { <-sem }()
			send(i)
		})
	}
	wg.Wait()
	return time.Since(start), maxLag
}
