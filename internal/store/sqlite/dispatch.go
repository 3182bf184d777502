package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// EndpointsClaim leases up to Limit active endpoints whose next_due_at has
// come and whose lease is free or expired (a crashed node's endpoints are
// taken over here).
func (s *Store) EndpointsClaim(ctx context.Context, p store.EndpointsClaimParams) ([]store.ClaimedEndpoint, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	now := ms(p.Now)
	var out []store.ClaimedEndpoint
	err := s.txLazy(ctx, func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx,
			`UPDATE endpoints SET lease_owner = ?, lease_expires_at = ?
			 WHERE seq IN (
			   SELECT seq FROM endpoints
			   WHERE next_due_at <= ?3 AND deleted_at IS NULL AND status = 'active'
			     AND (lease_expires_at IS NULL OR lease_expires_at <= ?3)
			     AND (breaker_open_until IS NULL OR breaker_open_until <= ?3)
			   ORDER BY next_due_at LIMIT ?4)
			 RETURNING seq, id, account_id, url, strict_order, created_at,
			   consecutive_failures, breaker_trips, breaker_open_until, failed_deliveries, last_success_at, secret_version`,
			p.Owner, ms(p.LeaseUntil), now, p.Limit)
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
			secrets, err := validSecrets(ctx, tx, seq, now)
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
func validSecrets(ctx context.Context, q querier, endpointSeq, now int64) ([]webhook.EndpointSecret, error) {
	rows, err := q.QueryContext(ctx,
		`SELECT ciphertext, prefix, created_at, expires_at FROM endpoint_secrets
		 WHERE endpoint_seq = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY seq DESC`, endpointSeq, now)
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
func (s *Store) EndpointsRenew(ctx context.Context, p store.EndpointsRenewParams) ([]string, error) {
	var held []string
	err := s.txLazy(ctx, func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx,
			`UPDATE endpoints SET lease_expires_at = ? WHERE lease_owner = ? AND deleted_at IS NULL RETURNING id`,
			ms(p.LeaseUntil), p.Owner)
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
// earliest pending delivery. Running in the single writer's transaction, it
// cannot interleave with a publish, so no wake-up is lost between the check
// and the release.
func (s *Store) EndpointRelease(ctx context.Context, p store.EndpointReleaseParams) (bool, error) {
	now := ms(p.Now)
	released := false
	err := s.txLazy(ctx, func(tx *wtx) error {
		var seq int64
		var strict bool
		var openUntil sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT seq, strict_order, breaker_open_until FROM endpoints WHERE id = ? AND lease_owner = ?`,
			p.EndpointID, p.Owner).Scan(&seq, &strict, &openUntil)
		if err == sql.ErrNoRows {
			released = true // not ours any more: nothing to give back
			return nil
		}
		if err != nil {
			return err
		}
		// With strict ordering only the oldest pending delivery can go next,
		// however early the others are due.
		q := `SELECT MIN(next_attempt_at) FROM deliveries WHERE endpoint_seq = ? AND status = 'pending'`
		if strict {
			q = `SELECT next_attempt_at FROM deliveries WHERE endpoint_seq = ? AND status = 'pending' ORDER BY seq LIMIT 1`
		}
		var next sql.NullInt64
		if err := tx.QueryRowContext(ctx, q, seq).Scan(&next); err != nil && err != sql.ErrNoRows {
			return err
		}
		// An open breaker holds everything back until its probe time.
		if next.Valid && openUntil.Valid && openUntil.Int64 > next.Int64 {
			next.Int64 = openUntil.Int64
		}
		if next.Valid && next.Int64 <= now && !p.Force {
			return nil
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE endpoints SET lease_owner = NULL, lease_expires_at = NULL, next_due_at = ? WHERE seq = ?`, next, seq)
		released = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("release endpoint %s: %w", p.EndpointID, err)
	}
	return released, nil
}

// EndpointsRelease gives back every lease the owner holds, in one
// statement: a dispatcher shutting down holds up to thousands.
func (s *Store) EndpointsRelease(ctx context.Context, p store.EndpointsReleaseParams) (int, error) {
	var n int64
	err := s.txLazy(ctx, func(tx *wtx) error {
		// next_due_at is a lower bound on when work is due: the earliest
		// pending delivery, or the end of an open breaker's cool-down.
		res, err := tx.ExecContext(ctx,
			`UPDATE endpoints SET lease_owner = NULL, lease_expires_at = NULL,
			   next_due_at = (SELECT CASE WHEN MIN(d.next_attempt_at) IS NULL THEN NULL
			                  ELSE MAX(MIN(d.next_attempt_at), COALESCE(endpoints.breaker_open_until, 0)) END
			                  FROM deliveries d WHERE d.endpoint_seq = endpoints.seq AND d.status = 'pending')
			 WHERE lease_owner = ?`, p.Owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("release leases of %s: %w", p.Owner, err)
	}
	return int(n), nil
}

// dueColumns are what a delivery's body and retry policy need.
const dueColumns = `SELECT d.seq, d.id, v.id, d.event_type, v.data, v.created_at, d.next_attempt_at, d.attempt_count, d.schedule_attempt,
	  e.secret_version
	FROM endpoints e JOIN deliveries d ON d.endpoint_seq = e.seq JOIN events v ON v.seq = d.event_seq `

// DeliveriesDue reads an endpoint's due pending deliveries with their
// event, in due order, continuing after p.After. One query text for every
// call, so it is prepared once.
func (s *Store) DeliveriesDue(ctx context.Context, p store.DeliveriesDueParams) ([]store.DueDelivery, error) {
	return due(ctx, s.rd, p)
}

// DeliveriesDueBatch answers many DeliveriesDue in one read transaction.
// Under load the database changes between any two reads, and SQLite drops
// a reader's page cache when it starts a transaction on a changed
// database: one transaction per endpoint re-read the same index and table
// pages from the file every time, one per batch reads them once.
func (s *Store) DeliveriesDueBatch(ctx context.Context, ps []store.DeliveriesDueParams) ([][]store.DueDelivery, error) {
	out := make([][]store.DueDelivery, len(ps))
	err := s.read(ctx, func(tx *wtx) error {
		for i, p := range ps {
			d, err := due(ctx, tx, p)
			if err != nil {
				return err
			}
			out[i] = d
		}
		return nil
	})
	return out, err
}

func due(ctx context.Context, q querier, p store.DeliveriesDueParams) ([]store.DueDelivery, error) {
	if p.StrictOrder {
		return dueStrict(ctx, q, p)
	}
	afterAt, afterSeq := int64(-1), int64(0)
	if p.After != nil {
		afterAt, afterSeq = ms(p.After.DueAt), p.After.Seq
	}
	return scanDue(q.QueryContext(ctx, dueColumns+`
		WHERE e.id = ?1 AND d.status = 'pending'
		  AND d.next_attempt_at <= ?2 AND (d.next_attempt_at, d.seq) > (?3, ?4)
		ORDER BY d.next_attempt_at, d.seq LIMIT ?5`, p.EndpointID, ms(p.Now), afterAt, afterSeq, p.Limit))
}

// dueStrict returns the oldest pending delivery if it is due and not the
// one the caller already holds (p.After).
func dueStrict(ctx context.Context, q querier, p store.DeliveriesDueParams) ([]store.DueDelivery, error) {
	due, err := scanDue(q.QueryContext(ctx, dueColumns+`
		WHERE e.id = ? AND d.status = 'pending' ORDER BY d.seq LIMIT 1`, p.EndpointID))
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
func (s *Store) DeliveriesRecord(ctx context.Context, results []store.AttemptResult) error {
	if len(results) == 0 {
		return nil
	}
	err := s.txLazy(ctx, func(tx *wtx) error {
		return s.recordTx(ctx, tx, results)
	})
	if err != nil {
		return fmt.Errorf("record %d attempts: %w", len(results), err)
	}
	return nil
}

func (s *Store) recordTx(ctx context.Context, tx *wtx, results []store.AttemptResult) error {
	rows, err := recordLoad(ctx, tx, results)
	if err != nil {
		return err
	}
	var updates, attempts [][]any
	stats := map[[2]int64]*hourStats{}
	queuedDelta := map[int64]int{}
	type healthWrite struct {
		owner string
		h     *store.EndpointHealth
	}
	health := map[string]healthWrite{}
	for _, r := range results {
		a := r.Attempt
		row, ok := rows[r.DeliveryID]
		if !ok {
			continue // pruned meanwhile: nothing left to record against
		}
		status, next := recordedStatus(row.status, r.Status, row.endpointStatus)
		if status == webhook.StatusQueued && row.status != webhook.StatusQueued {
			queuedDelta[row.endpointSeq]++
		} else if row.status == webhook.StatusQueued && status != webhook.StatusQueued {
			queuedDelta[row.endpointSeq]--
		}
		var nextAt sql.NullInt64
		if next {
			nextAt = sql.NullInt64{Int64: ms(r.NextAttemptAt), Valid: true}
		}
		updates = append(updates, []any{row.seq, string(status), nextAt, r.ScheduleAttempt, a.StatusCode, a.Error, ms(a.AttemptedAt)})
		attempts = append(attempts, []any{row.seq, ms(a.AttemptedAt), a.Duration.Milliseconds(), a.StatusCode,
			a.Error, headersJSON(a.ResponseHeaders), []byte(a.ResponseBody)})
		key := [2]int64{row.endpointSeq, ms(a.AttemptedAt.Truncate(time.Hour))}
		st := stats[key]
		if st == nil {
			st = &hourStats{}
			stats[key] = st
		}
		st.add(status)
		if r.Health != nil {
			health[r.EndpointID] = healthWrite{r.Owner, r.Health}
		}
		// Operational events about operational events would loop when the
		// operator's own endpoint is the one failing.
		if status == webhook.StatusFailed && row.status == webhook.StatusPending && !webhook.IsReservedEventType(row.eventType) {
			if err := s.publishOperational(ctx, tx, webhook.EventTypeDeliveryFailed, webhook.DeliveryFailedData{
				DeliveryID: r.DeliveryID, WebhookID: row.endpointID, AccountID: row.accountID, EventID: row.eventID, EventType: row.eventType,
				AttemptCount: row.attempts + 1, LastStatusCode: a.StatusCode, LastError: a.Error, FailedAt: webhook.FormatTimestamp(a.AttemptedAt),
			}, ms(a.AttemptedAt)); err != nil {
				return err
			}
		}
		// A delivery recorded twice in one batch sees its first result.
		row.status, row.attempts = status, row.attempts+1
	}
	// Many rows per statement: per-statement overhead, not the b-tree
	// work, was most of the cost of writing results one by one.
	if err := execRows(ctx, tx, updates,
		`UPDATE deliveries SET status = v.column2, next_attempt_at = v.column3, schedule_attempt = v.column4,
		   attempt_count = attempt_count + 1, last_status_code = v.column5, last_error = v.column6, updated_at = v.column7
		 FROM (VALUES %s) AS v WHERE deliveries.seq = v.column1`, 7); err != nil {
		return err
	}
	if err := execRows(ctx, tx, attempts,
		`INSERT INTO attempts (delivery_seq, attempted_at, duration_ms, status_code, error, response_headers, response_body)
		 VALUES %s`, 7); err != nil {
		return err
	}
	for epSeq, d := range queuedDelta {
		if _, err := tx.ExecContext(ctx, `UPDATE endpoints SET queued_count = queued_count + ? WHERE seq = ?`, d, epSeq); err != nil {
			return err
		}
	}
	for id, hw := range health {
		h := hw.h
		if _, err := tx.ExecContext(ctx,
			`UPDATE endpoints SET consecutive_failures = ?, breaker_trips = ?, breaker_open_until = ?, failed_deliveries = ?,
			   last_success_at = ? WHERE id = ? AND lease_owner = ?`,
			h.ConsecutiveFailures, h.BreakerTrips, nullMS(h.BreakerOpenUntil), h.FailedDeliveries, nullMS(h.LastSuccessAt),
			id, hw.owner); err != nil {
			return fmt.Errorf("endpoint health: %w", err)
		}
	}
	return writeStats(ctx, tx, stats)
}

// recordRow is what recording a result needs to know about its delivery.
type recordRow struct {
	seq, endpointSeq                          int64
	status                                    webhook.DeliveryStatus
	endpointStatus                            webhook.EndpointStatus
	accountID, endpointID, eventID, eventType string
	attempts                                  int
}

// recordLoad reads the deliveries the results are about, many per query.
func recordLoad(ctx context.Context, tx *wtx, results []store.AttemptResult) (map[string]*recordRow, error) {
	out := make(map[string]*recordRow, len(results))
	ids := make([]any, len(results))
	for i, r := range results {
		ids[i] = r.DeliveryID
	}
	for _, n := range chunkSizes(len(ids)) {
		chunk := ids[:n]
		ids = ids[n:]
		rows, err := tx.QueryContext(ctx,
			`SELECT d.id, d.seq, d.endpoint_seq, d.status, e.status, d.account_id, e.id, v.id, d.event_type, d.attempt_count
			 FROM deliveries d JOIN endpoints e ON e.seq = d.endpoint_seq JOIN events v ON v.seq = d.event_seq
			 WHERE d.id IN (`+placeholders(n)+`)`, chunk...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, status, epStatus string
			r := &recordRow{}
			if err := rows.Scan(&id, &r.seq, &r.endpointSeq, &status, &epStatus, &r.accountID, &r.endpointID, &r.eventID,
				&r.eventType, &r.attempts); err != nil {
				rows.Close()
				return nil, err
			}
			r.status, r.endpointStatus = webhook.DeliveryStatus(status), webhook.EndpointStatus(epStatus)
			out[id] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// execRows runs q once per chunk of rows, q's %s replaced by a VALUES list
// of that many rows of width columns. Chunk sizes come from a short fixed
// list, so every statement text is prepared once and cached.
func execRows(ctx context.Context, tx *wtx, rows [][]any, q string, width int) error {
	for _, n := range chunkSizes(len(rows)) {
		args := make([]any, 0, n*width)
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		rows = rows[n:]
		values := strings.TrimSuffix(strings.Repeat("("+placeholders(width)+"), ", n), ", ")
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(q, values), args...); err != nil {
			return err
		}
	}
	return nil
}

// rowBatch inserts or updates rows many per statement as they are added,
// holding at most one statement's worth.
type rowBatch struct {
	q     string // with %s for the VALUES list
	width int
	rows  [][]any
}

func (b *rowBatch) add(ctx context.Context, tx *wtx, row ...any) error {
	b.rows = append(b.rows, row)
	if len(b.rows) < maxChunk {
		return nil
	}
	return b.flush(ctx, tx)
}

func (b *rowBatch) flush(ctx context.Context, tx *wtx) error {
	err := execRows(ctx, tx, b.rows, b.q, b.width)
	b.rows = b.rows[:0]
	return err
}

// maxChunk is the largest number of rows in one statement.
const maxChunk = 64

// chunkSizes splits n into statement sizes from {64, 16, 4, 1}, largest
// first.
func chunkSizes(n int) []int {
	var out []int
	for _, size := range []int{maxChunk, 16, 4, 1} {
		for n >= size {
			out = append(out, size)
			n -= size
		}
	}
	return out
}

// placeholders is n comma-separated question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
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

// Prune deletes what retention no longer keeps, each kind in a batch of at
// most p.Limit rows found through an index (or, for deleted endpoints, the
// small endpoints table), so the writer is held briefly. Deleted rows' pages
// go to SQLite's freelist and are reused by later inserts: under steady load
// the file stops growing once the retention period is full.
func (s *Store) Prune(ctx context.Context, p store.PruneParams) (int, error) {
	before := ms(p.Before)
	most := 0
	count := func(res sql.Result) {
		n, _ := res.RowsAffected()
		most = max(most, int(n))
	}
	err := s.txLazy(ctx, func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx,
			`DELETE FROM deliveries WHERE seq IN (
			   SELECT seq FROM deliveries WHERE created_at < ? AND status IN ('delivered', 'failed', 'dropped')
			   ORDER BY seq LIMIT ?) RETURNING seq`, before, p.Limit)
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
		for _, n := range chunkSizes(len(seqs)) {
			chunk := seqs[:n]
			seqs = seqs[n:]
			if _, err := tx.ExecContext(ctx, `DELETE FROM attempts WHERE delivery_seq IN (`+placeholders(n)+`)`, chunk...); err != nil {
				return err
			}
		}
		// Hourly stats: one range of the primary key per endpoint.
		res, err := tx.ExecContext(ctx,
			`DELETE FROM endpoint_stats WHERE endpoint_seq IN (SELECT seq FROM endpoints) AND hour < ?`, before)
		if err != nil {
			return err
		}
		count(res)
		if !p.IdempotencyBefore.IsZero() {
			res, err := tx.ExecContext(ctx,
				`DELETE FROM idempotency_keys WHERE (scope, key) IN (
				   SELECT scope, key FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)`,
				ms(p.IdempotencyBefore), p.Limit)
			if err != nil {
				return err
			}
			count(res)
		}
		res, err = tx.ExecContext(ctx,
			`DELETE FROM events WHERE seq IN (
			   SELECT seq FROM events v WHERE created_at < ?
			   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = v.seq)
			   ORDER BY seq LIMIT ?)`, before, p.Limit)
		if err != nil {
			return err
		}
		count(res)
		// Deleted endpoints go once their log has: their sealed secrets
		// with them.
		gone := `SELECT seq FROM endpoints e WHERE deleted_at IS NOT NULL AND deleted_at < ?
		   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.endpoint_seq = e.seq) LIMIT ?`
		for _, q := range []string{
			`DELETE FROM endpoint_secrets WHERE endpoint_seq IN (` + gone + `)`,
			`DELETE FROM endpoint_stats WHERE endpoint_seq IN (` + gone + `)`,
			`DELETE FROM subscriptions WHERE endpoint_seq IN (` + gone + `)`,
		} {
			if _, err := tx.ExecContext(ctx, q, before, p.Limit); err != nil {
				return err
			}
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM endpoints WHERE seq IN (`+gone+`)`, before, p.Limit)
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

func writeStats(ctx context.Context, tx *wtx, stats map[[2]int64]*hourStats) error {
	if len(stats) == 0 {
		return nil
	}
	stmt, err := tx.stmt(ctx,
		`INSERT INTO endpoint_stats (endpoint_seq, hour, attempts, successes, delivered, failed) VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (endpoint_seq, hour) DO UPDATE SET attempts = attempts + excluded.attempts,
		   successes = successes + excluded.successes, delivered = delivered + excluded.delivered,
		   failed = failed + excluded.failed`)
	if err != nil {
		return err
	}
	for k, st := range stats {
		if _, err := stmt.ExecContext(ctx, k[0], k[1], st.attempts, st.successes, st.delivered, st.failed); err != nil {
			return fmt.Errorf("endpoint stats: %w", err)
		}
	}
	return nil
}
