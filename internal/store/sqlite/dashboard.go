package sqlite

import (
	"context"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/store"
)

// MemberCredentials returns every membership of an email, oldest first.
func (s *Store) MemberCredentials(ctx context.Context, p store.MemberCredentialsParams) ([]store.MemberCredential, error) {
	rows, err := s.rd.QueryContext(ctx,
		`SELECT id, account_id, email, role, created_at, password_hash FROM members WHERE email = ? ORDER BY seq`, p.Email)
	if err != nil {
		return nil, fmt.Errorf("member credentials: %w", err)
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
func (s *Store) SessionCreate(ctx context.Context, p store.SessionCreateParams) error {
	err := s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM sessions WHERE token_hash IN (
			   SELECT token_hash FROM sessions WHERE expires_at <= ? OR idle_until <= ? LIMIT ?)`,
			ms(p.Now), ms(p.Now), sessionsPruned); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO sessions (token_hash, account_id, member_id, created_at, idle_until, expires_at)
			 VALUES (?, ?, ?, ?, ?, ?)`,
			p.TokenHash, p.AccountID, p.MemberID, ms(p.Now), ms(p.IdleUntil), ms(p.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("create session: %w", mapErr(err))
	}
	return nil
}

// SessionGet returns a live session with its member as it is now.
func (s *Store) SessionGet(ctx context.Context, p store.SessionGetParams) (store.Session, error) {
	var ss store.Session
	var created, idle, expires, memberCreated int64
	now := ms(p.Now)
	err := s.rd.QueryRowContext(ctx,
		`SELECT m.id, m.account_id, m.email, m.role, m.created_at, s.created_at, s.idle_until, s.expires_at
		 FROM sessions s JOIN members m ON m.id = s.member_id AND m.account_id = s.account_id
		 WHERE s.token_hash = ? AND s.idle_until > ? AND s.expires_at > ?`, p.TokenHash, now, now).
		Scan(&ss.Member.ID, &ss.Member.AccountID, &ss.Member.Email, &ss.Member.Role, &memberCreated, &created, &idle, &expires)
	if err != nil {
		return ss, fmt.Errorf("get session: %w", mapErr(err))
	}
	ss.Member.CreatedAt = fromMS(memberCreated)
	ss.CreatedAt, ss.IdleUntil, ss.ExpiresAt = fromMS(created), fromMS(idle), fromMS(expires)
	return ss, nil
}

// SessionTouch extends a session's idle expiry up to its absolute one. It
// is bookkeeping, not fsynced: a lost touch only shortens a session.
func (s *Store) SessionTouch(ctx context.Context, p store.SessionTouchParams) error {
	err := s.txLazy(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET idle_until = min(?, expires_at) WHERE token_hash = ?`,
			ms(p.IdleUntil), p.TokenHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// SessionDelete ends a session.
func (s *Store) SessionDelete(ctx context.Context, p store.SessionDeleteParams) error {
	if _, err := s.exec(ctx, `DELETE FROM sessions WHERE token_hash = ?`, p.TokenHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// EndpointHourly reads the hourly counters the dispatcher keeps with each
// batch of attempt results: a few rows per endpoint, never the log.
func (s *Store) EndpointHourly(ctx context.Context, p store.EndpointHourlyParams) ([]store.HourlyCount, error) {
	rows, err := s.rd.QueryContext(ctx,
		`SELECT st.hour, st.attempts, st.successes, st.delivered, st.failed
		 FROM endpoints e JOIN endpoint_stats st ON st.endpoint_seq = e.seq
		 WHERE e.account_id = ? AND e.id = ? AND e.deleted_at IS NULL AND st.hour >= ?
		 ORDER BY st.hour`, p.AccountID, p.EndpointID, ms(p.Since))
	if err != nil {
		return nil, fmt.Errorf("endpoint hourly: %w", err)
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
