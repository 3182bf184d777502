package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

type target struct {
	seq    int64
	id     string
	active bool
}

// EventsPublish commits a batch of events and their deliveries in one
// transaction. Endpoints given pending work get their next_due_at lowered so
// that any dispatcher's claim sees them.
func (e *Engine) EventsPublish(ctx context.Context, p store.EventsPublishParams) ([]store.PublishResult, error) {
	results := make([]store.PublishResult, len(p.Events))
	err := e.tx(ctx, func(tx Tx) error {
		return e.publishTx(ctx, tx, p, results)
	})
	if err != nil {
		return nil, fmt.Errorf("publish %d events: %w", len(p.Events), err)
	}
	return results, nil
}

// EventsPublishTx publishes inside a transaction the caller holds (InTx):
// the events and their deliveries commit with it. Tests use it to hold a
// publish open while other handles write.
func (e *Engine) EventsPublishTx(ctx context.Context, tx Tx, p store.EventsPublishParams) ([]store.PublishResult, error) {
	results := make([]store.PublishResult, len(p.Events))
	if err := e.publishTx(ctx, tx, p, results); err != nil {
		return nil, fmt.Errorf("publish %d events: %w", len(p.Events), err)
	}
	return results, nil
}

// publishClock takes the publish clock (see the package comment) and
// returns the time to stamp this transaction's events with: now, or the
// last publish time if a node with a clock ahead of ours published later.
func (e *Engine) publishClock(ctx context.Context, tx Tx, now time.Time) (time.Time, error) {
	var at int64
	if err := tx.QueryRowContext(ctx, e.q.PublishClock, ms(now)).Scan(&at); err != nil {
		return now, fmt.Errorf("publish clock: %w", err)
	}
	return fromMS(at), nil
}

// publishTx is the fan-out, shared by EventsPublish and the events
// hookrelay emits inside other transactions (operational events, credit
// alerts). It is the one place that decides what a publish creates: ids,
// one delivery per subscribed endpoint, pending when the endpoint is
// active and queued (within the queue's limit) when it is disabled. Rows
// are written many to a statement: on PostgreSQL every statement is a
// round trip.
func (e *Engine) publishTx(ctx context.Context, tx Tx, p store.EventsPublishParams, results []store.PublishResult) error {
	subs, err := e.subs.snapshot(ctx, tx, e.q)
	if err != nil {
		return err
	}
	at, err := e.publishClock(ctx, tx, p.Now)
	if err != nil {
		return err
	}
	now := ms(at)
	if err := e.findPublished(ctx, tx, p.Events, results); err != nil {
		return err
	}
	type key struct{ account, id string }
	first := map[key]int{}   // an id repeated within the batch:
	repeats := map[int]int{} // is answered with the first one's result
	var fresh []int          // indexes of the events to insert
	targets := make([][]target, len(p.Events))
	for i, ev := range p.Events {
		if results[i].Duplicate {
			continue
		}
		if ev.EventID == "" {
			ev.EventID = webhook.NewID("evt", at)
		} else if j, ok := first[key{ev.AccountID, ev.EventID}]; ok {
			repeats[i] = j
			continue
		}
		first[key{ev.AccountID, ev.EventID}] = i
		ts, err := subs.targets(ctx, tx, e.q, ev.AccountID, ev.Type)
		if err != nil {
			return err
		}
		targets[i] = ts
		results[i] = store.PublishResult{Event: webhook.Event{ID: ev.EventID, AccountID: ev.AccountID, Type: ev.Type,
			SubjectID: ev.SubjectID, Data: ev.Data, CreatedAt: at, Deliveries: len(ts)}}
		fresh = append(fresh, i)
	}
	eventSeq, err := e.insertEvents(ctx, tx, fresh, results, now)
	if err != nil {
		return err
	}
	woken := map[int64]string{}
	queued := map[int64]int{}
	lastQueued := map[int64]int{} // endpoint seq → index of the batch's last event queued for it
	// A group commit of fan-outs can hold hundreds of thousands of
	// deliveries; their rows go out a full statement at a time, so memory
	// holds one statement's arguments, not the transaction's.
	const cols, flushAt = 10, 256
	rows := make([]any, 0, cols*flushAt)
	for _, i := range fresh {
		ev := results[i].Event
		for _, t := range targets[i] {
			status, next := webhook.StatusPending, nullMS(&at)
			if !t.active {
				status, next = webhook.StatusQueued, nullMS(nil)
			}
			rows = append(rows, webhook.NewID("dlv", at), ev.AccountID, t.seq, eventSeq[i], ev.Type, ev.SubjectID, string(status), next, now, now)
			if len(rows) == cols*flushAt {
				if err := e.insertMany(ctx, tx, e.q.DeliveriesInsert, cols, rows); err != nil {
					return fmt.Errorf("insert deliveries: %w", err)
				}
				rows = rows[:0]
			}
			if t.active {
				results[i].EndpointIDs = append(results[i].EndpointIDs, t.id)
				woken[t.seq] = t.id
			} else {
				queued[t.seq]++
				lastQueued[t.seq] = i
			}
		}
	}
	if err := e.insertMany(ctx, tx, e.q.DeliveriesInsert, cols, rows); err != nil {
		return fmt.Errorf("insert deliveries: %w", err)
	}
	for i, j := range repeats {
		results[i] = store.PublishResult{Event: results[j].Event, Duplicate: true}
	}
	for _, seq := range sortedKeys(queued) {
		dropped, err := e.queuedAdded(ctx, tx, seq, queued[seq], p.QueueMax, at)
		if err != nil {
			return err
		}
		results[lastQueued[seq]].Dropped += dropped
	}
	return e.lowerNextDue(ctx, tx, woken, now)
}

// findPublished marks the events whose id their account already has as
// duplicates, with the first result.
func (e *Engine) findPublished(ctx context.Context, tx Tx, events []store.PublishEvent, results []store.PublishResult) error {
	var args []any
	for _, ev := range events {
		if ev.EventID != "" {
			args = append(args, ev.AccountID, ev.EventID)
		}
	}
	found := map[[2]string]webhook.Event{}
	for _, n := range chunks(len(args) / 2) {
		chunk := args[:2*n]
		args = args[2*n:]
		rows, err := tx.QueryContext(ctx, e.q.EventsFind(n), chunk...)
		if err != nil {
			return fmt.Errorf("find events: %w", err)
		}
		for rows.Next() {
			var ev webhook.Event
			var created int64
			if err := rows.Scan(&ev.AccountID, &ev.ID, &ev.Type, &ev.SubjectID, &ev.Data, &ev.Deliveries, &created); err != nil {
				rows.Close()
				return err
			}
			ev.CreatedAt = fromMS(created)
			found[[2]string{ev.AccountID, ev.ID}] = ev
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for i, ev := range events {
		results[i] = store.PublishResult{}
		if first, ok := found[[2]string{ev.AccountID, ev.EventID}]; ok && ev.EventID != "" {
			results[i] = store.PublishResult{Event: first, Duplicate: true}
		}
	}
	return nil
}

// insertEvents inserts the events at the given indexes of results, many to
// a statement, and returns their seqs by index.
func (e *Engine) insertEvents(ctx context.Context, tx Tx, fresh []int, results []store.PublishResult, now int64) (map[int]int64, error) {
	seqs := make(map[int]int64, len(fresh))
	type key struct{ account, id string }
	index := make(map[key]int, len(fresh))
	for _, n := range chunks(len(fresh)) {
		chunk := fresh[:n]
		fresh = fresh[n:]
		args := make([]any, 0, 7*len(chunk))
		for _, i := range chunk {
			ev := results[i].Event
			index[key{ev.AccountID, ev.ID}] = i
			args = append(args, ev.ID, ev.AccountID, ev.Type, ev.SubjectID, []byte(ev.Data), ev.Deliveries, now)
		}
		rows, err := tx.QueryContext(ctx, e.q.EventsInsert(len(chunk)), args...)
		if err != nil {
			return nil, e.mapErr(err)
		}
		for rows.Next() {
			var k key
			var seq int64
			if err := rows.Scan(&k.account, &k.id, &seq); err != nil {
				rows.Close()
				return nil, err
			}
			seqs[index[k]] = seq
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, e.mapErr(err)
		}
	}
	return seqs, nil
}

// chunks splits n rows into statements of a few fixed sizes, largest
// first: its binary digits, so few statements (on PostgreSQL each is a
// round trip) and few distinct texts, each prepared once and cached. 256
// rows of 10 columns stay within both databases' limits on parameters.
func chunks(n int) []int {
	var out []int
	for _, size := range []int{256, 128, 64, 32, 16, 8, 4, 2, 1} {
		for n >= size {
			out = append(out, size)
			n -= size
		}
	}
	return out
}

// insertMany runs a many-row statement for rows given flat, cols values a
// row, in chunks.
func (e *Engine) insertMany(ctx context.Context, tx Tx, stmt func(n int) string, cols int, args []any) error {
	for _, n := range chunks(len(args) / cols) {
		chunk := args[:cols*n]
		args = args[cols*n:]
		if _, err := tx.ExecContext(ctx, stmt(n), chunk...); err != nil {
			return e.mapErr(err)
		}
	}
	return nil
}

func sortedKeys[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// queuedMoved keeps queued_count in step with deliveries that moved into
// (n > 0) or out of (n < 0) the queued status, so that the count shown and
// checked against the limit never needs a scan. Publishes, the one place
// the queue's size limit applies, go through queuedAdded instead.
func (e *Engine) queuedMoved(ctx context.Context, tx Tx, endpointSeq int64, n int) error {
	if n == 0 {
		return nil
	}
	_, err := e.queuedAdd(ctx, tx, endpointSeq, n)
	return err
}

// queuedAdded counts n deliveries a publish queued and applies the queue's
// size limit: beyond limit (0: none) the oldest queued deliveries become
// dropped, with the reason, never lost without a trace. It returns how
// many it dropped, for the caller's metrics.
func (e *Engine) queuedAdded(ctx context.Context, tx Tx, endpointSeq int64, n, limit int, now time.Time) (int, error) {
	count, err := e.queuedAdd(ctx, tx, endpointSeq, n)
	if err != nil {
		return 0, err
	}
	if limit > 0 && count > limit {
		return e.dropQueued(ctx, tx, endpointSeq, count-limit, fmt.Sprintf("queue limit: more than %d queued", limit), now)
	}
	return 0, nil
}

// queuedAdd adds n to an endpoint's queued_count and returns the new count.
func (e *Engine) queuedAdd(ctx context.Context, tx Tx, endpointSeq int64, n int) (int, error) {
	var count int
	if err := tx.QueryRowContext(ctx, e.q.EndpointQueuedAdd, n, endpointSeq).Scan(&count); err != nil {
		return 0, fmt.Errorf("count queued: %w", err)
	}
	return count, nil
}

// dropQueued turns the n oldest queued deliveries of an endpoint into
// dropped ones, keeping the counters in step, and returns how many it
// dropped.
func (e *Engine) dropQueued(ctx context.Context, tx Tx, endpointSeq int64, n int, reason string, now time.Time) (int, error) {
	res, err := tx.ExecContext(ctx, e.q.QueuedDrop, reason, ms(now), endpointSeq, n)
	if err != nil {
		return 0, fmt.Errorf("drop queued: %w", err)
	}
	k, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("drop queued: %w", err)
	}
	if _, err := tx.ExecContext(ctx, e.q.EndpointDroppedAdd, k, k, endpointSeq); err != nil {
		return 0, fmt.Errorf("count dropped: %w", err)
	}
	return int(k), nil
}

// subscriptionCache keeps the fan-out of (account, event type) across
// transactions. It is valid for one value of the subscriptions counter,
// read in the publishing transaction itself. On PostgreSQL that read takes
// a share lock on the counter's row (SQL.SubscriptionsVersion), which every
// change to who receives what bumps first with an exclusive one: a change
// waits for the publishes in progress, and a publish that starts after it
// waits for it and sees the new value. On SQLite the one writer orders
// them the same way. So the cache is never stale in the transaction using
// it, on any node.
type subscriptionCache struct {
	mu      sync.Mutex
	version int64
	m       map[[2]string][]target
}

// subsView is the cache as seen by one transaction.
type subsView struct {
	c       *subscriptionCache
	version int64
}

func (c *subscriptionCache) snapshot(ctx context.Context, tx Tx, q *SQL) (subsView, error) {
	var v int64
	if err := tx.QueryRowContext(ctx, q.SubscriptionsVersion).Scan(&v); err != nil {
		return subsView{}, fmt.Errorf("subscriptions version: %w", err)
	}
	return subsView{c: c, version: v}, nil
}

func (v subsView) targets(ctx context.Context, tx Tx, q *SQL, accountID, eventType string) ([]target, error) {
	key := [2]string{accountID, eventType}
	v.c.mu.Lock()
	if v.c.version != v.version || v.c.m == nil {
		v.c.version, v.c.m = v.version, map[[2]string][]target{}
	}
	ts, ok := v.c.m[key]
	v.c.mu.Unlock()
	if ok {
		return ts, nil
	}
	ts, err := subscribers(ctx, tx, q, accountID, eventType)
	if err != nil {
		return nil, err
	}
	v.c.mu.Lock()
	if v.c.version == v.version {
		v.c.m[key] = ts
	}
	v.c.mu.Unlock()
	return ts, nil
}

// bumpSubscriptions invalidates every process's fan-out cache; call it
// first in any transaction that changes who receives what, before it
// changes anything else (see subscriptionCache).
func (e *Engine) bumpSubscriptions(ctx context.Context, tx Tx) error {
	_, err := tx.ExecContext(ctx, e.q.SubscriptionsBump)
	return err
}

func subscribers(ctx context.Context, tx Tx, q *SQL, accountID, eventType string) ([]target, error) {
	rows, err := tx.QueryContext(ctx, q.Subscribers, accountID, eventType)
	if err != nil {
		return nil, fmt.Errorf("find subscribers: %w", err)
	}
	defer rows.Close()
	var out []target
	for rows.Next() {
		var t target
		var status string
		if err := rows.Scan(&t.seq, &t.id, &status); err != nil {
			return nil, err
		}
		t.active = status == string(webhook.EndpointActive)
		out = append(out, t)
	}
	return out, rows.Err()
}

// ownerAction makes an endpoint's work due at `at` because its owner
// asked (replay, recover, Send test event, Deliver queued events): such an
// action is sent at once and is the circuit breaker's probe, so an open
// breaker becomes half-open now. Success closes it; failure opens it again
// for the next, longer cool-down.
func (e *Engine) ownerAction(ctx context.Context, tx Tx, endpointSeq int64, endpointID string, at, now int64) error {
	if _, err := tx.ExecContext(ctx, e.q.EndpointBreakerProbe, now, endpointSeq, now); err != nil {
		return fmt.Errorf("open the breaker for a probe: %w", err)
	}
	return e.lowerNextDue(ctx, tx, map[int64]string{endpointSeq: endpointID}, at)
}

// lowerNextDue tells claimers that these endpoints (seq → id) have work
// due at `at`. It only ever lowers next_due_at, so it cannot hide other due
// work. Where the database carries notifications (SQL.Notify), the
// ids go to every process listening, at commit: their dispatchers look at
// once instead of at their next poll.
func (e *Engine) lowerNextDue(ctx context.Context, tx Tx, endpoints map[int64]string, at int64) error {
	seqs := sortedKeys(endpoints)
	ids := make([]string, 0, len(seqs))
	for _, seq := range seqs {
		ids = append(ids, endpoints[seq])
	}
	for _, n := range chunks(len(seqs)) {
		chunk := seqs[:n]
		seqs = seqs[n:]
		args := make([]any, 0, 2+len(chunk))
		args = append(args, at, at)
		for _, seq := range chunk {
			args = append(args, seq)
		}
		if _, err := tx.ExecContext(ctx, e.q.EndpointsWake(len(chunk)), args...); err != nil {
			return fmt.Errorf("wake endpoints: %w", err)
		}
	}
	if e.q.Notify == "" {
		return nil
	}
	for len(ids) > 0 {
		// A notification's payload is limited (8000 bytes on PostgreSQL).
		chunk := ids[:min(len(ids), notifyChunk)]
		ids = ids[len(chunk):]
		if _, err := tx.ExecContext(ctx, e.q.Notify, strings.Join(chunk, ",")); err != nil {
			return fmt.Errorf("notify: %w", err)
		}
	}
	return nil
}

// notifyChunk endpoint ids (30 bytes each) fit one notification.
const notifyChunk = 200
