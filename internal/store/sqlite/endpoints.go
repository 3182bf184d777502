package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// EndpointCreate inserts an endpoint, its first secret and its subscriptions.
func (s *Store) EndpointCreate(ctx context.Context, p store.EndpointCreateParams) (webhook.Endpoint, error) {
	events, err := json.Marshal(p.Events)
	if err != nil {
		return webhook.Endpoint{}, fmt.Errorf("create endpoint: %w", err)
	}
	now := ms(p.Now)
	err = s.tx(ctx, func(tx *wtx) error {
		var seq int64
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO endpoints (id, account_id, url, description, events, strict_order, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
			p.ID, p.AccountID, p.URL, p.Description, string(events), p.StrictOrder, now, now).Scan(&seq); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO endpoint_secrets (endpoint_seq, ciphertext, prefix, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			seq, p.Secret.Ciphertext, p.Secret.Prefix, now, nullMS(p.Secret.ExpiresAt)); err != nil {
			return err
		}
		return subscribe(ctx, tx, p.AccountID, seq, p.Events)
	})
	if err != nil {
		return webhook.Endpoint{}, fmt.Errorf("create endpoint: %w", err)
	}
	return s.EndpointGet(ctx, store.EndpointGetParams{AccountID: p.AccountID, ID: p.ID, Now: p.Now})
}

// endpointColumns takes one parameter: the start of the 24 h window.
const endpointColumns = `e.seq, e.id, e.account_id, e.url, e.description, e.events, e.strict_order, e.status,
	e.disabled_reason, e.disabled_at, e.created_at, e.updated_at,
	COALESCE((SELECT prefix FROM endpoint_secrets WHERE endpoint_seq = e.seq ORDER BY seq DESC LIMIT 1), ''),
	e.queued_count, e.dropped_count,
	(SELECT CAST(SUM(successes) AS REAL) / SUM(attempts) FROM endpoint_stats WHERE endpoint_seq = e.seq AND hour >= ?)`

// statsWindow is the first hourly bucket inside the 24 h before now.
func statsWindow(now time.Time) int64 {
	return ms(now.Add(-24 * time.Hour).Truncate(time.Hour))
}

func scanEndpoint(row scanner) (int64, webhook.Endpoint, error) {
	var e webhook.Endpoint
	var seq, created, updated int64
	var events string
	var disabledAt sql.NullInt64
	var rate sql.NullFloat64
	err := row.Scan(&seq, &e.ID, &e.AccountID, &e.URL, &e.Description, &events, &e.StrictOrder, &e.Status,
		&e.DisabledReason, &disabledAt, &created, &updated, &e.SecretPrefix, &e.QueuedCount, &e.DroppedCount, &rate)
	if err != nil {
		return 0, e, mapErr(err)
	}
	if err := json.Unmarshal([]byte(events), &e.Events); err != nil {
		return 0, e, fmt.Errorf("endpoint %s events: %w", e.ID, err)
	}
	if rate.Valid {
		e.SuccessRate24h = &rate.Float64
	}
	e.DisabledAt = fromNullMS(disabledAt)
	e.CreatedAt = fromMS(created)
	e.UpdatedAt = fromMS(updated)
	return seq, e, nil
}

// EndpointGet returns one endpoint of one account.
func (s *Store) EndpointGet(ctx context.Context, p store.EndpointGetParams) (webhook.Endpoint, error) {
	_, e, err := scanEndpoint(s.rd.QueryRowContext(ctx,
		`SELECT `+endpointColumns+` FROM endpoints e WHERE e.id = ? AND e.account_id = ? AND e.deleted_at IS NULL`,
		statsWindow(p.Now), p.ID, p.AccountID))
	if err != nil {
		return e, fmt.Errorf("get endpoint: %w", err)
	}
	return e, nil
}

// EndpointList lists an account's endpoints, newest first.
func (s *Store) EndpointList(ctx context.Context, p store.EndpointListParams) (store.Page[webhook.Endpoint], error) {
	var page store.Page[webhook.Endpoint]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	q := `SELECT ` + endpointColumns + ` FROM endpoints e WHERE e.account_id = ? AND e.deleted_at IS NULL`
	args := []any{statsWindow(p.Now), p.AccountID}
	if after > 0 {
		q += ` AND e.seq < ?`
		args = append(args, after)
	}
	if p.Search != "" {
		q += ` AND (e.url LIKE ? ESCAPE '\' OR e.description LIKE ? ESCAPE '\')`
		args = append(args, likeEscape(p.Search), likeEscape(p.Search))
	}
	q += ` ORDER BY e.seq DESC LIMIT ?`
	args = append(args, p.Limit+1)
	if err := listPage(ctx, s.rd, &page, p.Limit, q, args, scanEndpoint); err != nil {
		return page, fmt.Errorf("list endpoints: %w", err)
	}
	return page, nil
}

// EndpointDelete hides the endpoint, cancels what it had waiting (dropped,
// with the reason, so the log explains it) and stops all dispatch for it.
func (s *Store) EndpointDelete(ctx context.Context, p store.EndpointDeleteParams) error {
	now := ms(p.Now)
	err := s.tx(ctx, func(tx *wtx) error {
		var seq int64
		err := tx.QueryRowContext(ctx,
			`UPDATE endpoints SET deleted_at = ?, updated_at = ?, next_due_at = NULL, lease_owner = NULL, lease_expires_at = NULL,
			   queued_count = 0
			 WHERE id = ? AND account_id = ? AND deleted_at IS NULL RETURNING seq`,
			now, now, p.ID, p.AccountID).Scan(&seq)
		if err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE deliveries SET status = 'dropped', last_error = 'endpoint deleted', next_attempt_at = NULL, updated_at = ?
			 WHERE endpoint_seq = ? AND status IN ('pending', 'queued')`, now, seq); err != nil {
			return err
		}
		return subscribe(ctx, tx, p.AccountID, seq, nil)
	})
	if err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	return nil
}

// subscribe replaces an endpoint's subscriptions with events and tells
// every process's fan-out cache.
func subscribe(ctx context.Context, tx *wtx, accountID string, endpointSeq int64, events []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM subscriptions WHERE endpoint_seq = ?`, endpointSeq); err != nil {
		return err
	}
	for _, t := range events {
		if _, err := tx.ExecContext(ctx,
			`INSERT OR IGNORE INTO subscriptions (account_id, event_type, endpoint_seq) VALUES (?, ?, ?)`,
			accountID, t, endpointSeq); err != nil {
			return err
		}
	}
	return bumpSubscriptions(ctx, tx)
}

// SealedSecretSample returns the newest signing secret as stored.
func (s *Store) SealedSecretSample(ctx context.Context) (store.SealedSecret, error) {
	var out store.SealedSecret
	err := s.rd.QueryRowContext(ctx,
		`SELECT e.id, x.ciphertext FROM endpoint_secrets x JOIN endpoints e ON e.seq = x.endpoint_seq ORDER BY x.seq DESC LIMIT 1`).
		Scan(&out.EndpointID, &out.Ciphertext)
	if err != nil {
		return out, fmt.Errorf("sample a sealed secret: %w", mapErr(err))
	}
	return out, nil
}
