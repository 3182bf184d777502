package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// listPage reads up to limit items of a query that asks for limit+1 rows,
// setting the cursor to the last item's seq when there are more.
func listPage[T any](ctx context.Context, q Querier, page *store.Page[T], limit int, query string, args []any,
	scan func(scanner) (int64, T, error)) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var last int64
	for rows.Next() {
		seq, item, err := scan(rows)
		if err != nil {
			return err
		}
		if len(page.Items) == limit {
			page.NextCursor = store.EncodeCursor(last)
			break
		}
		page.Items = append(page.Items, item)
		last = seq
	}
	return rows.Err()
}

func (e *Engine) scanDelivery(row scanner) (int64, webhook.Delivery, error) {
	var d webhook.Delivery
	var seq, created, updated int64
	var next sql.NullInt64
	err := row.Scan(&seq, &d.ID, &d.AccountID, &d.EndpointID, &d.EventID, &d.EventType, &d.SubjectID, &d.Status,
		&d.AttemptCount, &d.LastStatusCode, &d.LastError, &next, &created, &updated)
	if err != nil {
		return 0, d, e.mapErr(err)
	}
	d.NextAttemptAt = fromNullMS(next)
	d.CreatedAt = fromMS(created)
	d.UpdatedAt = fromMS(updated)
	return seq, d, nil
}

// endpointSeq resolves an endpoint of an account, hiding other accounts'.
func (e *Engine) endpointSeq(ctx context.Context, q Querier, accountID, id string) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, e.q.EndpointSeq, id, accountID).Scan(&seq)
	return seq, e.mapErr(err)
}

// activeEndpointSeq is endpointSeq for actions that send: a disabled
// endpoint is a conflict, since nothing is sent to it until enabled.
func (e *Engine) activeEndpointSeq(ctx context.Context, tx Tx, accountID, id string) (int64, error) {
	var seq int64
	var status string
	if err := tx.QueryRowContext(ctx, e.q.EndpointSeqStatus, id, accountID).Scan(&seq, &status); err != nil {
		return 0, e.mapErr(err)
	}
	if status != string(webhook.EndpointActive) {
		return 0, errDisabled
	}
	return seq, nil
}

// DeliveryList lists an endpoint's deliveries, newest first, filtered.
func (e *Engine) DeliveryList(ctx context.Context, p store.DeliveryListParams) (store.Page[webhook.Delivery], error) {
	var page store.Page[webhook.Delivery]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	r := e.d.Read()
	epSeq, err := e.endpointSeq(ctx, r, p.AccountID, p.EndpointID)
	if err != nil {
		return page, fmt.Errorf("list deliveries: %w", err)
	}
	if p.Status != "" && !p.Status.Valid() {
		return page, fmt.Errorf("list deliveries: invalid status %q", p.Status)
	}
	l := e.q.DeliveryList
	from, err := l.From(ctx, r, epSeq, p)
	if err != nil {
		return page, fmt.Errorf("list deliveries: %w", err)
	}
	q := l.Select + from + l.Where
	args := []any{epSeq}
	if after > 0 {
		q += l.Before
		args = append(args, after)
	}
	if p.EventType != "" {
		q += l.Type
		args = append(args, p.EventType)
	}
	if p.Status != "" {
		q += l.Status(p.Status)
	}
	if p.SubjectID != "" {
		q += l.Subject
		args = append(args, p.AccountID, p.SubjectID)
	}
	if p.Since != nil {
		q += l.Since
		args = append(args, ms(*p.Since), ms(*p.Since))
	}
	if p.Until != nil {
		q += l.Until
		args = append(args, ms(*p.Until), ms(*p.Until))
	}
	q += l.Order
	args = append(args, p.Limit+1)
	if err := listPage(ctx, r, &page, p.Limit, q, args, e.scanDelivery); err != nil {
		return page, fmt.Errorf("list deliveries: %w", err)
	}
	return page, nil
}

// DeliveryGet returns one delivery with the payload sent and every attempt.
func (e *Engine) DeliveryGet(ctx context.Context, p store.DeliveryGetParams) (webhook.Delivery, error) {
	d, err := e.deliveryGet(ctx, e.d.Read(), p.AccountID, p.EndpointID, p.ID, true)
	if err != nil {
		return d, fmt.Errorf("get delivery: %w", err)
	}
	return d, nil
}

func (e *Engine) deliveryGet(ctx context.Context, q Querier, accountID, endpointID, id string, full bool) (webhook.Delivery, error) {
	row := q.QueryRowContext(ctx, e.q.DeliveryGet, id, accountID, endpointID)
	var d webhook.Delivery
	var seq, created, updated, published int64
	var next sql.NullInt64
	var data []byte
	err := row.Scan(&seq, &d.ID, &d.AccountID, &d.EndpointID, &d.EventID, &d.EventType, &d.SubjectID, &d.Status,
		&d.AttemptCount, &d.LastStatusCode, &d.LastError, &next, &created, &updated, &data, &published)
	if err != nil {
		return d, e.mapErr(err)
	}
	d.NextAttemptAt = fromNullMS(next)
	d.CreatedAt = fromMS(created)
	d.UpdatedAt = fromMS(updated)
	if !full {
		return d, nil
	}
	// The payload shown is the wire body, built by the same function the
	// dispatcher signs.
	d.Payload = webhook.Body(d.EventType, fromMS(published), d.ID, data)
	rows, err := q.QueryContext(ctx, e.q.AttemptsOf, seq)
	if err != nil {
		return d, err
	}
	defer rows.Close()
	d.Attempts = []webhook.Attempt{}
	for rows.Next() {
		var a webhook.Attempt
		var at, dur int64
		var headers string
		var body []byte
		if err := rows.Scan(&at, &dur, &a.StatusCode, &a.Error, &headers, &body); err != nil {
			return d, err
		}
		a.AttemptedAt = fromMS(at)
		a.Duration = time.Duration(dur) * time.Millisecond
		a.ResponseBody = string(body)
		if err := json.Unmarshal([]byte(headers), &a.ResponseHeaders); err != nil {
			return d, fmt.Errorf("attempt headers: %w", err)
		}
		d.Attempts = append(d.Attempts, a)
	}
	return d, rows.Err()
}

// DeliveryReplay sends a delivery again: same id, a fresh retry schedule.
func (e *Engine) DeliveryReplay(ctx context.Context, p store.DeliveryReplayParams) (webhook.Delivery, error) {
	var d webhook.Delivery
	now := ms(p.Now)
	err := e.tx(ctx, func(tx Tx) error {
		epSeq, err := e.activeEndpointSeq(ctx, tx, p.AccountID, p.EndpointID)
		if err != nil {
			return err
		}
		var old string
		if err := tx.QueryRowContext(ctx, e.q.DeliveryStatusLock, p.ID, epSeq, p.AccountID).Scan(&old); err != nil {
			return e.mapErr(err)
		}
		res, err := tx.ExecContext(ctx, e.q.DeliveryReplay, now, now, p.ID, epSeq, p.AccountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return webhook.ErrNotFound
		}
		if old == string(webhook.StatusQueued) {
			if err := e.queuedMoved(ctx, tx, epSeq, -1); err != nil {
				return err
			}
		}
		if err := e.ownerAction(ctx, tx, epSeq, p.EndpointID, now, now); err != nil {
			return err
		}
		d, err = e.deliveryGet(ctx, tx, p.AccountID, p.EndpointID, p.ID, false)
		return err
	})
	if err != nil {
		return d, fmt.Errorf("replay delivery: %w", err)
	}
	return d, nil
}

// DeliveryCreateTest publishes a webhook.test event to one endpoint only.
func (e *Engine) DeliveryCreateTest(ctx context.Context, p store.DeliveryCreateTestParams) (webhook.Delivery, error) {
	var d webhook.Delivery
	err := e.tx(ctx, func(tx Tx) error {
		epSeq, err := e.activeEndpointSeq(ctx, tx, p.AccountID, p.EndpointID)
		if err != nil {
			return err
		}
		at, err := e.publishClock(ctx, tx, p.Now)
		if err != nil {
			return err
		}
		now := ms(at)
		var eventSeq int64
		if err := tx.QueryRowContext(ctx, e.q.EventInsert, p.EventID, p.AccountID, webhook.EventTypeTest, "",
			[]byte(p.Data), 1, now).Scan(&eventSeq); err != nil {
			return e.mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, e.q.DeliveryInsert, p.DeliveryID, p.AccountID, epSeq, eventSeq,
			webhook.EventTypeTest, "", string(webhook.StatusPending), now, now, now); err != nil {
			return e.mapErr(err)
		}
		if err := e.ownerAction(ctx, tx, epSeq, p.EndpointID, now, now); err != nil {
			return err
		}
		d, err = e.deliveryGet(ctx, tx, p.AccountID, p.EndpointID, p.DeliveryID, false)
		return err
	})
	if err != nil {
		return d, fmt.Errorf("create test delivery: %w", err)
	}
	return d, nil
}
