package engine

import (
	"context"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/store"
)

// MemberCredentials returns every membership of an email, oldest first.
func (e *Engine) MemberCredentials(ctx context.Context, p store.MemberCredentialsParams) ([]store.MemberCredential, error) {
	rows, err := e.d.Read().QueryContext(ctx, e.q.MemberCredentials, p.Email)
	if err != nil {
		return nil, fmt.Errorf("member credentials: %w", e.mapErr(err))
	}
	defer rows.Close()
	var out []store.MemberCredential
	for rows.Next() {
		var c store.MemberCredential
		var created int64
		if err := rows.Scan(&c.Member.ID, &c.Member.AccountID, &c.Member.Email, &c.Member.Role, &created, &c.PasswordHash); err != nil {
			return nil, fmt.Errorf("member credentials: %w", err)
		}
		c.Member.CreatedAt = fromMS(created)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("member credentials: %w", err)
	}
	return out, nil
}

// sessionsPruned bounds how many expired sessions one sign-in deletes.
const sessionsPruned = 100

// SessionCreate stores a session and deletes some expired ones.
func (e *Engine) SessionCreate(ctx context.Context, p store.SessionCreateParams) error {
	err := e.tx(ctx, func(tx Tx) error {
		if _, err := tx.ExecContext(ctx, e.q.SessionsPrune, ms(p.Now), ms(p.Now), sessionsPruned); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, e.q.SessionInsert, p.TokenHash, p.AccountID, p.MemberID, ms(p.Now), ms(p.IdleUntil), ms(p.ExpiresAt))
		return err
	})
	return wrap("create session", err)
}

// SessionGet returns a live session with its member as it is now.
func (e *Engine) SessionGet(ctx context.Context, p store.SessionGetParams) (store.Session, error) {
	var ss store.Session
	var created, idle, expires, memberCreated int64
	now := ms(p.Now)
	err := e.d.Read().QueryRowContext(ctx, e.q.SessionGet, p.TokenHash, now, now).
		Scan(&ss.Member.ID, &ss.Member.AccountID, &ss.Member.Email, &ss.Member.Role, &memberCreated, &created, &idle, &expires)
	if err != nil {
		return ss, fmt.Errorf("get session: %w", e.mapErr(err))
	}
	ss.Member.CreatedAt = fromMS(memberCreated)
	ss.CreatedAt, ss.IdleUntil, ss.ExpiresAt = fromMS(created), fromMS(idle), fromMS(expires)
	return ss, nil
}

// SessionTouch extends a session's idle expiry up to its absolute one. It
// is bookkeeping, not fsynced: a lost touch only shortens a session.
func (e *Engine) SessionTouch(ctx context.Context, p store.SessionTouchParams) error {
	err := e.txLazy(ctx, func(tx Tx) error {
		_, err := tx.ExecContext(ctx, e.q.SessionTouch, ms(p.IdleUntil), p.TokenHash)
		return err
	})
	return wrap("touch session", err)
}

// SessionDelete ends a session.
func (e *Engine) SessionDelete(ctx context.Context, p store.SessionDeleteParams) error {
	_, err := e.exec(ctx, e.q.SessionDelete, p.TokenHash)
	return wrap("delete session", err)
}

// EndpointHourly reads the hourly counters the dispatcher keeps with each
// batch of attempt results: a few rows per endpoint, never the log.
func (e *Engine) EndpointHourly(ctx context.Context, p store.EndpointHourlyParams) ([]store.HourlyCount, error) {
	rows, err := e.d.Read().QueryContext(ctx, e.q.EndpointHourly, p.AccountID, p.EndpointID, ms(p.Since))
	if err != nil {
		return nil, fmt.Errorf("endpoint hourly: %w", e.mapErr(err))
	}
	defer rows.Close()
	var out []store.HourlyCount
	for rows.Next() {
		var h store.HourlyCount
		var hour int64
		if err := rows.Scan(&hour, &h.Attempts, &h.Successes, &h.Delivered, &h.Failed); err != nil {
			return nil, fmt.Errorf("endpoint hourly: %w", err)
		}
		h.Hour = fromMS(hour)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("endpoint hourly: %w", err)
	}
	return out, nil
}

// EndpointsRelease gives back every lease the owner holds, in one
// statement (a dispatcher shutting down holds up to thousands), each with
// next_due_at at its earliest pending delivery or the end of an open
// breaker's cool-down, whichever is later.
func (e *Engine) EndpointsRelease(ctx context.Context, p store.EndpointsReleaseParams) (int, error) {
	var n int64
	err := e.txLazy(ctx, func(tx Tx) error {
		res, err := tx.ExecContext(ctx, e.q.EndpointsRelease, p.Owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("release leases of %s: %w", p.Owner, err)
	}
	return int(n), nil
}
