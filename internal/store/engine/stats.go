package engine

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/store"
)

// StatsGet reads the scrape-time gauges. Each query is bounded by an index
// or by the endpoints table, never the delivery log (each driver's SQL says
// which index).
func (e *Engine) StatsGet(ctx context.Context, p store.StatsGetParams) (store.Stats, error) {
	var st store.Stats
	now := ms(p.Now)
	r := e.d.Read()
	if err := r.QueryRowContext(ctx, e.q.StatsPending).Scan(&st.DeliveriesPending); err != nil {
		return st, fmt.Errorf("stats: pending: %w", e.mapErr(err))
	}
	var oldest sql.NullInt64
	if err := r.QueryRowContext(ctx, e.q.StatsOldestDue, now, now, now).Scan(&oldest); err != nil {
		return st, fmt.Errorf("stats: oldest due: %w", e.mapErr(err))
	}
	st.OldestDueAt = fromNullMS(oldest)
	if err := r.QueryRowContext(ctx, e.q.StatsEndpoints, now, now).
		Scan(&st.EndpointsActive, &st.EndpointsBreakerOpen, &st.EndpointsDisabled, &st.DeliveriesQueued); err != nil {
		return st, fmt.Errorf("stats: endpoints: %w", e.mapErr(err))
	}
	if p.TopFailing <= 0 {
		return st, nil
	}
	rows, err := r.QueryContext(ctx, e.q.StatsTopFailing, p.TopFailing)
	if err != nil {
		return st, fmt.Errorf("stats: failing endpoints: %w", e.mapErr(err))
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
