package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

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
func (s *Store) EventsPublish(ctx context.Context, p store.EventsPublishParams) ([]store.PublishResult, error) {
	results := make([]store.PublishResult, len(p.Events))
	err := s.tx(ctx, func(tx *wtx) error {
		return s.publishTx(ctx, tx, p, results)
	})
	if err != nil {
		return nil, fmt.Errorf("publish %d events: %w", len(p.Events), err)
	}
	return results, nil
}

// publishTx is the fan-out, shared by EventsPublish and the operational
// events hookrelay emits inside other transactions.
func (s *Store) publishTx(ctx context.Context, tx *wtx, p store.EventsPublishParams, results []store.PublishResult) error {
	now := ms(p.Now)
	findEvent, err := tx.stmt(ctx,
		`SELECT event_type, subject_id, data, deliveries, created_at FROM events WHERE account_id = ? AND id = ?`)
	if err != nil {
		return err
	}
	insertEvent, err := tx.stmt(ctx,
		`INSERT INTO events (id, account_id, event_type, subject_id, data, deliveries, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`)
	if err != nil {
		return err
	}
	// Deliveries are inserted many per statement, as they accumulate: a
	// fan-out batch can hold a hundred thousand.
	deliveries := rowBatch{q: `INSERT INTO deliveries (id, account_id, endpoint_seq, event_seq, event_type, subject_id, status,
		next_attempt_at, created_at, updated_at) VALUES %s`, width: 10}

	subs, err := s.subs.snapshot(ctx, tx)
	if err != nil {
		return err
	}
	woken := map[int64]bool{}
	queued := map[int64]int{}
	for i, ev := range p.Events {
		if ev.EventID != "" {
			var first webhook.Event
			var created int64
			err := findEvent.QueryRowContext(ctx, ev.AccountID, ev.EventID).
				Scan(&first.Type, &first.SubjectID, &first.Data, &first.Deliveries, &created)
			if err == nil {
				first.ID, first.AccountID, first.CreatedAt = ev.EventID, ev.AccountID, fromMS(created)
				results[i] = store.PublishResult{Event: first, Duplicate: true}
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		} else {
			ev.EventID = webhook.NewID("evt", p.Now)
		}
		ts, err := subs.targets(ctx, tx, ev.AccountID, ev.Type)
		if err != nil {
			return err
		}
		var eventSeq int64
		if err := insertEvent.QueryRowContext(ctx, ev.EventID, ev.AccountID, ev.Type, ev.SubjectID,
			[]byte(ev.Data), len(ts), now).Scan(&eventSeq); err != nil {
			return mapErr(err)
		}
		res := store.PublishResult{Event: webhook.Event{ID: ev.EventID, AccountID: ev.AccountID, Type: ev.Type,
			SubjectID: ev.SubjectID, Data: ev.Data, CreatedAt: fromMS(now), Deliveries: len(ts)}}
		for _, t := range ts {
			status, next := webhook.StatusPending, sql.NullInt64{Int64: now, Valid: true}
			if !t.active {
				status, next = webhook.StatusQueued, sql.NullInt64{}
			}
			if err := deliveries.add(ctx, tx, webhook.NewID("dlv", p.Now), ev.AccountID, t.seq, eventSeq,
				ev.Type, ev.SubjectID, string(status), next, now, now); err != nil {
				return err
			}
			if t.active {
				res.EndpointIDs = append(res.EndpointIDs, t.id)
				woken[t.seq] = true
			} else {
				queued[t.seq]++
			}
		}
		results[i] = res
	}
	// Before the queue limit is applied: it drops the oldest queued rows.
	if err := deliveries.flush(ctx, tx); err != nil {
		return err
	}
	if err := addQueued(ctx, tx, queued, p.QueueMax, now); err != nil {
		return err
	}
	return lowerNextDue(ctx, tx, woken, now)
}

// addQueued counts new queued deliveries and applies the queue's size
// limit: beyond it the oldest become dropped, with the reason, never lost
// without a trace.
func addQueued(ctx context.Context, tx *wtx, queued map[int64]int, limit int, now int64) error {
	for seq, n := range queued {
		var count int
		if err := tx.QueryRowContext(ctx, `UPDATE endpoints SET queued_count = queued_count + ? WHERE seq = ? RETURNING queued_count`,
			n, seq).Scan(&count); err != nil {
			return fmt.Errorf("count queued: %w", err)
		}
		if limit > 0 && count > limit {
			if err := dropQueued(ctx, tx, seq, count-limit, fmt.Sprintf("queue limit: more than %d queued", limit), now); err != nil {
				return err
			}
		}
	}
	return nil
}

// subscriptionCache keeps the fan-out of (account, event type) across
// transactions. It is valid for one value of the subscriptions counter,
// read in the publishing transaction itself, so it is never stale there.
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

func (c *subscriptionCache) snapshot(ctx context.Context, tx *wtx) (subsView, error) {
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'subscriptions'`).Scan(&v); err != nil {
		return subsView{}, fmt.Errorf("subscriptions version: %w", err)
	}
	return subsView{c: c, version: v}, nil
}

func (v subsView) targets(ctx context.Context, tx *wtx, accountID, eventType string) ([]target, error) {
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
	ts, err := subscribers(ctx, tx, accountID, eventType)
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

// bumpSubscriptions invalidates every process's fan-out cache; call it in
// any transaction that changes who receives what.
func bumpSubscriptions(ctx context.Context, tx *wtx) error {
	_, err := tx.ExecContext(ctx, `UPDATE counters SET value = value + 1 WHERE name = 'subscriptions'`)
	return err
}

func subscribers(ctx context.Context, tx *wtx, accountID, eventType string) ([]target, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT e.seq, e.id, e.status FROM subscriptions s JOIN endpoints e ON e.seq = s.endpoint_seq
		 WHERE s.account_id = ? AND s.event_type IN (?, '*') AND e.deleted_at IS NULL
		 GROUP BY e.seq ORDER BY e.seq`, accountID, eventType)
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
func ownerAction(ctx context.Context, tx *wtx, endpointSeq, at, now int64) error {
	if _, err := tx.ExecContext(ctx,
		`UPDATE endpoints SET breaker_open_until = ?1 WHERE seq = ?2 AND breaker_open_until > ?1`, now, endpointSeq); err != nil {
		return fmt.Errorf("open the breaker for a probe: %w", err)
	}
	return lowerNextDue(ctx, tx, map[int64]bool{endpointSeq: true}, at)
}

// lowerNextDue tells claimers that these endpoints have work due at `at`.
// It only ever lowers next_due_at, so it cannot hide other due work.
func lowerNextDue(ctx context.Context, tx *wtx, endpoints map[int64]bool, at int64) error {
	if len(endpoints) == 0 {
		return nil
	}
	stmt, err := tx.stmt(ctx,
		`UPDATE endpoints SET next_due_at = MIN(COALESCE(next_due_at, ?1), ?1) WHERE seq = ?2`)
	if err != nil {
		return err
	}
	for seq := range endpoints {
		if _, err := stmt.ExecContext(ctx, at, seq); err != nil {
			return fmt.Errorf("wake endpoint: %w", err)
		}
	}
	return nil
}
