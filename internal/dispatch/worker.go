package dispatch

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// worker sends to one leased endpoint. It alone decides what starts when
// and it alone updates the endpoint's health, so ordering, the in-flight
// cap, the breaker and auto-disable need no coordination.
//
// Its loop blocks in one place only, wait's select. Everything that talks
// to it (Notify, the renew loop, the completer, its own sends) does so
// without ever blocking: capacity-1 signal channels sent to with a
// default, a mutex-guarded slice, and a results channel with room for
// every request the cap lets it have in flight.
type worker struct {
	d  *Dispatcher
	ep *endpointState

	pokeCh     chan struct{} // new work may be due
	recordedCh chan struct{} // the completer settled results: see recordedIDs
	stopCh     chan struct{} // closed when the lease was lost
	stopOnce   sync.Once
	finished   chan sendDone    // capacity MaxInFlightPerEndpoint: a send never waits to hand back
	fetched    chan fetchResult // capacity 1: the answer to the one read outstanding
	slotCh     chan struct{}    // capacity 1: slots were given back (see slots)
	slotQueued bool             // in slots.waiting; guarded by the slots' mutex

	recMu       sync.Mutex
	recordedIDs []string

	watch watchState // what the loop is doing, for the watchdog

	loop loopState // owned by the run goroutine alone
}

// loopState is the worker loop's own state, touched by no other goroutine.
type loopState struct {
	tracked map[string]bool // fetched and not yet settled: never fetched twice
	queue   []store.DueDelivery
	sending int
	want    bool // there may be due work not fetched yet
	// fetching: a read is with the fetcher. posGen counts resets of pos, so
	// that a read answered after a reset does not move pos past work that
	// became due behind it.
	fetching bool
	posGen   int
	// stopping: no new requests; the worker ends once what it started is
	// settled. lost: the lease is gone, so nothing is given back.
	stopping, lost bool
	abandon        bool   // past the shutdown deadline: end without waiting for results
	disable        string // why the endpoint must be disabled, once its results are written
	backoff        <-chan time.Time
	lingerTick     <-chan time.Time
	roomWait       <-chan struct{} // the completer's backlog is full: no sends until it has room
	slotWait       bool            // queued for a slot of --max-in-flight
	slotWoken      bool            // signalled that slots are free: take them or pass the turn on
	idleReleases   int
	// pos is where the last read stopped in due order, so a busy endpoint's
	// queue is read once. Work that becomes due behind it (a delivered
	// queue, a replay) is found by a rescan from the head, at least every
	// rescanEvery and whenever the worker is idle.
	pos        *store.DuePosition
	lastRescan time.Time
	idleSince  time.Time // when the worker ran out of work; it lingers before releasing
}

type sendDone struct {
	dd  store.DueDelivery
	out outcome
}

func newWorker(d *Dispatcher, ep *endpointState) *worker {
	return &worker{
		d: d, ep: ep,
		pokeCh:     make(chan struct{}, 1),
		recordedCh: make(chan struct{}, 1),
		stopCh:     make(chan struct{}),
		finished:   make(chan sendDone, d.cfg.MaxInFlightPerEndpoint),
		fetched:    make(chan fetchResult, 1),
		slotCh:     make(chan struct{}, 1),
		loop:       loopState{tracked: map[string]bool{}, want: true, lastRescan: time.Now()},
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// poke says there may be new due work.
func (w *worker) poke() { signal(w.pokeCh) }

// stop is called when the lease was lost.
func (w *worker) stop() { w.stopOnce.Do(func() { close(w.stopCh) }) }

// recorded is the completer telling the worker that these results are
// settled.
func (w *worker) recorded(ids []string) {
	w.recMu.Lock()
	w.recordedIDs = append(w.recordedIDs, ids...)
	w.recMu.Unlock()
	signal(w.recordedCh)
}

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

// run works the endpoint until its lease is given back or lost. ctx ends
// at shutdown; sendCtx is cancelled when in-flight requests must be
// abandoned; abandon is closed when the worker must end without waiting
// for its results to be written.
func (w *worker) run(ctx, sendCtx context.Context, abandon <-chan struct{}) {
	sendCtx, cancelSends := context.WithCancel(sendCtx)
	defer cancelSends()
	defer w.d.slots.forget(w)
	l := &w.loop
	for {
		w.checkStop(ctx, abandon, cancelSends)
		limit := w.limit(w.d.clock.Now())
		if l.stopping || l.disable != "" || limit == 0 {
			w.forgetQueue()
		}
		if l.stopping || l.disable != "" {
			if l.abandon || (l.sending == 0 && len(l.tracked) == 0) {
				w.finish()
				return
			}
		} else {
			w.fill(limit)
			w.startSends(sendCtx, limit)
			if done := w.idle(limit); done {
				return
			}
		}
		w.wait(ctx, abandon)
	}
}

// checkStop notices, without waiting, that the lease was lost, that the
// dispatcher is shutting down, or that the shutdown deadline has come.
func (w *worker) checkStop(ctx context.Context, abandon <-chan struct{}, cancelSends func()) {
	l := &w.loop
	select {
	case <-w.stopCh:
		if !l.lost {
			l.stopping, l.lost = true, true
			cancelSends() // another node owns the endpoint now
		}
	default:
	}
	select {
	case <-ctx.Done():
		l.stopping = true
	default:
	}
	select {
	case <-abandon:
		l.stopping, l.abandon = true, true
	default:
	}
}

// forgetQueue drops what was fetched but not started: nothing will start.
func (w *worker) forgetQueue() {
	l := &w.loop
	for _, q := range l.queue {
		delete(l.tracked, q.ID)
	}
	l.queue = nil
	w.resetPos()
}

// resetPos makes the next read start from the head of the due order.
func (w *worker) resetPos() {
	w.loop.pos = nil
	w.loop.posGen++
}

// readAhead is how many deliveries a worker fetches beyond those it can
// start at once, so that a busy endpoint costs one read per several
// requests rather than one per request.
func (w *worker) readAhead(limit int) int {
	if w.ep.strictOrder || limit <= 1 {
		return limit
	}
	return 4 * limit
}

// fill asks the fetcher for due deliveries when there may be some and the
// queue has run below what the cap lets start; the answer comes back
// through wait.
func (w *worker) fill(limit int) {
	l := &w.loop
	if l.fetching || !l.want || l.backoff != nil || l.sending+len(l.queue) >= limit {
		return
	}
	n := w.readAhead(limit) - l.sending - len(l.queue)
	after, extra := l.pos, 0
	if w.ep.strictOrder {
		// Only the head can go; if it is held, nothing can.
		after, n = nil, 1
	} else if l.pos == nil || time.Since(l.lastRescan) > rescanEvery {
		// From the head, past what is already held.
		after, extra, l.lastRescan = nil, len(l.tracked), time.Now()
	}
	l.fetching, l.want = true, false
	w.d.fetcher.add(w, l.posGen, store.DeliveriesDueParams{
		EndpointID: w.ep.id, Now: w.d.clock.Now(), Limit: n + extra, After: after, StrictOrder: w.ep.strictOrder,
	})
}

// takeFetched queues what a read found.
func (w *worker) takeFetched(ctx context.Context, r fetchResult) {
	l := &w.loop
	d := w.d
	l.fetching = false
	if r.err != nil {
		if ctx.Err() == nil {
			d.logErr.Error("read due deliveries", "endpoint", w.ep.id, "err", r.err)
		}
		l.backoff = time.After(time.Second)
		return
	}
	if l.stopping || l.disable != "" {
		return
	}
	due := r.due
	// A full answer means there may be more; a poke meanwhile said so too.
	l.want = l.want || (len(due) == r.p.Limit && !w.ep.strictOrder)
	if len(due) > 0 && due[len(due)-1].SecretVersion > w.ep.target.version {
		// Rotated or edited since we loaded it: what follows is signed and
		// sent with the new secrets and URL.
		if err := w.reload(ctx); err != nil {
			d.logErr.Error("reload endpoint", "endpoint", w.ep.id, "err", err)
			l.backoff = time.After(time.Second)
			w.resetPos()
			return
		}
	}
	keepPos := !w.ep.strictOrder && r.gen == l.posGen
	for _, dd := range due {
		if keepPos {
			p := dd.Position
			l.pos = &p
		}
		if l.tracked[dd.ID] {
			continue
		}
		l.tracked[dd.ID] = true
		l.queue = append(l.queue, dd)
	}
}

// startSends starts queued deliveries, in order, up to the endpoint's cap
// and as many as the process-wide cap grants, unless the completer has no
// room for more results.
func (w *worker) startSends(sendCtx context.Context, limit int) {
	l := &w.loop
	want := min(limit-l.sending, len(l.queue))
	woken := l.slotWoken
	l.slotWoken = false
	if want > 0 {
		room := w.d.completer.roomCh()
		select {
		case <-room:
			l.roomWait = nil
		default:
			l.roomWait, want = room, 0
		}
	}
	if want <= 0 {
		if woken {
			w.d.slots.give(0) // not ours to use now: the next in line's
		}
		return
	}
	got := w.d.slots.take(w, want)
	l.slotWait = got < want
	for range got {
		dd := l.queue[0]
		l.queue[0] = store.DueDelivery{} // let the payload go once sent
		l.queue = l.queue[1:]
		l.sending++
		go w.sendOne(sendCtx, w.ep.target, dd)
	}
	if len(l.queue) == 0 {
		l.queue = nil
	}
}

// idle decides what a worker with nothing to start does: linger a moment
// holding the lease, or give the lease back. It reports true when the
// lease was given back and the worker is done.
func (w *worker) idle(limit int) bool {
	l := &w.loop
	if l.sending > 0 || len(l.tracked) > 0 || (l.want && limit > 0) || l.fetching || l.backoff != nil {
		l.idleSince = time.Time{}
		return false
	}
	if left := w.lingerLeft(limit); left > 0 {
		// Idle but keeping the lease a moment: a steady trickle of events
		// would otherwise cost a release and a claim each. A publish in this
		// process pokes us at once; work published by another process is
		// found by polling.
		if l.lingerTick == nil {
			l.lingerTick = time.After(min(left, w.d.cfg.PollInterval))
		}
		return false
	}
	w.watch.set("releasing the lease")
	if w.release(false) {
		return true
	}
	if limit == 0 {
		// Paused, yet work is due: an owner's action half-opened the
		// breaker in the database (its probe goes at once). Our copy of the
		// health is otherwise current, every result being written.
		w.refreshHealth()
	}
	// Work arrived between our last look and the release, maybe behind
	// pos: look again from the head.
	l.want = true
	w.resetPos()
	l.idleReleases++
	if l.idleReleases > 3 {
		l.backoff = time.After(w.d.cfg.PollInterval)
	}
	return false
}

// lingerLeft starts or continues the idle period and returns how much of
// it is left; none when sending is paused (breaker) or strictly ordered
// work waits for a retry, since nothing can be sent meanwhile anyway.
func (w *worker) lingerLeft(limit int) time.Duration {
	if limit == 0 {
		return 0
	}
	l := &w.loop
	if l.idleSince.IsZero() {
		l.idleSince = time.Now()
	}
	return linger - time.Since(l.idleSince)
}

// finish ends a stopping worker: disable the endpoint if a rule asked for
// it and give the lease back. A lost lease is not ours to give; at
// shutdown the dispatcher gives back all of them at once.
func (w *worker) finish() {
	l := &w.loop
	if l.lost || l.disable == "" {
		return
	}
	if !l.abandon {
		w.disable(l.disable)
	}
	w.release(true)
}

// wait blocks until something happens that the loop must act on.
func (w *worker) wait(ctx context.Context, abandon <-chan struct{}) {
	l := &w.loop
	w.watch.update(w.describe(), len(l.tracked) > 0 || l.fetching || l.backoff != nil)
	ctxDone := ctx.Done()
	if l.stopping {
		ctxDone = nil // already seen
	}
	// While a read is out, written results stay tracked: the read's view
	// may predate their write and show them still pending, and only
	// tracking keeps them from being sent again.
	recordedCh := w.recordedCh
	if l.fetching {
		recordedCh = nil
	}
	select {
	case r := <-w.finished:
		w.handleResult(r)
	case r := <-w.fetched:
		w.takeFetched(ctx, r)
	case <-recordedCh:
		w.takeRecorded()
	case <-w.pokeCh:
		l.want = true
	case <-l.backoff:
		l.backoff, l.want = nil, true
	case <-l.lingerTick:
		l.lingerTick, l.want = nil, true
	case <-l.roomWait:
		l.roomWait = nil
	case <-w.slotCh:
		l.slotWoken, l.slotWait = true, false
	case <-w.stopCh:
	case <-ctxDone:
	case <-abandon:
	}
}

// handleResult applies one finished request: the retry policy decides the
// delivery's fate, the breaker and auto-disable the endpoint's, and the
// result goes to the completer.
func (w *worker) handleResult(r sendDone) {
	l := &w.loop
	l.sending--
	l.want = true
	l.idleReleases = 0
	w.watch.progressed()
	if r.out.abandoned {
		// Nothing to record: it is due again, behind pos.
		delete(l.tracked, r.dd.ID)
		w.resetPos()
		return
	}
	if reason := w.complete(r); reason != "" && l.disable == "" {
		l.disable = reason
	}
}

// takeRecorded forgets deliveries whose results are written: they may be
// fetched again (a retry that has come due).
func (w *worker) takeRecorded() {
	w.recMu.Lock()
	ids := w.recordedIDs
	w.recordedIDs = nil
	w.recMu.Unlock()
	l := &w.loop
	for _, id := range ids {
		delete(l.tracked, id)
	}
	// In strict order the next delivery may go only now.
	l.want = l.want || w.ep.strictOrder
}

// describe says what the loop is about to wait for, for the watchdog.
func (w *worker) describe() string {
	l := &w.loop
	switch {
	case l.roomWait != nil:
		return fmt.Sprintf("waiting for room in the completer (%d results to write)", w.d.completer.backlog())
	case l.slotWait && l.sending == 0:
		return fmt.Sprintf("waiting for a slot of --max-in-flight (%d endpoints waiting)", w.d.slots.queued())
	case l.sending > 0:
		return fmt.Sprintf("waiting for %d requests in flight to %s", l.sending, w.ep.target.url)
	case len(l.tracked) > len(l.queue):
		return fmt.Sprintf("waiting for %d results to be written", len(l.tracked)-len(l.queue))
	case l.fetching:
		return fmt.Sprintf("waiting for due deliveries to be read (%d reads queued)", w.d.fetcher.backlog())
	case l.backoff != nil:
		return "pausing after a database error"
	case l.stopping:
		return "stopping"
	}
	return "idle"
}

// complete applies an attempt's outcome and hands the result to the
// completer. It returns why the endpoint must be disabled, or "".
func (w *worker) complete(r sendDone) string {
	d := w.d
	now := d.clock.Now()
	gone := r.out.attempt.StatusCode == http.StatusGone
	result := d.decide(r.dd, r.out, gone)
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
	d.logAttempt(w.ep.id, r.dd, r.out, result)
	d.completer.add(completion{result: result, w: w})

	if gone {
		return reasonGone
	}
	if result.Status == webhook.StatusFailed {
		return d.cfg.AutoDisable.reason(h, w.ep.createdAt, now)
	}
	return ""
}

// disable stops deliveries to the endpoint: what is pending is queued, and
// the store publishes endpoint.disabled.
func (w *worker) disable(reason string) {
	d := w.d
	ctx, cancel := d.bookkeepingCtx()
	defer cancel()
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

// Tuning of the worker.
const (
	// rescanEvery bounds how long work that became due behind the read
	// position (a delivered queue, a replay) waits on a busy endpoint.
	rescanEvery = time.Second
	// linger is how long an idle worker keeps its lease.
	linger = time.Second
	// bookkeepingTimeout bounds a release or a disable.
	bookkeepingTimeout = 2 * time.Second
)

// refreshHealth takes the endpoint's health from the store.
func (w *worker) refreshHealth() {
	ctx, cancel := w.d.bookkeepingCtx()
	defer cancel()
	c, err := w.d.store.EndpointReload(ctx, store.EndpointReloadParams{EndpointID: w.ep.id, Now: w.d.clock.Now()})
	if err != nil {
		w.d.logErr.Error("reload endpoint health", "endpoint", w.ep.id, "err", err)
		return
	}
	w.ep.health = c.Health
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

// release gives the lease back, with a deadline of its own so that it
// happens even at shutdown; false means work is due and we keep it.
func (w *worker) release(force bool) bool {
	ctx, cancel := w.d.bookkeepingCtx()
	defer cancel()
	ok, err := w.d.store.EndpointRelease(ctx, store.EndpointReleaseParams{
		Owner: w.d.owner, EndpointID: w.ep.id, Now: w.d.clock.Now(), Force: force,
	})
	if err != nil {
		// The lease will expire on its own; another look is harmless.
		w.d.logErr.Error("release endpoint", "endpoint", w.ep.id, "err", err)
		return force
	}
	return ok
}

func (w *worker) sendOne(ctx context.Context, tgt *target, dd store.DueDelivery) {
	d := w.d
	d.metrics.InFlight.Inc()
	out := d.send(ctx, tgt, dd)
	d.metrics.InFlight.Dec()
	d.slots.give(1)
	if !out.abandoned && dd.AttemptCount == 0 {
		d.metrics.PublishToFirstTry.Observe(out.attempt.AttemptedAt.Sub(dd.PublishedAt).Seconds())
	}
	w.finished <- sendDone{dd: dd, out: out}
}

// decide applies the retry policy to an attempt's outcome. A 410 Gone
// ends the delivery at once: the receiver asked for no more.
func (d *Dispatcher) decide(dd store.DueDelivery, out outcome, gone bool) store.AttemptResult {
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
	case retry && !gone:
		r.Status = webhook.StatusPending
		r.NextAttemptAt = d.clock.Now().Add(delay)
		d.metrics.Deliveries.WithLabelValues("retried").Inc()
	default:
		r.Status = webhook.StatusFailed
		d.metrics.Deliveries.WithLabelValues("failed").Inc()
	}
	return r
}
