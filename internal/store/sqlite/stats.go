package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/store"
)

const (
	statsPending   = `SELECT count(*) FROM deliveries WHERE status = 'pending'`
	statsOldestDue = `SELECT min(due) FROM (
		   SELECT (SELECT min(d.next_attempt_at) FROM deliveries d
		           WHERE d.endpoint_seq = e.seq AND d.status = 'pending') AS due
		   FROM endpoints e
		   WHERE e.next_due_at IS NOT NULL AND e.next_due_at <= ?
		     AND (e.breaker_open_until IS NULL OR e.breaker_open_until <= ?))
		 WHERE due <= ?`
	statsEndpoints = `SELECT coalesce(sum(status = 'active' AND coalesce(breaker_open_until, 0) <= ?), 0),
		        coalesce(sum(status = 'active' AND coalesce(breaker_open_until, 0) > ?), 0),
		        coalesce(sum(status = 'disabled'), 0),
		        coalesce(sum(queued_count), 0)
		 FROM endpoints WHERE deleted_at IS NULL`
	statsTopFailing = `SELECT id, account_id, consecutive_failures FROM endpoints
		 WHERE deleted_at IS NULL AND status = 'active' AND consecutive_failures > 0
		 ORDER BY consecutive_failures DESC, seq LIMIT ?`
)

// StatsGet reads the scrape-time gauges. Each query is bounded by an
// index or by the endpoints table, never the delivery log:
//   - pending deliveries: a count over the partial index deliveries_due,
//     which holds pending deliveries only;
//   - the oldest due: per endpoint with due work (endpoints_due), the first
//     entry of its deliveries_due range;
//   - states, queued and top failing: one pass over the endpoints.
func (s *Store) StatsGet(ctx context.Context, p store.StatsGetParams) (store.Stats, error) {
	var st store.Stats
	now := ms(p.Now)
	err := s.rd.QueryRowContext(ctx, statsPending).Scan(&st.DeliveriesPending)
	if err != nil {
		return st, fmt.Errorf("stats: pending: %w", err)
	}
	var oldest sql.NullInt64
	err = s.rd.QueryRowContext(ctx, statsOldestDue, now, now, now).Scan(&oldest)
	if err != nil {
		return st, fmt.Errorf("stats: oldest due: %w", err)
	}
	st.OldestDueAt = fromNullMS(oldest)
	err = s.rd.QueryRowContext(ctx, statsEndpoints, now, now).
		Scan(&st.EndpointsActive, &st.EndpointsBreakerOpen, &st.EndpointsDisabled, &st.DeliveriesQueued)
	if err != nil {
		return st, fmt.Errorf("stats: endpoints: %w", err)
	}
	if p.TopFailing <= 0 {
		return st, nil
	}
	rows, err := s.rd.QueryContext(ctx, statsTopFailing, p.TopFailing)
	if err != nil {
		return st, fmt.Errorf("stats: failing endpoints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f store.FailingEndpoint
		if err := rows.Scan(&f.ID, &f.AccountID, &f.ConsecutiveFailures); err != nil {
			return st, fmt.Errorf("stats: failing endpoints: %w", err)
		}
		st.TopFailing = append(st.TopFailing, f)
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("stats: failing endpoints: %w", err)
	}
	return st, nil
}
