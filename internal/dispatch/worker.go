package dispatch

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// worker sends to one leased endpoint. It alone decides what starts when
// and it alone updates the endpoint's health, so ordering, the in-flight
// cap, the breaker and auto-disable need no coordination.
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
	dd  store.DueDelivery
	out outcome
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

// limit is how many requests may be in flight now: none while the breaker
// is open, one probe when it is half-open, one at a time in strict order.
func (w *worker) limit(now time.Time) int {
	switch w.d.cfg.Breaker.state(w.ep.health, now) {
	case breakerOpen:
		return 0
	case breakerHalfOpen:
		return 1
	}
	if w.ep.strictOrder {
		return 1
	}
	return w.d.cfg.MaxInFlightPerEndpoint
}

func (w *worker) run(ctx, workCtx context.Context) {
	d := w.d
	sendCtx, cancelSends := context.WithCancel(workCtx)
	defer cancelSends()

	tracked := map[string]bool{} // fetched and not yet recorded: never fetched twice
	var queue []store.DueDelivery
	sending := 0
	want := true // there may be due work not fetched yet
	lost, stopping := false, false
	disable := ""                   // set when the endpoint must be disabled: done once its results are recorded
	var backoff <-chan time.Time    // after an error: no reads until it fires
	var lingerTick <-chan time.Time // while idle: look for work published elsewhere
	idleReleases := 0
	// pos is where the last read stopped in due order, so a busy endpoint's
	// queue is read once. Work that becomes due behind it (a queue
	// delivered by an owner) is found by a rescan from the head, at least
	// every rescanEvery and whenever the worker is idle.
	var pos *store.DuePosition
	lastRescan := time.Now()
	var idleSince time.Time // when the worker ran out of work; it lingers before releasing

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
		limit := w.limit(d.clock.Now())
		if (stopping || disable != "" || limit == 0) && len(queue) > 0 {
			// Not starting anything: forget what was fetched but not sent.
			for _, q := range queue {
				delete(tracked, q.ID)
			}
			queue, pos = nil, nil
		}
		if stopping || disable != "" {
			// Wait until every finished request is recorded: releasing
			// earlier would make them look due to the next owner, and
			// disabling earlier would queue a delivery whose result (say,
			// failed) is still on its way.
			if sending == 0 && len(tracked) == 0 {
				if disable != "" && !lost {
					w.disable(workCtx, disable)
				}
				if !lost {
					w.release(workCtx, true)
				}
				return
			}
		} else {
			if want && backoff == nil && sending+len(queue) < limit {
				n := limit - sending - len(queue)
				after, extra := pos, 0
				if w.ep.strictOrder {
					// Only the head can go; if it is held, nothing can.
					after, n = nil, 1
				} else if pos == nil || time.Since(lastRescan) > rescanEvery {
					// From the head, past what is already held.
					after, extra, lastRescan = nil, len(tracked), time.Now()
				}
				due, err := d.store.DeliveriesDue(ctx, store.DeliveriesDueParams{
					EndpointID: w.ep.id, Now: d.clock.Now(), Limit: n + extra, After: after, StrictOrder: w.ep.strictOrder,
				})
				switch {
				case err != nil:
					if ctx.Err() == nil {
						d.log.Error("read due deliveries", "endpoint", w.ep.id, "err", err)
					}
					backoff = time.After(time.Second)
				default:
					want = len(due) == n+extra && !w.ep.strictOrder
					if len(due) > 0 && due[len(due)-1].SecretVersion > w.ep.target.version {
						// Rotated or edited since we loaded it: what follows is
						// signed and sent with the new secrets and URL.
						if err := w.reload(ctx); err != nil {
							d.log.Error("reload endpoint", "endpoint", w.ep.id, "err", err)
							backoff, due, pos = time.After(time.Second), nil, nil
						}
					}
					for _, dd := range due {
						if !w.ep.strictOrder {
							p := dd.Position
							pos = &p
						}
						if tracked[dd.ID] {
							continue
						}
						tracked[dd.ID] = true
						queue = append(queue, dd)
					}
				}
			}
			for sending < limit && len(queue) > 0 {
				dd := queue[0]
				queue = queue[1:]
				sending++
				go w.sendOne(sendCtx, w.ep.target, dd)
			}
			if sending > 0 || len(tracked) > 0 || (want && limit > 0) || backoff != nil {
				idleSince = time.Time{}
			} else if linger := w.lingerLeft(&idleSince, limit); linger > 0 {
				// Idle but keeping the lease a moment: a steady trickle of
				// events would otherwise cost a release and a claim each.
				// A publish in this process pokes us at once; work published
				// by another process is found by polling.
				if lingerTick == nil {
					lingerTick = time.After(min(linger, d.cfg.PollInterval))
				}
			} else {
				if w.release(workCtx, false) {
					return
				}
				// Work arrived between our last look and the release, maybe
				// behind pos: look again from the head.
				want, pos = true, nil
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
			want = true
			idleReleases = 0
			if r.out.abandoned {
				pos = nil // it is due again, behind pos
			}
			if r.out.abandoned {
				delete(tracked, r.dd.ID)
				continue
			}
			if reason := w.complete(r); reason != "" && disable == "" {
				disable = reason
			}
		case id := <-w.recorded:
			delete(tracked, id)
			// In strict order the next delivery may go only now.
			want = want || w.ep.strictOrder
		case <-w.pokeCh:
			want = true
		case <-backoff:
			backoff = nil
			want = true
		case <-lingerTick:
			lingerTick = nil
			want = true
		case <-w.stopCh:
		case <-ctx.Done():
		}
	}
}

// complete applies an attempt's outcome: the retry policy decides the
// delivery's fate, the breaker and the auto-disable rule the endpoint's.
// It returns why the endpoint must be disabled, or "".
func (w *worker) complete(r sendDone) string {
	d := w.d
	now := d.clock.Now()
	result := d.decide(r.dd, r.out)
	h, tripped := d.cfg.Breaker.record(w.ep.health, r.out.ok, now)
	switch result.Status {
	case webhook.StatusDelivered:
		h.FailedDeliveries = 0
		h.LastSuccessAt = &now
	case webhook.StatusFailed:
		h.FailedDeliveries++
	}
	w.ep.health = h
	if tripped {
		d.metrics.BreakerTrips.Inc()
		d.log.Warn("circuit breaker open: pausing endpoint", "endpoint", w.ep.id,
			"failures_in_a_row", h.ConsecutiveFailures, "until", h.BreakerOpenUntil)
	}
	snapshot := h
	result.EndpointID, result.Owner, result.Health = w.ep.id, d.owner, &snapshot
	id := r.dd.ID
	d.completer.add(result, func() { w.recorded <- id })

	if r.out.attempt.StatusCode == http.StatusGone {
		return reasonGone
	}
	if result.Status == webhook.StatusFailed {
		return d.cfg.AutoDisable.reason(h, w.ep.createdAt, now)
	}
	return ""
}

// disable stops deliveries to the endpoint: what is pending is queued, and
// the store publishes endpoint.disabled.
func (w *worker) disable(ctx context.Context, reason string) {
	d := w.d
	changed, err := d.store.EndpointDisable(ctx, store.EndpointDisableParams{
		AccountID: w.ep.accountID, ID: w.ep.id, Reason: reason, Now: d.clock.Now(),
	})
	if err != nil {
		// The endpoint stays active; the rule fires again on the next failure.
		d.log.Error("disable endpoint", "endpoint", w.ep.id, "err", err)
		return
	}
	if changed {
		d.metrics.EndpointsDisabled.Inc()
		d.log.Warn("endpoint disabled; new events are queued", "endpoint", w.ep.id, "reason", reason)
	}
}

// Tuning of the worker's reads.
const (
	// rescanEvery bounds how long work that became due behind the read
	// position (a delivered queue, a replay) waits on a busy endpoint.
	rescanEvery = time.Second
	// linger is how long an idle worker keeps its lease.
	linger = time.Second
)

// lingerLeft starts or continues the idle period and returns how much of
// it is left; none when sending is paused (breaker) or strictly ordered
// work waits for a retry, since nothing can be sent meanwhile anyway.
func (w *worker) lingerLeft(idleSince *time.Time, limit int) time.Duration {
	if limit == 0 {
		return 0
	}
	if idleSince.IsZero() {
		*idleSince = time.Now()
	}
	return linger - time.Since(*idleSince)
}

// reload loads the endpoint's URL, ordering and secrets again.
func (w *worker) reload(ctx context.Context) error {
	c, err := w.d.store.EndpointReload(ctx, store.EndpointReloadParams{EndpointID: w.ep.id, Now: w.d.clock.Now()})
	if err != nil {
		return err
	}
	t, err := w.d.target(c)
	if err != nil {
		return err
	}
	w.ep.target, w.ep.strictOrder = t, c.StrictOrder
	return nil
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

func (w *worker) sendOne(ctx context.Context, tgt *target, dd store.DueDelivery) {
	d := w.d
	d.metrics.InFlight.Inc()
	out := d.send(ctx, tgt, dd)
	d.metrics.InFlight.Dec()
	if !out.abandoned && dd.AttemptCount == 0 {
		d.metrics.PublishToFirstTry.Observe(out.attempt.AttemptedAt.Sub(dd.PublishedAt).Seconds())
	}
	w.finished <- sendDone{dd: dd, out: out}
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
