package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// publishOperational publishes one of hookrelay's own events into the
// operator account, inside the caller's transaction, so the event exists
// if and only if what it reports happened.
func (s *Store) publishOperational(ctx context.Context, tx *wtx, eventType string, data any, now int64) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return s.publishTx(ctx, tx, store.EventsPublishParams{
		Now:    fromMS(now),
		Events: []store.PublishEvent{{AccountID: webhook.OperatorAccountID, Type: eventType, Data: b}},
	}, make([]store.PublishResult, 1))
}

// EndpointDisable disables an active endpoint; see store.Store.
func (s *Store) EndpointDisable(ctx context.Context, p store.EndpointDisableParams) (bool, error) {
	now := ms(p.Now)
	changed := false
	err := s.tx(ctx, func(tx *wtx) error {
		var seq int64
		var url string
		err := tx.QueryRowContext(ctx,
			`UPDATE endpoints SET status = 'disabled', disabled_reason = ?, disabled_at = ?, updated_at = ?, next_due_at = NULL
			 WHERE id = ? AND account_id = ? AND deleted_at IS NULL AND status = 'active' RETURNING seq, url`,
			p.Reason, now, now, p.ID, p.AccountID).Scan(&seq, &url)
		if err == sql.ErrNoRows {
			// Already disabled, or not this account's: tell them apart.
			_, err = endpointSeq(ctx, tx, p.AccountID, p.ID)
			return err
		}
		if err != nil {
			return err
		}
		changed = true
		if err := bumpSubscriptions(ctx, tx); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE deliveries SET status = 'queued', next_attempt_at = NULL, updated_at = ?
			 WHERE endpoint_seq = ? AND status = 'pending'`, now, seq)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		if _, err := tx.ExecContext(ctx, `UPDATE endpoints SET queued_count = queued_count + ? WHERE seq = ?`, n, seq); err != nil {
			return err
		}
		return s.publishOperational(ctx, tx, webhook.EventTypeEndpointDisabled, webhook.EndpointDisabledData{
			WebhookID: p.ID, AccountID: p.AccountID, URL: url, Reason: p.Reason, DisabledAt: webhook.FormatTimestamp(p.Now),
		}, now)
	})
	if err != nil {
		return false, fmt.Errorf("disable endpoint: %w", mapErr(err))
	}
	return changed, nil
}

// EndpointEnable re-activates a disabled endpoint with a closed breaker and
// clean counters. Any lease left from before the disable is dropped, so a
// node still finishing old requests cannot write stale health over it.
func (s *Store) EndpointEnable(ctx context.Context, p store.EndpointEnableParams) (bool, error) {
	now := ms(p.Now)
	changed := false
	err := s.tx(ctx, func(tx *wtx) error {
		var seq int64
		var url string
		var queued int
		err := tx.QueryRowContext(ctx,
			`UPDATE endpoints SET status = 'active', disabled_reason = '', disabled_at = NULL, updated_at = ?,
			   consecutive_failures = 0, breaker_trips = 0, breaker_open_until = NULL, failed_deliveries = 0,
			   last_success_at = NULL, lease_owner = NULL, lease_expires_at = NULL,
			   next_due_at = (SELECT MIN(next_attempt_at) FROM deliveries WHERE endpoint_seq = endpoints.seq AND status = 'pending')
			 WHERE id = ? AND account_id = ? AND deleted_at IS NULL AND status = 'disabled' RETURNING seq, url, queued_count`,
			now, p.ID, p.AccountID).Scan(&seq, &url, &queued)
		if err == sql.ErrNoRows {
			_, err = endpointSeq(ctx, tx, p.AccountID, p.ID)
			return err
		}
		if err != nil {
			return err
		}
		changed = true
		if err := bumpSubscriptions(ctx, tx); err != nil {
			return err
		}
		return s.publishOperational(ctx, tx, webhook.EventTypeEndpointEnabled, webhook.EndpointEnabledData{
			WebhookID: p.ID, AccountID: p.AccountID, URL: url, QueuedCount: queued, EnabledAt: webhook.FormatTimestamp(p.Now),
		}, now)
	})
	if err != nil {
		return false, fmt.Errorf("enable endpoint: %w", mapErr(err))
	}
	return changed, nil
}

// DeliveryQueuedList lists queued deliveries oldest first.
func (s *Store) DeliveryQueuedList(ctx context.Context, p store.DeliveryQueuedListParams) (store.Page[webhook.Delivery], error) {
	var page store.Page[webhook.Delivery]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	epSeq, err := endpointSeq(ctx, s.rd, p.AccountID, p.EndpointID)
	if err != nil {
		return page, fmt.Errorf("list queued: %w", err)
	}
	err = listPage(ctx, s.rd, &page, p.Limit, `SELECT `+deliveryColumns+` FROM deliveries d INDEXED BY deliveries_queued
		JOIN endpoints e ON e.seq = d.endpoint_seq JOIN events v ON v.seq = d.event_seq
		WHERE d.endpoint_seq = ? AND d.status = 'queued' AND d.seq > ? ORDER BY d.seq LIMIT ?`, []any{epSeq, after, p.Limit + 1}, scanDelivery)
	if err != nil {
		return page, fmt.Errorf("list queued: %w", err)
	}
	return page, nil
}

// DeliveriesQueuedDeliver releases the queue. Each delivery is due at its
// original publish time, so the usual order (due time, then publish order)
// sends them oldest first and ahead of anything published since.
func (s *Store) DeliveriesQueuedDeliver(ctx context.Context, p store.DeliveriesQueuedDeliverParams) (int, error) {
	now := ms(p.Now)
	var n int64
	err := s.tx(ctx, func(tx *wtx) error {
		seq, err := activeEndpointSeq(ctx, tx, p.AccountID, p.EndpointID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE deliveries SET status = 'pending', schedule_attempt = 0, next_attempt_at = created_at, updated_at = ?
			 WHERE endpoint_seq = ? AND status = 'queued'`, now, seq)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if _, err := tx.ExecContext(ctx, `UPDATE endpoints SET queued_count = 0 WHERE seq = ?`, seq); err != nil {
			return err
		}
		if n > 0 {
			var oldest int64
			if err := tx.QueryRowContext(ctx, `SELECT MIN(next_attempt_at) FROM deliveries WHERE endpoint_seq = ? AND status = 'pending'`,
				seq).Scan(&oldest); err != nil {
				return err
			}
			return ownerAction(ctx, tx, seq, oldest, now)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("deliver queued: %w", err)
	}
	return int(n), nil
}

// dropQueued turns the n oldest queued deliveries of an endpoint into
// dropped ones, keeping the counters in step.
func dropQueued(ctx context.Context, tx *wtx, endpointSeq int64, n int, reason string, now int64) error {
	res, err := tx.ExecContext(ctx,
		`UPDATE deliveries SET status = 'dropped', last_error = ?, updated_at = ?
		 WHERE seq IN (SELECT seq FROM deliveries WHERE endpoint_seq = ? AND status = 'queued' ORDER BY seq LIMIT ?)`,
		reason, now, endpointSeq, n)
	if err != nil {
		return fmt.Errorf("drop queued: %w", err)
	}
	k, _ := res.RowsAffected()
	_, err = tx.ExecContext(ctx, `UPDATE endpoints SET queued_count = queued_count - ?, dropped_count = dropped_count + ? WHERE seq = ?`,
		k, k, endpointSeq)
	return err
}

// QueueExpire drops queued deliveries past the age limit, oldest first.
func (s *Store) QueueExpire(ctx context.Context, p store.QueueExpireParams) (int, error) {
	var total int
	err := s.txLazy(ctx, func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx,
			`SELECT endpoint_seq, COUNT(*) FROM (SELECT endpoint_seq FROM deliveries WHERE status = 'queued' AND created_at < ?
			 ORDER BY created_at LIMIT ?) GROUP BY endpoint_seq`, ms(p.Before), p.Limit)
		if err != nil {
			return err
		}
		counts := map[int64]int{}
		for rows.Next() {
			var seq int64
			var n int
			if err := rows.Scan(&seq, &n); err != nil {
				rows.Close()
				return err
			}
			counts[seq] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// Queued deliveries of one endpoint are in publish order, so its n
		// oldest are exactly those past the limit.
		for seq, n := range counts {
			if err := dropQueued(ctx, tx, seq, n, p.Reason, ms(p.Now)); err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expire queue: %w", err)
	}
	return total, nil
}
