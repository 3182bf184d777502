package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// publishOperational publishes one of hookrelay's own events into the
// operator account, inside the caller's transaction, so the event exists
// if and only if what it reports happened.
func (e *Engine) publishOperational(ctx context.Context, tx Tx, eventType string, data any, now time.Time) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return e.publishTx(ctx, tx, store.EventsPublishParams{
		Now:    now,
		Events: []store.PublishEvent{{AccountID: webhook.OperatorAccountID, Type: eventType, Data: b}},
	}, make([]store.PublishResult, 1))
}

// EndpointDisable disables an active endpoint; see store.Store.
func (e *Engine) EndpointDisable(ctx context.Context, p store.EndpointDisableParams) (bool, error) {
	now := ms(p.Now)
	changed := false
	err := e.tx(ctx, func(tx Tx) error {
		changed = false
		// First: publishes in progress commit their pending deliveries
		// before this queues them (see subscriptionCache).
		if err := e.bumpSubscriptions(ctx, tx); err != nil {
			return err
		}
		var seq int64
		var url string
		err := tx.QueryRowContext(ctx, e.q.EndpointDisable, p.Reason, now, now, p.ID, p.AccountID).Scan(&seq, &url)
		if err = e.mapErr(err); errors.Is(err, webhook.ErrNotFound) {
			// Already disabled, or not this account's: tell them apart.
			_, err = e.endpointSeq(ctx, tx, p.AccountID, p.ID)
			return err
		}
		if err != nil {
			return err
		}
		changed = true
		res, err := tx.ExecContext(ctx, e.q.DeliveriesQueue, now, seq)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		if err := e.queuedMoved(ctx, tx, seq, int(n)); err != nil {
			return err
		}
		return e.publishOperational(ctx, tx, webhook.EventTypeEndpointDisabled, webhook.EndpointDisabledData{
			WebhookID: p.ID, AccountID: p.AccountID, URL: url, Reason: p.Reason, DisabledAt: webhook.FormatTimestamp(p.Now),
		}, p.Now)
	})
	if err != nil {
		return false, fmt.Errorf("disable endpoint: %w", e.mapErr(err))
	}
	return changed, nil
}

// EndpointEnable re-activates a disabled endpoint with a closed breaker and
// clean counters. Any lease left from before the disable is dropped, so a
// node still finishing old requests cannot write stale health over it.
func (e *Engine) EndpointEnable(ctx context.Context, p store.EndpointEnableParams) (bool, error) {
	now := ms(p.Now)
	changed := false
	err := e.tx(ctx, func(tx Tx) error {
		changed = false
		if err := e.bumpSubscriptions(ctx, tx); err != nil {
			return err
		}
		var seq int64
		var url string
		var queued int
		err := tx.QueryRowContext(ctx, e.q.EndpointEnable, now, p.ID, p.AccountID).Scan(&seq, &url, &queued)
		if err = e.mapErr(err); errors.Is(err, webhook.ErrNotFound) {
			_, err = e.endpointSeq(ctx, tx, p.AccountID, p.ID)
			return err
		}
		if err != nil {
			return err
		}
		changed = true
		return e.publishOperational(ctx, tx, webhook.EventTypeEndpointEnabled, webhook.EndpointEnabledData{
			WebhookID: p.ID, AccountID: p.AccountID, URL: url, QueuedCount: queued, EnabledAt: webhook.FormatTimestamp(p.Now),
		}, p.Now)
	})
	if err != nil {
		return false, fmt.Errorf("enable endpoint: %w", e.mapErr(err))
	}
	return changed, nil
}

// DeliveryQueuedList lists queued deliveries oldest first.
func (e *Engine) DeliveryQueuedList(ctx context.Context, p store.DeliveryQueuedListParams) (store.Page[webhook.Delivery], error) {
	var page store.Page[webhook.Delivery]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	r := e.d.Read()
	epSeq, err := e.endpointSeq(ctx, r, p.AccountID, p.EndpointID)
	if err != nil {
		return page, fmt.Errorf("list queued: %w", err)
	}
	err = listPage(ctx, r, &page, p.Limit, e.q.QueuedList, []any{epSeq, after, p.Limit + 1}, e.scanDelivery)
	if err != nil {
		return page, fmt.Errorf("list queued: %w", err)
	}
	return page, nil
}

// DeliveriesQueuedDeliver releases the queue. Each delivery is due at its
// original publish time, so the usual order (due time, then publish order)
// sends them oldest first and ahead of anything published since.
func (e *Engine) DeliveriesQueuedDeliver(ctx context.Context, p store.DeliveriesQueuedDeliverParams) (int, error) {
	now := ms(p.Now)
	var n int64
	err := e.tx(ctx, func(tx Tx) error {
		seq, err := e.activeEndpointSeq(ctx, tx, p.AccountID, p.EndpointID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, e.q.QueuedDeliver, now, seq)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		if n == 0 {
			return nil
		}
		if err := e.queuedMoved(ctx, tx, seq, -int(n)); err != nil {
			return err
		}
		var oldest int64
		if err := tx.QueryRowContext(ctx, e.q.EndpointNextDue, seq).Scan(&oldest); err != nil {
			return err
		}
		return e.ownerAction(ctx, tx, seq, p.EndpointID, oldest, now)
	})
	if err != nil {
		return 0, fmt.Errorf("deliver queued: %w", err)
	}
	return int(n), nil
}

// QueueExpire drops queued deliveries past the age limit, oldest first.
func (e *Engine) QueueExpire(ctx context.Context, p store.QueueExpireParams) (int, error) {
	var total int
	err := e.txLazy(ctx, func(tx Tx) error {
		total = 0
		rows, err := tx.QueryContext(ctx, e.q.QueuedExpired, ms(p.Before), p.Limit)
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
		for _, seq := range sortedKeys(counts) {
			n, err := e.dropQueued(ctx, tx, seq, counts[seq], p.Reason, p.Now)
			if err != nil {
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
