package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// worker sends to one leased endpoint. It alone decides what starts when,
// so "first attempts in publish order" and "at most N in flight" need no
// coordination.
type worker struct {
	d        *Dispatcher
	ep       *endpointState
	pokeCh   chan struct{}
	stopCh   chan struct{}
	stopOnce sync.Once
	finished chan sendDone
	recorded chan string
}

type sendDone struct {
	id        string
	abandoned bool
}

func newWorker(d *Dispatcher, ep *endpointState) *worker {
	n := d.cfg.MaxInFlightPerEndpoint
	return &worker{
		d: d, ep: ep,
		pokeCh:   make(chan struct{}, 1),
		stopCh:   make(chan struct{}),
		finished: make(chan sendDone, n),
		recorded: make(chan string, 4*n),
	}
}

// poke says there may be new due work.
func (w *worker) poke() {
	select {
	case w.pokeCh <- struct{}{}:
	default:
	}
}

// stop is called when the lease was lost.
func (w *worker) stop() { w.stopOnce.Do(func() { close(w.stopCh) }) }

func (w *worker) run(ctx, workCtx context.Context) {
	d := w.d
	limit := d.cfg.MaxInFlightPerEndpoint
	sendCtx, cancelSends := context.WithCancel(workCtx)
	defer cancelSends()

	tracked := map[string]bool{} // fetched and not yet recorded: never fetched twice
	var queue []store.DueDelivery
	sending := 0
	want := true // there may be due work not fetched yet
	lost, stopping := false, false
	var backoff <-chan time.Time
	idleReleases := 0

	for {
		if !stopping {
			select {
			case <-w.stopCh:
				stopping, lost = true, true
				cancelSends() // another node owns the endpoint now
			case <-ctx.Done():
				stopping = true
			default:
			}
		}
		if stopping {
			for _, q := range queue {
				delete(tracked, q.ID)
			}
			queue = nil
			// Wait until every finished request is recorded: releasing
			// earlier would make them look due to the next owner.
			if sending == 0 && len(tracked) == 0 {
				if !lost {
					w.release(workCtx, true)
				}
				return
			}
		} else {
			if want && backoff == nil && sending+len(queue) < limit {
				n := limit - sending - len(queue)
				exclude := make([]string, 0, len(tracked))
				for id := range tracked {
					exclude = append(exclude, id)
				}
				due, err := d.store.DeliveriesDue(ctx, store.DeliveriesDueParams{
					EndpointID: w.ep.id, Now: d.clock.Now(), Limit: n, Exclude: exclude,
				})
				switch {
				case err != nil:
					if ctx.Err() == nil {
						d.log.Error("read due deliveries", "endpoint", w.ep.id, "err", err)
					}
					backoff = time.After(time.Second)
				default:
					want = len(due) == n
					for _, dd := range due {
						tracked[dd.ID] = true
						queue = append(queue, dd)
					}
				}
			}
			for sending < limit && len(queue) > 0 {
				dd := queue[0]
				queue = queue[1:]
				sending++
				go w.sendOne(sendCtx, dd)
			}
			if sending == 0 && len(tracked) == 0 && !want && backoff == nil {
				if w.release(workCtx, false) {
					return
				}
				// Work arrived between our last look and the release.
				want = true
				idleReleases++
				if idleReleases > 3 {
					backoff = time.After(d.cfg.PollInterval)
				}
				continue
			}
		}

		select {
		case r := <-w.finished:
			sending--
			if r.abandoned {
				delete(tracked, r.id)
			}
			want = true
			idleReleases = 0
		case id := <-w.recorded:
			delete(tracked, id)
		case <-w.pokeCh:
			want = true
		case <-backoff:
			backoff = nil
			want = true
		case <-w.stopCh:
		case <-ctx.Done():
		}
	}
}

// release gives the lease back; false means work is due and we keep it.
func (w *worker) release(ctx context.Context, force bool) bool {
	ok, err := w.d.store.EndpointRelease(ctx, store.EndpointReleaseParams{
		Owner: w.d.owner, EndpointID: w.ep.id, Now: w.d.clock.Now(), Force: force,
	})
	if err != nil {
		// The lease will expire on its own; another look is harmless.
		w.d.log.Error("release endpoint", "endpoint", w.ep.id, "err", err)
		return force
	}
	return ok
}

func (w *worker) sendOne(ctx context.Context, dd store.DueDelivery) {
	d := w.d
	d.metrics.InFlight.Inc()
	out := d.send(ctx, w.ep, dd)
	d.metrics.InFlight.Dec()
	if out.abandoned {
		w.finished <- sendDone{id: dd.ID, abandoned: true}
		return
	}
	if dd.AttemptCount == 0 {
		d.metrics.PublishToFirstTry.Observe(out.attempt.AttemptedAt.Sub(dd.PublishedAt).Seconds())
	}
	result := d.decide(dd, out)
	d.completer.add(result, func() { w.recorded <- dd.ID })
	w.finished <- sendDone{id: dd.ID}
}

// decide applies the retry policy to an attempt's outcome.
func (d *Dispatcher) decide(dd store.DueDelivery, out outcome) store.AttemptResult {
	n := dd.ScheduleAttempt + 1
	r := store.AttemptResult{DeliveryID: dd.ID, Attempt: out.attempt, ScheduleAttempt: n}
	label := "error"
	if out.attempt.StatusCode != 0 {
		label = "response"
	}
	d.metrics.AttemptDuration.WithLabelValues(label).Observe(out.attempt.Duration.Seconds())
	switch delay, retry := d.cfg.Policy.Next(n, out.retryAfter); {
	case out.ok:
		r.Status = webhook.StatusDelivered
		d.metrics.Deliveries.WithLabelValues("delivered").Inc()
	case retry:
		r.Status = webhook.StatusPending
		r.NextAttemptAt = d.clock.Now().Add(delay)
		d.metrics.Deliveries.WithLabelValues("retried").Inc()
	default:
		r.Status = webhook.StatusFailed
		d.metrics.Deliveries.WithLabelValues("failed").Inc()
	}
	return r
}
