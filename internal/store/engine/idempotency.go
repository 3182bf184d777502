package engine

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

var errKeyInProgress = webhook.Conflict("a request with this Idempotency-Key is in progress")

// IdempotencyBegin claims (scope, key), or reports what holds it. A new key
// is claimed by an insert that does nothing when the key exists, so two
// nodes racing for one key never both win; an existing key is read locked
// (FOR UPDATE on PostgreSQL) and taken over only when its holder is gone.
func (e *Engine) IdempotencyBegin(ctx context.Context, p store.IdempotencyBeginParams) (*store.IdempotentResponse, error) {
	now := ms(p.Now)
	var out *store.IdempotentResponse
	err := e.tx(ctx, func(tx Tx) error {
		out = nil
		for range 2 { // the row may go between the insert and the read
			res, err := tx.ExecContext(ctx, e.q.IdempotencyInsert, p.Scope, p.Key, p.Fingerprint, now, nullString(p.Owner))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				return nil
			}
			var fp, body []byte
			var status sql.NullInt64
			var owner sql.NullString
			var created int64
			var ownerAlive bool
			err = tx.QueryRowContext(ctx, e.q.IdempotencyGet, nullString(p.Owner), ms(p.AliveSince), p.Scope, p.Key).
				Scan(&fp, &status, &body, &created, &owner, &ownerAlive)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			// A process always holds its own keys, even before its row is
			// written (its registration may wait for the storage to recover).
			held := ownerAlive
			if !owner.Valid {
				held = now-created < p.StaleAfter.Milliseconds()
			}
			switch {
			case !status.Valid && !held:
				// Begun by a process that is gone: free, whatever its request.
				_, err := tx.ExecContext(ctx, e.q.IdempotencyTakeOver, p.Fingerprint, now, nullString(p.Owner), p.Scope, p.Key)
				return err
			case !bytes.Equal(fp, p.Fingerprint):
				out = &store.IdempotentResponse{Mismatch: true}
			case status.Valid:
				out = &store.IdempotentResponse{Status: int(status.Int64), Body: body}
			default:
				return errKeyInProgress
			}
			return nil
		}
		return errKeyInProgress
	})
	if err != nil {
		return nil, fmt.Errorf("idempotency key: %w", err)
	}
	return out, nil
}

// IdempotencyComplete stores the response for replays.
func (e *Engine) IdempotencyComplete(ctx context.Context, p store.IdempotencyCompleteParams) error {
	_, err := e.exec(ctx, e.q.IdempotencyComplete, p.Status, p.Body, p.Scope, p.Key, nullString(p.Owner))
	return wrap("idempotency key", err)
}

// IdempotencyAbort releases a key.
func (e *Engine) IdempotencyAbort(ctx context.Context, p store.IdempotencyAbortParams) error {
	_, err := e.exec(ctx, e.q.IdempotencyAbort, p.Scope, p.Key, nullString(p.Owner))
	return wrap("idempotency key", err)
}

// ProcessHeartbeat registers a process or refreshes its heartbeat.
func (e *Engine) ProcessHeartbeat(ctx context.Context, p store.Process) error {
	_, err := e.exec(ctx, e.q.ProcessHeartbeat, p.ID, p.Host, p.PID, p.PIDStart, ms(p.StartedAt), ms(p.HeartbeatAt))
	return wrap("process heartbeat", err)
}

// ProcessList lists the registered processes.
func (e *Engine) ProcessList(ctx context.Context) ([]store.Process, error) {
	rows, err := e.d.Read().QueryContext(ctx, e.q.ProcessList)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", e.mapErr(err))
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
		return nil, fmt.Errorf("list processes: %w", e.mapErr(err))
	}
	return out, nil
}

// ProcessRemove unregisters a process and frees its keys in progress.
func (e *Engine) ProcessRemove(ctx context.Context, id string) error {
	err := e.tx(ctx, func(tx Tx) error {
		if _, err := tx.ExecContext(ctx, e.q.IdempotencyFreeOwner, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, e.q.ProcessDelete, id)
		return err
	})
	return wrap("remove process", err)
}
