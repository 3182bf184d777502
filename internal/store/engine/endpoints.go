package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// EndpointCreate inserts an endpoint, its first secret and its subscriptions.
func (e *Engine) EndpointCreate(ctx context.Context, p store.EndpointCreateParams) (webhook.Endpoint, error) {
	events, err := json.Marshal(p.Events)
	if err != nil {
		return webhook.Endpoint{}, fmt.Errorf("create endpoint: %w", err)
	}
	now := ms(p.Now)
	err = e.tx(ctx, func(tx Tx) error {
		if err := e.bumpSubscriptions(ctx, tx); err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRowContext(ctx, e.q.EndpointInsert,
			p.ID, p.AccountID, p.URL, p.Description, string(events), p.StrictOrder, now, now).Scan(&seq); err != nil {
			return e.mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, e.q.SecretInsert, seq, p.Secret.Ciphertext, p.Secret.Prefix, now,
			nullMS(p.Secret.ExpiresAt)); err != nil {
			return err
		}
		return e.subscribe(ctx, tx, p.AccountID, seq, p.Events)
	})
	if err != nil {
		return webhook.Endpoint{}, fmt.Errorf("create endpoint: %w", err)
	}
	return e.EndpointGet(ctx, store.EndpointGetParams{AccountID: p.AccountID, ID: p.ID, Now: p.Now})
}

func (e *Engine) scanEndpoint(row scanner) (int64, webhook.Endpoint, error) {
	var ep webhook.Endpoint
	var seq, created, updated int64
	var events string
	var disabledAt sql.NullInt64
	var rate sql.NullFloat64
	err := row.Scan(&seq, &ep.ID, &ep.AccountID, &ep.URL, &ep.Description, &events, &ep.StrictOrder, &ep.Status,
		&ep.DisabledReason, &disabledAt, &created, &updated, &ep.SecretPrefix, &ep.QueuedCount, &ep.DroppedCount, &rate)
	if err != nil {
		return 0, ep, e.mapErr(err)
	}
	if err := json.Unmarshal([]byte(events), &ep.Events); err != nil {
		return 0, ep, fmt.Errorf("endpoint %s events: %w", ep.ID, err)
	}
	if rate.Valid {
		ep.SuccessRate24h = &rate.Float64
	}
	ep.DisabledAt = fromNullMS(disabledAt)
	ep.CreatedAt = fromMS(created)
	ep.UpdatedAt = fromMS(updated)
	return seq, ep, nil
}

// EndpointGet returns one endpoint of one account.
func (e *Engine) EndpointGet(ctx context.Context, p store.EndpointGetParams) (webhook.Endpoint, error) {
	_, ep, err := e.scanEndpoint(e.d.Read().QueryRowContext(ctx, e.q.EndpointGet, statsWindow(p.Now), p.ID, p.AccountID))
	if err != nil {
		return ep, fmt.Errorf("get endpoint: %w", err)
	}
	return ep, nil
}

// EndpointList lists an account's endpoints, newest first.
func (e *Engine) EndpointList(ctx context.Context, p store.EndpointListParams) (store.Page[webhook.Endpoint], error) {
	var page store.Page[webhook.Endpoint]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	l := e.q.EndpointList
	q := l.Select
	args := []any{statsWindow(p.Now), p.AccountID}
	if after > 0 {
		q += l.Before
		args = append(args, after)
	}
	if p.Search != "" {
		q += l.Search
		args = append(args, likePattern(p.Search), likePattern(p.Search))
	}
	q += l.Order
	args = append(args, p.Limit+1)
	if err := listPage(ctx, e.d.Read(), &page, p.Limit, q, args, e.scanEndpoint); err != nil {
		return page, fmt.Errorf("list endpoints: %w", err)
	}
	return page, nil
}

// EndpointDelete hides the endpoint, cancels what it had waiting (dropped,
// with the reason, so the log explains it), stops all dispatch for it, and
// returns how many deliveries it dropped.
func (e *Engine) EndpointDelete(ctx context.Context, p store.EndpointDeleteParams) (int, error) {
	now := ms(p.Now)
	var dropped int
	err := e.tx(ctx, func(tx Tx) error {
		dropped = 0
		if err := e.bumpSubscriptions(ctx, tx); err != nil {
			return err
		}
		var seq int64
		if err := tx.QueryRowContext(ctx, e.q.EndpointDelete, now, now, p.ID, p.AccountID).Scan(&seq); err != nil {
			return e.mapErr(err)
		}
		for _, status := range []webhook.DeliveryStatus{webhook.StatusPending, webhook.StatusQueued} {
			res, err := tx.ExecContext(ctx, e.q.DeliveriesCancel, "endpoint deleted", now, seq, string(status))
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			dropped += int(n)
			if status == webhook.StatusQueued {
				if err := e.queuedMoved(ctx, tx, seq, -int(n)); err != nil {
					return err
				}
			}
		}
		return e.subscribe(ctx, tx, p.AccountID, seq, nil)
	})
	if err != nil {
		return 0, fmt.Errorf("delete endpoint: %w", err)
	}
	return dropped, nil
}

// subscribe replaces an endpoint's subscriptions with events. The caller
// has bumped the subscriptions version first.
func (e *Engine) subscribe(ctx context.Context, tx Tx, accountID string, endpointSeq int64, events []string) error {
	if _, err := tx.ExecContext(ctx, e.q.SubscriptionsDelete, endpointSeq); err != nil {
		return err
	}
	for _, t := range events {
		if _, err := tx.ExecContext(ctx, e.q.SubscriptionInsert, accountID, t, endpointSeq); err != nil {
			return err
		}
	}
	return nil
}

// SealedSecretSample returns the newest signing secret as stored.
func (e *Engine) SealedSecretSample(ctx context.Context) (store.SealedSecret, error) {
	var out store.SealedSecret
	err := e.d.Read().QueryRowContext(ctx, e.q.SecretSample).Scan(&out.EndpointID, &out.Ciphertext)
	if err != nil {
		return out, fmt.Errorf("sample a sealed secret: %w", e.mapErr(err))
	}
	return out, nil
}

// EndpointUpdate changes what was given. New subscriptions take effect for
// events published after the commit; deliveries already created stay.
func (e *Engine) EndpointUpdate(ctx context.Context, p store.EndpointUpdateParams) (webhook.Endpoint, error) {
	now := ms(p.Now)
	err := e.tx(ctx, func(tx Tx) error {
		if p.Events != nil {
			if err := e.bumpSubscriptions(ctx, tx); err != nil {
				return err
			}
		}
		seq, err := e.endpointSeq(ctx, tx, p.AccountID, p.ID)
		if err != nil {
			return err
		}
		var events sql.NullString
		if p.Events != nil {
			b, err := json.Marshal(p.Events)
			if err != nil {
				return err
			}
			events = sql.NullString{String: string(b), Valid: true}
		}
		// A new URL or ordering must reach the dispatcher holding the lease:
		// the bumped secret_version makes it reload the endpoint.
		if _, err := tx.ExecContext(ctx, e.q.EndpointUpdate, nullPtr(p.URL), nullPtr(p.Description), nullBool(p.StrictOrder),
			events, now, seq); err != nil {
			return err
		}
		if p.Events != nil {
			return e.subscribe(ctx, tx, p.AccountID, seq, p.Events)
		}
		return nil
	})
	if err != nil {
		return webhook.Endpoint{}, fmt.Errorf("update endpoint: %w", e.mapErr(err))
	}
	return e.EndpointGet(ctx, store.EndpointGetParams{AccountID: p.AccountID, ID: p.ID, Now: p.Now})
}

func nullPtr(s *string) sql.NullString {
	if s == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *s, Valid: true}
}

func nullBool(b *bool) sql.NullBool {
	if b == nil {
		return sql.NullBool{}
	}
	return sql.NullBool{Bool: *b, Valid: true}
}

// EndpointRotateSecret adds a secret and shortens the life of the others.
func (e *Engine) EndpointRotateSecret(ctx context.Context, p store.EndpointRotateSecretParams) error {
	now := ms(p.Now)
	until := now + p.Grace.Milliseconds()
	err := e.tx(ctx, func(tx Tx) error {
		seq, err := e.endpointSeq(ctx, tx, p.AccountID, p.ID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, e.q.SecretsExpire, until, seq, until); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, e.q.SecretInsert, seq, p.Secret.Ciphertext, p.Secret.Prefix, now, nullMS(nil)); err != nil {
			return err
		}
		// Expired secrets are kept no longer than needed.
		if _, err := tx.ExecContext(ctx, e.q.SecretsDeleteExpired, seq, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, e.q.EndpointSecretVersionBump, now, seq)
		return err
	})
	if err != nil {
		return fmt.Errorf("rotate secret: %w", e.mapErr(err))
	}
	return nil
}

// EndpointReload re-reads an endpoint for the dispatcher holding it.
func (e *Engine) EndpointReload(ctx context.Context, p store.EndpointReloadParams) (store.ClaimedEndpoint, error) {
	var c store.ClaimedEndpoint
	var seq, created int64
	r := e.d.Read()
	var openUntil, lastSuccess sql.NullInt64
	h := &c.Health
	if err := r.QueryRowContext(ctx, e.q.EndpointReload, p.EndpointID).
		Scan(&seq, &c.ID, &c.AccountID, &c.URL, &c.StrictOrder, &created, &c.SecretVersion,
			&h.ConsecutiveFailures, &h.BreakerTrips, &openUntil, &h.FailedDeliveries, &lastSuccess); err != nil {
		return c, fmt.Errorf("reload endpoint: %w", e.mapErr(err))
	}
	c.CreatedAt = fromMS(created)
	h.BreakerOpenUntil, h.LastSuccessAt = fromNullMS(openUntil), fromNullMS(lastSuccess)
	secrets, err := e.validSecrets(ctx, r, seq, ms(p.Now))
	if err != nil {
		return c, fmt.Errorf("reload endpoint: %w", err)
	}
	c.Secrets = secrets
	return c, nil
}

// DeliveriesRecover makes failed deliveries in the window pending again,
// due now and in their publish order.
func (e *Engine) DeliveriesRecover(ctx context.Context, p store.DeliveriesRecoverParams) (int, error) {
	now := ms(p.Now)
	until := int64(1<<63 - 1)
	if p.Until != nil {
		until = ms(*p.Until)
	}
	var n int64
	err := e.tx(ctx, func(tx Tx) error {
		seq, err := e.activeEndpointSeq(ctx, tx, p.AccountID, p.EndpointID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, e.q.DeliveriesRecover, now, now, seq, ms(p.Since), until)
		if err != nil {
			return err
		}
		if n, _ = res.RowsAffected(); n > 0 {
			return e.ownerAction(ctx, tx, seq, p.EndpointID, now, now)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("recover deliveries: %w", err)
	}
	return int(n), nil
}

// EventList lists an account's events oldest first, after the cursor. Its
// positions are in commit order (see the package comment), so a poller
// that resumes from its cursor never skips an event that committed late.
func (e *Engine) EventList(ctx context.Context, p store.EventListParams) (store.Page[webhook.Event], error) {
	var page store.Page[webhook.Event]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	l := e.q.EventList
	q := l.Select
	args := []any{p.AccountID, after}
	if p.EventType != "" {
		q += l.Type
		args = append(args, p.EventType)
	}
	q += l.Order
	args = append(args, p.Limit+1)
	rows, err := e.d.Read().QueryContext(ctx, q, args...)
	if err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var last int64
	for rows.Next() {
		var ev webhook.Event
		var seq, created int64
		var data []byte
		if err := rows.Scan(&seq, &ev.ID, &ev.Type, &ev.SubjectID, &data, &ev.Deliveries, &created); err != nil {
			return page, fmt.Errorf("list events: %w", err)
		}
		if len(page.Items) == p.Limit {
			page.NextCursor = store.EncodeCursor(last)
			break
		}
		ev.AccountID, ev.Data, ev.CreatedAt = p.AccountID, data, fromMS(created)
		page.Items = append(page.Items, ev)
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
