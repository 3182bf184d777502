package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// EndpointUpdate changes what was given. New subscriptions take effect for
// events published after the commit; deliveries already created stay.
func (s *Store) EndpointUpdate(ctx context.Context, p store.EndpointUpdateParams) (webhook.Endpoint, error) {
	now := ms(p.Now)
	err := s.tx(ctx, func(tx *wtx) error {
		seq, err := endpointSeq(ctx, tx, p.AccountID, p.ID)
		if err != nil {
			return err
		}
		set := func(col string, v any) error {
			_, err := tx.ExecContext(ctx, `UPDATE endpoints SET `+col+` = ?, updated_at = ? WHERE seq = ?`, v, now, seq)
			return err
		}
		if p.URL != nil {
			if err := set("url", *p.URL); err != nil {
				return err
			}
		}
		if p.Description != nil {
			if err := set("description", *p.Description); err != nil {
				return err
			}
		}
		if p.StrictOrder != nil {
			if err := set("strict_order", *p.StrictOrder); err != nil {
				return err
			}
		}
		if p.Events != nil {
			events, err := json.Marshal(p.Events)
			if err != nil {
				return err
			}
			if err := set("events", string(events)); err != nil {
				return err
			}
			if err := subscribe(ctx, tx, p.AccountID, seq, p.Events); err != nil {
				return err
			}
		}
		// A new URL or ordering must reach the dispatcher holding the lease:
		// it reloads the endpoint with its secrets.
		_, err = tx.ExecContext(ctx, `UPDATE endpoints SET secret_version = secret_version + 1 WHERE seq = ?`, seq)
		return err
	})
	if err != nil {
		return webhook.Endpoint{}, fmt.Errorf("update endpoint: %w", mapErr(err))
	}
	return s.EndpointGet(ctx, store.EndpointGetParams{AccountID: p.AccountID, ID: p.ID, Now: p.Now})
}

// EndpointRotateSecret adds a secret and shortens the life of the others.
func (s *Store) EndpointRotateSecret(ctx context.Context, p store.EndpointRotateSecretParams) error {
	now := ms(p.Now)
	until := now + p.Grace.Milliseconds()
	err := s.tx(ctx, func(tx *wtx) error {
		seq, err := endpointSeq(ctx, tx, p.AccountID, p.ID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE endpoint_secrets SET expires_at = ? WHERE endpoint_seq = ? AND (expires_at IS NULL OR expires_at > ?)`,
			until, seq, until); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO endpoint_secrets (endpoint_seq, ciphertext, prefix, created_at, expires_at) VALUES (?, ?, ?, ?, NULL)`,
			seq, p.Secret.Ciphertext, p.Secret.Prefix, now); err != nil {
			return err
		}
		// Expired secrets are kept no longer than needed.
		if _, err := tx.ExecContext(ctx, `DELETE FROM endpoint_secrets WHERE endpoint_seq = ? AND expires_at <= ?`, seq, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE endpoints SET secret_version = secret_version + 1, updated_at = ? WHERE seq = ?`, now, seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("rotate secret: %w", mapErr(err))
	}
	return nil
}

// EndpointReload re-reads an endpoint for the dispatcher holding it.
func (s *Store) EndpointReload(ctx context.Context, p store.EndpointReloadParams) (store.ClaimedEndpoint, error) {
	var c store.ClaimedEndpoint
	var seq, created int64
	var openUntil, lastSuccess sql.NullInt64
	h := &c.Health
	if err := s.rd.QueryRowContext(ctx, `SELECT seq, id, account_id, url, strict_order, created_at, secret_version,
		  consecutive_failures, breaker_trips, breaker_open_until, failed_deliveries, last_success_at FROM endpoints WHERE id = ?`,
		p.EndpointID).Scan(&seq, &c.ID, &c.AccountID, &c.URL, &c.StrictOrder, &created, &c.SecretVersion,
		&h.ConsecutiveFailures, &h.BreakerTrips, &openUntil, &h.FailedDeliveries, &lastSuccess); err != nil {
		return c, fmt.Errorf("reload endpoint: %w", mapErr(err))
	}
	c.CreatedAt = fromMS(created)
	h.BreakerOpenUntil, h.LastSuccessAt = fromNullMS(openUntil), fromNullMS(lastSuccess)
	secrets, err := validSecrets(ctx, s.rd, seq, ms(p.Now))
	if err != nil {
		return c, fmt.Errorf("reload endpoint: %w", err)
	}
	c.Secrets = secrets
	return c, nil
}

// DeliveriesRecover makes failed deliveries in the window pending again,
// due now and in their publish order.
func (s *Store) DeliveriesRecover(ctx context.Context, p store.DeliveriesRecoverParams) (int, error) {
	now := ms(p.Now)
	until := int64(1<<63 - 1)
	if p.Until != nil {
		until = ms(*p.Until)
	}
	var n int64
	err := s.tx(ctx, func(tx *wtx) error {
		seq, err := activeEndpointSeq(ctx, tx, p.AccountID, p.EndpointID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE deliveries SET status = 'pending', schedule_attempt = 0, next_attempt_at = ?, updated_at = ?
			 WHERE endpoint_seq = ? AND status = 'failed' AND created_at >= ? AND created_at < ?`,
			now, now, seq, ms(p.Since), until)
		if err != nil {
			return err
		}
		if n, _ = res.RowsAffected(); n > 0 {
			return ownerAction(ctx, tx, seq, now, now)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("recover deliveries: %w", err)
	}
	return int(n), nil
}

// EventList lists an account's events oldest first, after the cursor.
func (s *Store) EventList(ctx context.Context, p store.EventListParams) (store.Page[webhook.Event], error) {
	var page store.Page[webhook.Event]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	q := `SELECT seq, id, event_type, subject_id, data, deliveries, created_at FROM events WHERE account_id = ? AND seq > ?`
	args := []any{p.AccountID, after}
	if p.EventType != "" {
		q += ` AND event_type = ?`
		args = append(args, p.EventType)
	}
	q += ` ORDER BY seq LIMIT ?`
	args = append(args, p.Limit+1)
	rows, err := s.rd.QueryContext(ctx, q, args...)
	if err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var last int64
	for rows.Next() {
		var e webhook.Event
		var seq, created int64
		var data []byte
		if err := rows.Scan(&seq, &e.ID, &e.Type, &e.SubjectID, &data, &e.Deliveries, &created); err != nil {
			return page, fmt.Errorf("list events: %w", err)
		}
		if len(page.Items) == p.Limit {
			page.NextCursor = store.EncodeCursor(last)
			break
		}
		e.AccountID, e.Data, e.CreatedAt = p.AccountID, data, fromMS(created)
		page.Items = append(page.Items, e)
		last = seq
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	// The last page still gets a cursor: a poller resumes from it and sees
	// only what is published later.
	if page.NextCursor == "" && last > 0 {
		page.NextCursor = store.EncodeCursor(last)
	}
	return page, nil
}

// IdempotencyBegin claims (scope, key), or reports what holds it.
func (s *Store) IdempotencyBegin(ctx context.Context, p store.IdempotencyBeginParams) (*store.IdempotentResponse, error) {
	now := ms(p.Now)
	var out *store.IdempotentResponse
	err := s.tx(ctx, func(tx *wtx) error {
		var fp, body []byte
		var status sql.NullInt64
		var owner sql.NullString
		var created int64
		var ownerAlive bool
		err := tx.QueryRowContext(ctx,
			`SELECT fingerprint, status, body, created_at, owner,
			        k.owner IS ? OR EXISTS (SELECT 1 FROM processes WHERE id = k.owner AND heartbeat_at >= ?)
			 FROM idempotency_keys k WHERE scope = ? AND key = ?`,
			nullString(p.Owner), ms(p.AliveSince), p.Scope, p.Key).Scan(&fp, &status, &body, &created, &owner, &ownerAlive)
		// A process always holds its own keys, even before its row is
		// written (its registration may wait for the storage to recover).
		held := func() bool { // by a request still running
			if owner.Valid {
				return ownerAlive
			}
			return now-created < p.StaleAfter.Milliseconds()
		}
		switch {
		case err == sql.ErrNoRows:
		case err != nil:
			return err
		case !status.Valid && !held():
			// Begun by a process that is gone: free, whatever its request.
		case string(fp) != string(p.Fingerprint):
			out = &store.IdempotentResponse{Mismatch: true}
			return nil
		case status.Valid:
			out = &store.IdempotentResponse{Status: int(status.Int64), Body: body}
			return nil
		default:
			return fmt.Errorf("%w: a request with this Idempotency-Key is in progress", webhook.ErrConflict)
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO idempotency_keys (scope, key, fingerprint, created_at, owner) VALUES (?, ?, ?, ?, ?)
			 ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, created_at = excluded.created_at,
			   owner = excluded.owner, status = NULL, body = NULL`,
			p.Scope, p.Key, p.Fingerprint, now, nullString(p.Owner))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("idempotency key: %w", err)
	}
	return out, nil
}

// IdempotencyComplete stores the response for replays.
func (s *Store) IdempotencyComplete(ctx context.Context, p store.IdempotencyCompleteParams) error {
	_, err := s.exec(ctx, `UPDATE idempotency_keys SET status = ?, body = ?, owner = NULL
		WHERE scope = ? AND key = ? AND status IS NULL AND owner IS ?`,
		p.Status, p.Body, p.Scope, p.Key, nullString(p.Owner))
	if err != nil {
		return fmt.Errorf("idempotency key: %w", err)
	}
	return nil
}

// IdempotencyAbort releases a key.
func (s *Store) IdempotencyAbort(ctx context.Context, p store.IdempotencyAbortParams) error {
	_, err := s.exec(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status IS NULL AND owner IS ?`,
		p.Scope, p.Key, nullString(p.Owner))
	if err != nil {
		return fmt.Errorf("idempotency key: %w", err)
	}
	return nil
}

// ProcessHeartbeat registers a process or refreshes its heartbeat.
func (s *Store) ProcessHeartbeat(ctx context.Context, p store.Process) error {
	_, err := s.exec(ctx,
		`INSERT INTO processes (id, host, pid, pid_start, started_at, heartbeat_at) VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
		p.ID, p.Host, p.PID, p.PIDStart, ms(p.StartedAt), ms(p.HeartbeatAt))
	if err != nil {
		return fmt.Errorf("process heartbeat: %w", err)
	}
	return nil
}

// ProcessList lists the registered processes.
func (s *Store) ProcessList(ctx context.Context) ([]store.Process, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT id, host, pid, pid_start, started_at, heartbeat_at FROM processes ORDER BY started_at`)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.Process
	for rows.Next() {
		var p store.Process
		var started, beat int64
		if err := rows.Scan(&p.ID, &p.Host, &p.PID, &p.PIDStart, &started, &beat); err != nil {
			return nil, fmt.Errorf("list processes: %w", err)
		}
		p.StartedAt, p.HeartbeatAt = fromMS(started), fromMS(beat)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list processes: %w", mapErr(err))
	}
	return out, nil
}

// ProcessRemove unregisters a process and frees its keys in progress.
func (s *Store) ProcessRemove(ctx context.Context, id string) error {
	err := s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE owner = ? AND status IS NULL`, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM processes WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove process: %w", err)
	}
	return nil
}

// nullString stores "" as NULL.
func nullString(v string) sql.NullString { return sql.NullString{String: v, Valid: v != ""} }
