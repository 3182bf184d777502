package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

const deliveryColumns = `d.seq, d.id, d.account_id, e.id, v.id, d.event_type, d.subject_id, d.status, d.attempt_count,
	d.last_status_code, d.last_error, d.next_attempt_at, d.created_at, d.updated_at`

const deliveryFrom = ` FROM deliveries d JOIN endpoints e ON e.seq = d.endpoint_seq JOIN events v ON v.seq = d.event_seq`

func scanDelivery(row scanner) (int64, webhook.Delivery, error) {
	var d webhook.Delivery
	var seq, created, updated int64
	var next sql.NullInt64
	err := row.Scan(&seq, &d.ID, &d.AccountID, &d.EndpointID, &d.EventID, &d.EventType, &d.SubjectID, &d.Status,
		&d.AttemptCount, &d.LastStatusCode, &d.LastError, &next, &created, &updated)
	if err != nil {
		return 0, d, mapErr(err)
	}
	d.NextAttemptAt = fromNullMS(next)
	d.CreatedAt = fromMS(created)
	d.UpdatedAt = fromMS(updated)
	return seq, d, nil
}

// endpointSeq resolves an endpoint of an account, hiding other accounts'.
func endpointSeq(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, accountID, id string) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx,
		`SELECT seq FROM endpoints WHERE id = ? AND account_id = ? AND deleted_at IS NULL`, id, accountID).Scan(&seq)
	return seq, mapErr(err)
}

// activeEndpointSeq is endpointSeq for actions that send: a disabled
// endpoint is a conflict, since nothing is sent to it until enabled.
func activeEndpointSeq(ctx context.Context, tx *wtx, accountID, id string) (int64, error) {
	var seq int64
	var status string
	err := tx.QueryRowContext(ctx,
		`SELECT seq, status FROM endpoints WHERE id = ? AND account_id = ? AND deleted_at IS NULL`, id, accountID).Scan(&seq, &status)
	if err != nil {
		return 0, mapErr(err)
	}
	if status != string(webhook.EndpointActive) {
		return 0, fmt.Errorf("%w: the endpoint is disabled; enable it first", webhook.ErrConflict)
	}
	return seq, nil
}

// pendingSortLimit: up to this many pending deliveries, a pending filter
// reads them from the due index and sorts them; beyond it, scanning the log
// newest first finds a page of them sooner.
const pendingSortLimit = 10_000

// listPlan picks the index a delivery-log query walks, most selective
// filter first, instead of leaving it to the planner: without statistics
// SQLite cannot know that a status is rare or a subject unique, and a wrong
// guess turns a page of 50 into a scan of a million rows.
func (s *Store) listPlan(ctx context.Context, epSeq int64, p store.DeliveryListParams) (string, error) {
	const rest = ` JOIN endpoints e ON e.seq = d.endpoint_seq`
	switch {
	case p.SubjectID != "":
		// From the event: a subject matches a handful of events.
		return ` FROM events v INDEXED BY events_account_subject CROSS JOIN deliveries d INDEXED BY deliveries_event ON d.event_seq = v.seq` + rest, nil
	case p.Status == webhook.StatusFailed || p.Status == webhook.StatusQueued || p.Status == webhook.StatusDropped:
		return ` FROM deliveries d INDEXED BY deliveries_` + string(p.Status) + ` JOIN events v ON v.seq = d.event_seq` + rest, nil
	case p.Status == webhook.StatusPending:
		var n int
		if err := s.rd.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM deliveries INDEXED BY deliveries_due
			WHERE endpoint_seq = ? AND status = 'pending' LIMIT ?)`, epSeq, pendingSortLimit).Scan(&n); err != nil {
			return "", err
		}
		if n < pendingSortLimit {
			return ` FROM deliveries d INDEXED BY deliveries_due JOIN events v ON v.seq = d.event_seq` + rest, nil
		}
	case p.EventType != "":
		return ` FROM deliveries d INDEXED BY deliveries_endpoint_type JOIN events v ON v.seq = d.event_seq` + rest, nil
	}
	return ` FROM deliveries d INDEXED BY deliveries_endpoint JOIN events v ON v.seq = d.event_seq` + rest, nil
}

// DeliveryList lists an endpoint's deliveries, newest first, filtered.
func (s *Store) DeliveryList(ctx context.Context, p store.DeliveryListParams) (store.Page[webhook.Delivery], error) {
	var page store.Page[webhook.Delivery]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	epSeq, err := endpointSeq(ctx, s.rd, p.AccountID, p.EndpointID)
	if err != nil {
		return page, fmt.Errorf("list deliveries: %w", err)
	}
	if p.Status != "" && !p.Status.Valid() {
		return page, fmt.Errorf("list deliveries: invalid status %q", p.Status)
	}
	from, err := s.listPlan(ctx, epSeq, p)
	if err != nil {
		return page, fmt.Errorf("list deliveries: %w", err)
	}
	q := `SELECT ` + deliveryColumns + from + ` WHERE d.endpoint_seq = ?`
	args := []any{epSeq}
	if after > 0 {
		q += ` AND d.seq < ?`
		args = append(args, after)
	}
	if p.EventType != "" {
		q += ` AND d.event_type = ?`
		args = append(args, p.EventType)
	}
	if p.Status != "" {
		// A literal, not a parameter: SQLite uses a partial index only when
		// it can see the value.
		q += ` AND d.status = '` + string(p.Status) + `'`
	}
	if p.SubjectID != "" {
		q += ` AND v.account_id = ? AND v.subject_id = ? AND v.subject_id <> ''`
		args = append(args, p.AccountID, p.SubjectID)
	}
	// Times become bounds on seq through the append-only created_at index,
	// so a window deep in a long log is reached without scanning to it;
	// the times themselves are checked too.
	if p.Since != nil {
		q += ` AND d.seq >= COALESCE((SELECT seq FROM deliveries WHERE created_at >= ? ORDER BY created_at, seq LIMIT 1), 9223372036854775807)
		       AND d.created_at >= ?`
		args = append(args, ms(*p.Since), ms(*p.Since))
	}
	if p.Until != nil {
		q += ` AND d.seq < COALESCE((SELECT seq FROM deliveries WHERE created_at >= ? ORDER BY created_at, seq LIMIT 1), 9223372036854775807)
		       AND d.created_at < ?`
		args = append(args, ms(*p.Until), ms(*p.Until))
	}
	q += ` ORDER BY d.seq DESC LIMIT ?`
	args = append(args, p.Limit+1)
	if err := listPage(ctx, s.rd, &page, p.Limit, q, args, scanDelivery); err != nil {
		return page, fmt.Errorf("list deliveries: %w", err)
	}
	return page, nil
}

// DeliveryGet returns one delivery with the payload sent and every attempt.
func (s *Store) DeliveryGet(ctx context.Context, p store.DeliveryGetParams) (webhook.Delivery, error) {
	d, err := s.deliveryGet(ctx, s.rd, p.AccountID, p.EndpointID, p.ID, true)
	if err != nil {
		return d, fmt.Errorf("get delivery: %w", err)
	}
	return d, nil
}

func (s *Store) deliveryGet(ctx context.Context, q querier, accountID, endpointID, id string, full bool) (webhook.Delivery, error) {
	row := q.QueryRowContext(ctx, `SELECT `+deliveryColumns+`, v.data, v.created_at`+deliveryFrom+`
		WHERE d.id = ? AND d.account_id = ? AND e.id = ? AND e.deleted_at IS NULL`, id, accountID, endpointID)
	var d webhook.Delivery
	var seq, created, updated, published int64
	var next sql.NullInt64
	var data []byte
	err := row.Scan(&seq, &d.ID, &d.AccountID, &d.EndpointID, &d.EventID, &d.EventType, &d.SubjectID, &d.Status,
		&d.AttemptCount, &d.LastStatusCode, &d.LastError, &next, &created, &updated, &data, &published)
	if err != nil {
		return d, mapErr(err)
	}
	d.NextAttemptAt = fromNullMS(next)
	d.CreatedAt = fromMS(created)
	d.UpdatedAt = fromMS(updated)
	if !full {
		return d, nil
	}
	d.Payload = webhook.Body(d.EventType, fromMS(published), d.ID, data)
	rows, err := q.QueryContext(ctx, `SELECT attempted_at, duration_ms, status_code, error, response_headers, response_body
		FROM attempts WHERE delivery_seq = ? ORDER BY seq`, seq)
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
func (s *Store) DeliveryReplay(ctx context.Context, p store.DeliveryReplayParams) (webhook.Delivery, error) {
	var d webhook.Delivery
	now := ms(p.Now)
	err := s.tx(ctx, func(tx *wtx) error {
		epSeq, err := activeEndpointSeq(ctx, tx, p.AccountID, p.EndpointID)
		if err != nil {
			return err
		}
		var old string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM deliveries WHERE id = ? AND endpoint_seq = ? AND account_id = ?`,
			p.ID, epSeq, p.AccountID).Scan(&old); err != nil {
			return mapErr(err)
		}
		if old == string(webhook.StatusQueued) {
			if _, err := tx.ExecContext(ctx, `UPDATE endpoints SET queued_count = queued_count - 1 WHERE seq = ?`, epSeq); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE deliveries SET status = 'pending', schedule_attempt = 0, next_attempt_at = ?, updated_at = ?
			 WHERE id = ? AND endpoint_seq = ? AND account_id = ?`, now, now, p.ID, epSeq, p.AccountID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return webhook.ErrNotFound
		}
		if err := ownerAction(ctx, tx, epSeq, now, now); err != nil {
			return err
		}
		d, err = s.deliveryGet(ctx, tx, p.AccountID, p.EndpointID, p.ID, false)
		return err
	})
	if err != nil {
		return d, fmt.Errorf("replay delivery: %w", err)
	}
	return d, nil
}

// DeliveryCreateTest publishes a webhook.test event to one endpoint only.
func (s *Store) DeliveryCreateTest(ctx context.Context, p store.DeliveryCreateTestParams) (webhook.Delivery, error) {
	var d webhook.Delivery
	now := ms(p.Now)
	err := s.tx(ctx, func(tx *wtx) error {
		epSeq, err := activeEndpointSeq(ctx, tx, p.AccountID, p.EndpointID)
		if err != nil {
			return err
		}
		var eventSeq int64
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO events (id, account_id, event_type, subject_id, data, deliveries, created_at)
			 VALUES (?, ?, ?, '', ?, 1, ?) RETURNING seq`,
			p.EventID, p.AccountID, webhook.EventTypeTest, []byte(p.Data), now).Scan(&eventSeq); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO deliveries (id, account_id, endpoint_seq, event_seq, event_type, status, next_attempt_at, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
			p.DeliveryID, p.AccountID, epSeq, eventSeq, webhook.EventTypeTest, now, now, now); err != nil {
			return mapErr(err)
		}
		if err := ownerAction(ctx, tx, epSeq, now, now); err != nil {
			return err
		}
		d, err = s.deliveryGet(ctx, tx, p.AccountID, p.EndpointID, p.DeliveryID, false)
		return err
	})
	if err != nil {
		return d, fmt.Errorf("create test delivery: %w", err)
	}
	return d, nil
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
