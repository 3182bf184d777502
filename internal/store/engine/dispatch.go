package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// EndpointsClaim leases up to Limit active endpoints whose next_due_at has
// come and whose lease is free or expired (a crashed node's endpoints are
// taken over here). On PostgreSQL the claim skips rows another node is
// claiming (FOR UPDATE SKIP LOCKED), so nodes never wait on each other.
func (e *Engine) EndpointsClaim(ctx context.Context, p store.EndpointsClaimParams) ([]store.ClaimedEndpoint, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	now := ms(p.Now)
	var out []store.ClaimedEndpoint
	err := e.txLazy(ctx, func(tx Tx) error {
		out = nil
		rows, err := tx.QueryContext(ctx, e.q.EndpointsClaim, p.Owner, ms(p.LeaseUntil), now, p.Limit)
		if err != nil {
			return err
		}
		var seqs []int64
		for rows.Next() {
			var c store.ClaimedEndpoint
			var seq, created int64
			var openUntil, lastSuccess sql.NullInt64
			h := &c.Health
			if err := rows.Scan(&seq, &c.ID, &c.AccountID, &c.URL, &c.StrictOrder, &created,
				&h.ConsecutiveFailures, &h.BreakerTrips, &openUntil, &h.FailedDeliveries, &lastSuccess, &c.SecretVersion); err != nil {
				rows.Close()
				return err
			}
			c.CreatedAt = fromMS(created)
			h.BreakerOpenUntil = fromNullMS(openUntil)
			h.LastSuccessAt = fromNullMS(lastSuccess)
			seqs = append(seqs, seq)
			out = append(out, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i, seq := range seqs {
			secrets, err := e.validSecrets(ctx, tx, seq, now)
			if err != nil {
				return err
			}
			out[i].Secrets = secrets
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim endpoints: %w", err)
	}
	return out, nil
}

// validSecrets returns the secrets that sign now, newest first.
func (e *Engine) validSecrets(ctx context.Context, q Querier, endpointSeq, now int64) ([]webhook.EndpointSecret, error) {
	rows, err := q.QueryContext(ctx, e.q.SecretsValid, endpointSeq, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []webhook.EndpointSecret
	for rows.Next() {
		var sec webhook.EndpointSecret
		var created int64
		var expires sql.NullInt64
		if err := rows.Scan(&sec.Ciphertext, &sec.Prefix, &created, &expires); err != nil {
			return nil, err
		}
		sec.CreatedAt = fromMS(created)
		sec.ExpiresAt = fromNullMS(expires)
		out = append(out, sec)
	}
	return out, rows.Err()
}

// EndpointsRenew extends the owner's leases and says which it still holds.
func (e *Engine) EndpointsRenew(ctx context.Context, p store.EndpointsRenewParams) ([]string, error) {
	var held []string
	err := e.txLazy(ctx, func(tx Tx) error {
		held = nil
		rows, err := tx.QueryContext(ctx, e.q.EndpointsRenew, ms(p.LeaseUntil), p.Owner)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			held = append(held, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("renew leases: %w", err)
	}
	return held, nil
}

// EndpointRelease gives the endpoint back with next_due_at set to its
// earliest pending delivery.
//
// No wake-up is lost between "nothing is due" and "released": the release
// first locks the endpoint's row (SQL.EndpointLeaseLock: FOR UPDATE on
// PostgreSQL, the one writer on SQLite) and only then looks at deliveries,
// while a publish inserts its delivery and then lowers next_due_at on the
// same row. Whichever comes second sees the other: a publish that locked
// the row first has committed its delivery before the release reads, and
// one that comes after lowers the next_due_at the release wrote.
func (e *Engine) EndpointRelease(ctx context.Context, p store.EndpointReleaseParams) (bool, error) {
	now := ms(p.Now)
	released := false
	err := e.txLazy(ctx, func(tx Tx) error {
		released = false
		var seq int64
		var strict bool
		var openUntil sql.NullInt64
		err := tx.QueryRowContext(ctx, e.q.EndpointLeaseLock, p.EndpointID, p.Owner).Scan(&seq, &strict, &openUntil)
		if errors.Is(err, sql.ErrNoRows) {
			released = true // not ours any more: nothing to give back
			return nil
		}
		if err != nil {
			return err
		}
		// With strict ordering only the oldest pending delivery can go next,
		// however early the others are due.
		q := e.q.EndpointNextDue
		if strict {
			q = e.q.EndpointNextDueStrict
		}
		var next sql.NullInt64
		if err := tx.QueryRowContext(ctx, q, seq).Scan(&next); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// An open breaker holds everything back until its probe time.
		if next.Valid && openUntil.Valid && openUntil.Int64 > next.Int64 {
			next.Int64 = openUntil.Int64
		}
		if next.Valid && next.Int64 <= now && !p.Force {
			return nil
		}
		_, err = tx.ExecContext(ctx, e.q.EndpointRelease, next, seq)
		released = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("release endpoint %s: %w", p.EndpointID, err)
	}
	return released, nil
}

// DeliveriesDue reads an endpoint's due pending deliveries with their
// event, in due order, continuing after p.After.
func (e *Engine) DeliveriesDue(ctx context.Context, p store.DeliveriesDueParams) ([]store.DueDelivery, error) {
	return e.due(ctx, e.d.Read(), p)
}

func (e *Engine) due(ctx context.Context, q Querier, p store.DeliveriesDueParams) ([]store.DueDelivery, error) {
	if p.StrictOrder {
		return e.dueStrict(ctx, q, p)
	}
	afterAt, afterSeq := int64(-1), int64(0)
	if p.After != nil {
		afterAt, afterSeq = ms(p.After.DueAt), p.After.Seq
	}
	return scanDue(q.QueryContext(ctx, e.q.DeliveriesDue, p.EndpointID, ms(p.Now), afterAt, afterSeq, p.Limit))
}

// dueStrict returns the oldest pending delivery if it is due and not the
// one the caller already holds (p.After).
func (e *Engine) dueStrict(ctx context.Context, q Querier, p store.DeliveriesDueParams) ([]store.DueDelivery, error) {
	due, err := scanDue(q.QueryContext(ctx, e.q.DeliveriesDueStrict, p.EndpointID))
	if err != nil || len(due) == 0 {
		return nil, err
	}
	if due[0].DueAt.After(p.Now) || (p.After != nil && p.After.Seq == due[0].Position.Seq) {
		return nil, nil
	}
	return due, nil
}

func scanDue(rows *sql.Rows, err error) ([]store.DueDelivery, error) {
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	defer rows.Close()
	var out []store.DueDelivery
	for rows.Next() {
		var d store.DueDelivery
		var published, due int64
		if err := rows.Scan(&d.Position.Seq, &d.ID, &d.EventID, &d.EventType, &d.Data, &published, &due, &d.AttemptCount,
			&d.ScheduleAttempt, &d.SecretVersion); err != nil {
			return nil, fmt.Errorf("due deliveries: %w", err)
		}
		d.PublishedAt = fromMS(published)
		d.DueAt = fromMS(due)
		d.Position.DueAt = d.DueAt
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	return out, nil
}

// DeliveriesRecord writes attempt results in one transaction.
func (e *Engine) DeliveriesRecord(ctx context.Context, results []store.AttemptResult) error {
	if len(results) == 0 {
		return nil
	}
	err := e.txLazy(ctx, func(tx Tx) error {
		return e.recordTx(ctx, tx, results)
	})
	if err != nil {
		return fmt.Errorf("record %d attempts: %w", len(results), err)
	}
	return nil
}

func (e *Engine) recordTx(ctx context.Context, tx Tx, results []store.AttemptResult) error {
	stats := map[statsKey]*hourStats{}
	queuedDelta := map[int64]int{}
	type healthWrite struct {
		id, owner string
		h         *store.EndpointHealth
	}
	// By endpoint seq: endpoint rows are locked in seq order by every
	// transaction that locks several (a publish waking them, results), so
	// two never wait on each other in a circle.
	health := map[int64]healthWrite{}
	type failure struct {
		data webhook.DeliveryFailedData
		at   time.Time
	}
	var failed []failure
	found, err := e.deliveriesForRecord(ctx, tx, results)
	if err != nil {
		return err
	}
	var updates, attempts []any
	updating := map[int64]bool{}
	flush := func() error {
		err := e.insertMany(ctx, tx, e.q.DeliveriesRecord, 7, updates)
		updates, updating = updates[:0], map[int64]bool{}
		return err
	}
	for _, r := range results {
		a := r.Attempt
		d := found[r.DeliveryID]
		if d == nil {
			continue // pruned meanwhile: nothing left to record against
		}
		status, next := recordedStatus(webhook.DeliveryStatus(d.status), r.Status, webhook.EndpointStatus(d.endpointStatus))
		if status == webhook.StatusQueued && d.status != string(webhook.StatusQueued) {
			queuedDelta[d.endpointSeq]++
		} else if d.status == string(webhook.StatusQueued) && status != webhook.StatusQueued {
			queuedDelta[d.endpointSeq]--
		}
		var nextAt sql.NullInt64
		if next {
			nextAt = nullMS(&r.NextAttemptAt)
		}
		if updating[d.seq] { // one statement updates a row once
			if err := flush(); err != nil {
				return err
			}
		}
		updating[d.seq] = true
		updates = append(updates, string(status), nextAt, r.ScheduleAttempt, a.StatusCode, a.Error, ms(a.AttemptedAt), d.seq)
		attempts = append(attempts, d.seq, ms(a.AttemptedAt), a.Duration.Milliseconds(), a.StatusCode,
			a.Error, headersJSON(a.ResponseHeaders), []byte(a.ResponseBody))
		key := statsKey{d.endpointSeq, ms(a.AttemptedAt.Truncate(time.Hour))}
		st := stats[key]
		if st == nil {
			st = &hourStats{}
			stats[key] = st
		}
		st.add(status)
		if r.Health != nil {
			health[d.endpointSeq] = healthWrite{r.EndpointID, r.Owner, r.Health}
		}
		// Operational events about operational events would loop when the
		// operator's own endpoint is the one failing.
		if status == webhook.StatusFailed && d.status == string(webhook.StatusPending) && !webhook.IsReservedEventType(d.eventType) {
			failed = append(failed, failure{webhook.DeliveryFailedData{
				DeliveryID: r.DeliveryID, WebhookID: d.endpointID, AccountID: d.accountID, EventID: d.eventID, EventType: d.eventType,
				AttemptCount: d.attempts + 1, LastStatusCode: a.StatusCode, LastError: a.Error, FailedAt: webhook.FormatTimestamp(a.AttemptedAt),
			}, a.AttemptedAt})
		}
		d.status, d.attempts = string(status), d.attempts+1
	}
	if err := flush(); err != nil {
		return err
	}
	if err := e.insertMany(ctx, tx, e.q.AttemptsInsert, 7, attempts); err != nil {
		return err
	}
	for _, epSeq := range sortedKeys(queuedDelta) {
		if err := e.queuedMoved(ctx, tx, epSeq, queuedDelta[epSeq]); err != nil {
			return err
		}
	}
	for _, seq := range sortedKeys(health) {
		hw := health[seq]
		h := hw.h
		if _, err := tx.ExecContext(ctx, e.q.EndpointHealthSet,
			h.ConsecutiveFailures, h.BreakerTrips, nullMS(h.BreakerOpenUntil), h.FailedDeliveries, nullMS(h.LastSuccessAt),
			hw.id, hw.owner); err != nil {
			return fmt.Errorf("endpoint health: %w", err)
		}
	}
	if err := e.writeStats(ctx, tx, stats); err != nil {
		return err
	}
	for _, f := range failed {
		if err := e.publishOperational(ctx, tx, webhook.EventTypeDeliveryFailed, f.data, f.at); err != nil {
			return err
		}
	}
	return nil
}

// recording is a delivery as a result finds it.
type recording struct {
	seq, endpointSeq                                                  int64
	status, endpointStatus, accountID, endpointID, eventID, eventType string
	attempts                                                          int
}

// deliveriesForRecord reads, and on PostgreSQL locks (a replay on another
// node must not change a delivery between this read and the write), the
// deliveries results are for, by id.
func (e *Engine) deliveriesForRecord(ctx context.Context, tx Tx, results []store.AttemptResult) (map[string]*recording, error) {
	found := make(map[string]*recording, len(results))
	ids := make([]any, 0, len(results))
	seen := map[string]bool{}
	for _, r := range results {
		if !seen[r.DeliveryID] {
			seen[r.DeliveryID] = true
			ids = append(ids, r.DeliveryID)
		}
	}
	for _, n := range chunks(len(ids)) {
		chunk := ids[:n]
		ids = ids[n:]
		rows, err := tx.QueryContext(ctx, e.q.DeliveriesForRecord(n), chunk...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			d := &recording{}
			if err := rows.Scan(&id, &d.seq, &d.endpointSeq, &d.status, &d.endpointStatus, &d.accountID, &d.endpointID,
				&d.eventID, &d.eventType, &d.attempts); err != nil {
				rows.Close()
				return nil, err
			}
			found[id] = d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// recordedStatus decides what an attempt's result does to a delivery that
// may have changed while the request was in flight. A 2xx always counts:
// the receiver has the event. Otherwise only a pending delivery moves, and
// a retry of a delivery whose endpoint was disabled meanwhile is queued.
func recordedStatus(old, result webhook.DeliveryStatus, endpoint webhook.EndpointStatus) (status webhook.DeliveryStatus, due bool) {
	switch {
	case result == webhook.StatusDelivered:
		return webhook.StatusDelivered, false
	case old != webhook.StatusPending:
		return old, false
	case result == webhook.StatusPending && endpoint == webhook.EndpointDisabled:
		return webhook.StatusQueued, false
	}
	return result, result == webhook.StatusPending
}

type statsKey struct{ endpointSeq, hour int64 }

// hourStats are one endpoint's attempts in one hour: what success_rate_24h
// and the dashboard's chart read instead of the log.
type hourStats struct{ attempts, successes, delivered, failed int }

func (h *hourStats) add(status webhook.DeliveryStatus) {
	h.attempts++
	switch status {
	case webhook.StatusDelivered:
		h.successes++
		h.delivered++
	case webhook.StatusFailed:
		h.failed++
	}
}

func (e *Engine) writeStats(ctx context.Context, tx Tx, stats map[statsKey]*hourStats) error {
	for k, st := range stats {
		if _, err := tx.ExecContext(ctx, e.q.EndpointStatsAdd, k.endpointSeq, k.hour, st.attempts, st.successes,
			st.delivered, st.failed); err != nil {
			return fmt.Errorf("endpoint stats: %w", err)
		}
	}
	return nil
}

// statsWindow is the first hourly bucket inside the 24 h before now.
func statsWindow(now time.Time) int64 {
	return ms(now.Add(-24 * time.Hour).Truncate(time.Hour))
}

// Prune deletes what retention no longer keeps, each kind in a batch of at
// most p.Limit rows found through an index, so writers are held briefly.
func (e *Engine) Prune(ctx context.Context, p store.PruneParams) (int, error) {
	before := ms(p.Before)
	most := 0
	err := e.txLazy(ctx, func(tx Tx) error {
		most = 0
		count := func(res sql.Result) {
			n, _ := res.RowsAffected()
			most = max(most, int(n))
		}
		rows, err := tx.QueryContext(ctx, e.q.PruneDeliveries, before, p.Limit)
		if err != nil {
			return err
		}
		var seqs []any
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq); err != nil {
				rows.Close()
				return err
			}
			seqs = append(seqs, seq)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		most = len(seqs)
		for _, n := range chunks(len(seqs)) {
			if _, err := tx.ExecContext(ctx, e.q.PruneAttempts(n), seqs[:n]...); err != nil {
				return err
			}
			seqs = seqs[n:]
		}
		res, err := tx.ExecContext(ctx, e.q.PruneStats, before)
		if err != nil {
			return err
		}
		count(res)
		if !p.IdempotencyBefore.IsZero() {
			res, err := tx.ExecContext(ctx, e.q.PruneIdempotency, ms(p.IdempotencyBefore), p.Limit)
			if err != nil {
				return err
			}
			count(res)
		}
		res, err = tx.ExecContext(ctx, e.q.PruneEvents, before, p.Limit)
		if err != nil {
			return err
		}
		count(res)
		// Deleted endpoints go once their log has: their sealed secrets
		// with them.
		for _, q := range e.q.PruneEndpointRows {
			if _, err := tx.ExecContext(ctx, q, before, p.Limit); err != nil {
				return err
			}
		}
		res, err = tx.ExecContext(ctx, e.q.PruneEndpoints, before, p.Limit)
		if err != nil {
			return err
		}
		count(res)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	return most, nil
}

// headersJSON keeps attempt headers compact; nil becomes {}.
func headersJSON(h http.Header) string {
	if len(h) == 0 {
		return "{}"
	}
	b, err := json.Marshal(h)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// DeliveriesDueBatch answers many DeliveriesDue in one read transaction:
// the dispatcher gathers its workers' reads into one.
func (e *Engine) DeliveriesDueBatch(ctx context.Context, ps []store.DeliveriesDueParams) ([][]store.DueDelivery, error) {
	out := make([][]store.DueDelivery, len(ps))
	if len(ps) == 0 {
		return out, nil
	}
	err := e.d.ReadTx(ctx, func(q Querier) error {
		for i, p := range ps {
			d, err := e.due(ctx, q, p)
			if err != nil {
				return err
			}
			out[i] = d
		}
		return nil
	})
	return out, err
}
