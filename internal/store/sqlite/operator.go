package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// Conflicts the operator's routes explain to the caller.
var (
	errFirstMemberPrimary = fmt.Errorf("%w: the first member of an account must be its primary-owner", webhook.ErrConflict)
	errSecondPrimary      = fmt.Errorf("%w: the account already has a primary-owner; to transfer ownership, change another member's role to primary-owner", webhook.ErrConflict)
	errDemotePrimary      = fmt.Errorf("%w: the primary-owner cannot be demoted; to transfer ownership, change another member's role to primary-owner", webhook.ErrConflict)
	errDeletePrimary      = fmt.Errorf("%w: the primary-owner cannot be deleted; transfer ownership to another member first", webhook.ErrConflict)
	errEmailTaken         = fmt.Errorf("%w: the account already has a member with this email", webhook.ErrConflict)
	errReservedType       = fmt.Errorf("%w: reserved event types cannot be changed", webhook.ErrConflict)
)

// AccountList lists accounts newest first.
func (s *Store) AccountList(ctx context.Context, p store.AccountListParams) (store.Page[webhook.Account], error) {
	var page store.Page[webhook.Account]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	q := `SELECT seq, id, name, created_at FROM accounts WHERE 1 = 1`
	var args []any
	if after > 0 {
		q += ` AND seq < ?`
		args = append(args, after)
	}
	if p.Search != "" {
		// LIKE ignores the case of ASCII letters.
		q += ` AND name LIKE ? ESCAPE '\'`
		args = append(args, likeEscape(p.Search))
	}
	q += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, p.Limit+1)
	err = listPage(ctx, s.rd, &page, p.Limit, q, args, func(row scanner) (int64, webhook.Account, error) {
		var a webhook.Account
		var seq, created int64
		err := row.Scan(&seq, &a.ID, &a.Name, &created)
		a.CreatedAt = fromMS(created)
		return seq, a, err
	})
	if err != nil {
		return page, fmt.Errorf("list accounts: %w", err)
	}
	return page, nil
}

const apiKeyColumns = `seq, id, account_id, name, prefix, scopes, created_at, revoked_at`

func scanAPIKey(row scanner) (int64, webhook.APIKey, error) {
	var k webhook.APIKey
	var seq, created int64
	var account sql.NullString
	var scopes string
	var revoked sql.NullInt64
	if err := row.Scan(&seq, &k.ID, &account, &k.Name, &k.Prefix, &scopes, &created, &revoked); err != nil {
		return 0, k, mapErr(err)
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return 0, k, fmt.Errorf("api key %s scopes: %w", k.ID, err)
	}
	k.AccountID = account.String
	k.CreatedAt = fromMS(created)
	k.RevokedAt = fromNullMS(revoked)
	return seq, k, nil
}

// APIKeyGet returns one key of one account.
func (s *Store) APIKeyGet(ctx context.Context, p store.APIKeyGetParams) (webhook.APIKey, error) {
	_, k, err := scanAPIKey(s.rd.QueryRowContext(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ? AND account_id IS ?`, p.ID,
		sql.NullString{String: p.AccountID, Valid: p.AccountID != ""}))
	if err != nil {
		return k, fmt.Errorf("get api key: %w", err)
	}
	return k, nil
}

// APIKeyList lists an account's keys (or the operator keys) newest first.
func (s *Store) APIKeyList(ctx context.Context, p store.APIKeyListParams) (store.Page[webhook.APIKey], error) {
	var page store.Page[webhook.APIKey]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	q := `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE account_id = ?`
	args := []any{p.AccountID}
	if p.AccountID == "" {
		q, args = `SELECT `+apiKeyColumns+` FROM api_keys WHERE account_id IS NULL`, nil
	}
	if after > 0 {
		q += ` AND seq < ?`
		args = append(args, after)
	}
	q += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, p.Limit+1)
	err = listPage(ctx, s.rd, &page, p.Limit, q, args, func(row scanner) (int64, webhook.APIKey, error) {
		return scanAPIKey(row)
	})
	if err != nil {
		return page, fmt.Errorf("list api keys: %w", err)
	}
	return page, nil
}

const memberColumns = `seq, id, account_id, email, role, created_at`

func scanMember(row scanner) (int64, webhook.Member, error) {
	var m webhook.Member
	var seq, created int64
	if err := row.Scan(&seq, &m.ID, &m.AccountID, &m.Email, &m.Role, &created); err != nil {
		return 0, m, mapErr(err)
	}
	m.CreatedAt = fromMS(created)
	return seq, m, nil
}

// MemberGet returns one member of one account.
func (s *Store) MemberGet(ctx context.Context, p store.MemberGetParams) (webhook.Member, error) {
	_, m, err := scanMember(s.rd.QueryRowContext(ctx,
		`SELECT `+memberColumns+` FROM members WHERE account_id = ? AND id = ?`, p.AccountID, p.ID))
	if err != nil {
		return m, fmt.Errorf("get member: %w", err)
	}
	return m, nil
}

// MemberList lists an account's members oldest first.
func (s *Store) MemberList(ctx context.Context, p store.MemberListParams) (store.Page[webhook.Member], error) {
	var page store.Page[webhook.Member]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	err = listPage(ctx, s.rd, &page, p.Limit,
		`SELECT `+memberColumns+` FROM members WHERE account_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		[]any{p.AccountID, after, p.Limit + 1}, func(row scanner) (int64, webhook.Member, error) {
			return scanMember(row)
		})
	if err != nil {
		return page, fmt.Errorf("list members: %w", err)
	}
	return page, nil
}

// checkNewMember enforces, inside the creating transaction, what the
// unique indexes alone cannot say: the first member is the primary owner.
// It also explains the conflicts the indexes would refuse.
func checkNewMember(ctx context.Context, tx *wtx, p store.MemberCreateParams) error {
	if err := accountExists(ctx, tx, p.AccountID); err != nil {
		return err
	}
	var members, primaries int
	if err := tx.QueryRowContext(ctx,
		`SELECT COUNT(*), COALESCE(SUM(role = 'primary-owner'), 0) FROM members WHERE account_id = ?`,
		p.AccountID).Scan(&members, &primaries); err != nil {
		return err
	}
	switch {
	case members == 0 && p.Role != webhook.RolePrimaryOwner:
		return errFirstMemberPrimary
	case primaries > 0 && p.Role == webhook.RolePrimaryOwner:
		return errSecondPrimary
	}
	return emailFree(ctx, tx, p.AccountID, p.Email, "")
}

func accountExists(ctx context.Context, q querier, id string) error {
	var one int
	if err := q.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = ?`, id).Scan(&one); err != nil {
		return fmt.Errorf("account %s: %w", id, mapErr(err))
	}
	return nil
}

// emailFree reports errEmailTaken when a member other than exceptID has
// email in the account.
func emailFree(ctx context.Context, tx *wtx, accountID, email, exceptID string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM members WHERE account_id = ? AND email = ? AND id <> ?`,
		accountID, email, exceptID).Scan(&one)
	switch {
	case err == nil:
		return errEmailTaken
	case errors.Is(err, sql.ErrNoRows):
		return nil
	}
	return err
}

// MemberUpdate changes a member; see store.OperatorStore.
func (s *Store) MemberUpdate(ctx context.Context, p store.MemberUpdateParams) (webhook.Member, error) {
	var m webhook.Member
	err := s.tx(ctx, func(tx *wtx) error {
		seq, cur, err := scanMember(tx.QueryRowContext(ctx,
			`SELECT `+memberColumns+` FROM members WHERE account_id = ? AND id = ?`, p.AccountID, p.ID))
		if err != nil {
			return err
		}
		m = cur
		if p.Email != nil && *p.Email != cur.Email {
			if err := emailFree(ctx, tx, p.AccountID, *p.Email, p.ID); err != nil {
				return err
			}
			m.Email = *p.Email
		}
		if p.Role != nil && *p.Role != cur.Role {
			if cur.Role == webhook.RolePrimaryOwner {
				return errDemotePrimary
			}
			if *p.Role == webhook.RolePrimaryOwner {
				// Demote first: the index allows one primary owner at a time.
				if _, err := tx.ExecContext(ctx,
					`UPDATE members SET role = 'owner' WHERE account_id = ? AND role = 'primary-owner'`, p.AccountID); err != nil {
					return err
				}
			}
			m.Role = *p.Role
		}
		var hash sql.NullString
		if p.PasswordHash != nil {
			hash = sql.NullString{String: *p.PasswordHash, Valid: true}
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE members SET email = ?, role = ?, password_hash = COALESCE(?, password_hash) WHERE seq = ?`,
			m.Email, m.Role, hash, seq)
		if err != nil || !hash.Valid {
			return mapErr(err)
		}
		// A new password signs the member out everywhere.
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE member_id = ?`, p.ID)
		return err
	})
	if err != nil {
		return webhook.Member{}, fmt.Errorf("update member: %w", err)
	}
	return m, nil
}

// MemberDelete removes a member other than the primary owner.
func (s *Store) MemberDelete(ctx context.Context, p store.MemberDeleteParams) error {
	err := s.tx(ctx, func(tx *wtx) error {
		var seq int64
		var role string
		if err := tx.QueryRowContext(ctx, `SELECT seq, role FROM members WHERE account_id = ? AND id = ?`,
			p.AccountID, p.ID).Scan(&seq, &role); err != nil {
			return mapErr(err)
		}
		if role == webhook.RolePrimaryOwner {
			return errDeletePrimary
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM members WHERE seq = ?`, seq); err != nil {
			return err
		}
		// Its dashboard sessions end with it.
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE member_id = ?`, p.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete member: %w", err)
	}
	return nil
}

func nullJSON(b json.RawMessage) sql.NullString {
	if len(b) == 0 {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}

// EventTypeUpdate changes a catalog entry.
func (s *Store) EventTypeUpdate(ctx context.Context, p store.EventTypeUpdateParams) (webhook.EventType, error) {
	var t webhook.EventType
	err := s.tx(ctx, func(tx *wtx) error {
		var example sql.NullString
		var created int64
		err := tx.QueryRowContext(ctx,
			`SELECT name, description, example, deprecated, reserved, created_at FROM event_types WHERE name = ?`, p.Name).
			Scan(&t.Name, &t.Description, &example, &t.Deprecated, &t.Reserved, &created)
		if err != nil {
			return mapErr(err)
		}
		if t.Reserved {
			return errReservedType
		}
		t.CreatedAt = fromMS(created)
		if example.Valid {
			t.Example = json.RawMessage(example.String)
		}
		if p.Description != nil {
			t.Description = *p.Description
		}
		if p.SetExample {
			t.Example = p.Example
		}
		if p.Deprecated != nil {
			t.Deprecated = *p.Deprecated
		}
		_, err = tx.ExecContext(ctx, `UPDATE event_types SET description = ?, example = ?, deprecated = ?, updated_at = ? WHERE name = ?`,
			t.Description, nullJSON(t.Example), t.Deprecated, ms(p.Now), p.Name)
		return err
	})
	if err != nil {
		return webhook.EventType{}, fmt.Errorf("update event type: %w", err)
	}
	return t, nil
}

// CreditAlertsSet replaces an account's thresholds; see store.OperatorStore.
func (s *Store) CreditAlertsSet(ctx context.Context, p store.CreditAlertsSetParams) (store.CreditAlerts, error) {
	var out store.CreditAlerts
	now := ms(p.Now)
	err := s.tx(ctx, func(tx *wtx) error {
		if err := accountExists(ctx, tx, p.AccountID); err != nil {
			return err
		}
		old, err := thresholds(ctx, tx, p.AccountID)
		if err != nil {
			return err
		}
		for _, o := range old {
			if !slices.Contains(p.Thresholds, o.Threshold) {
				if _, err := tx.ExecContext(ctx, `DELETE FROM credit_thresholds WHERE account_id = ? AND threshold = ?`,
					p.AccountID, o.Threshold); err != nil {
					return err
				}
			}
		}
		for _, v := range p.Thresholds {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO credit_thresholds (account_id, threshold, armed, created_at) VALUES (?, ?, 1, ?)
				 ON CONFLICT (account_id, threshold) DO NOTHING`, p.AccountID, v, now); err != nil {
				return err
			}
		}
		if len(p.Thresholds) > 0 {
			ct := webhook.CreditsLowBalanceType
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO event_types (name, description, example, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
				 ON CONFLICT (name) DO NOTHING`, ct.Name, ct.Description, nullJSON(ct.Example), now, now); err != nil {
				return err
			}
		}
		out, err = creditAlerts(ctx, tx, p.AccountID)
		return err
	})
	if err != nil {
		return store.CreditAlerts{}, fmt.Errorf("set credit alerts: %w", err)
	}
	return out, nil
}

// CreditAlertsGet returns an account's thresholds and last balance.
func (s *Store) CreditAlertsGet(ctx context.Context, p store.CreditAlertsGetParams) (store.CreditAlerts, error) {
	if err := accountExists(ctx, s.rd, p.AccountID); err != nil {
		return store.CreditAlerts{}, fmt.Errorf("get credit alerts: %w", err)
	}
	out, err := creditAlerts(ctx, s.rd, p.AccountID)
	if err != nil {
		return out, fmt.Errorf("get credit alerts: %w", err)
	}
	return out, nil
}

func creditAlerts(ctx context.Context, q querier, accountID string) (store.CreditAlerts, error) {
	out := store.CreditAlerts{AccountID: accountID}
	var err error
	if out.Thresholds, err = thresholds(ctx, q, accountID); err != nil {
		return out, err
	}
	var balance float64
	var at int64
	err = q.QueryRowContext(ctx, `SELECT balance, reported_at FROM credit_balances WHERE account_id = ?`, accountID).
		Scan(&balance, &at)
	switch {
	case err == nil:
		out.Balance, out.ReportedAt = &balance, new(fromMS(at))
	case !errors.Is(err, sql.ErrNoRows):
		return out, err
	}
	return out, nil
}

// thresholds returns an account's thresholds, highest first.
func thresholds(ctx context.Context, q querier, accountID string) ([]store.CreditThreshold, error) {
	rows, err := q.QueryContext(ctx,
		`SELECT threshold, armed FROM credit_thresholds WHERE account_id = ? ORDER BY threshold DESC`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.CreditThreshold{}
	for rows.Next() {
		var t store.CreditThreshold
		if err := rows.Scan(&t.Threshold, &t.Armed); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// BalanceReport records a balance; see store.OperatorStore. Reports are
// serialised by the one writer, so each crossing is seen by exactly one of
// them, which disarms the threshold and publishes in the same commit.
func (s *Store) BalanceReport(ctx context.Context, p store.BalanceReportParams) (store.BalanceReport, error) {
	out := store.BalanceReport{Balance: p.Balance, ThresholdsCrossed: []float64{}}
	now := ms(p.Now)
	err := s.tx(ctx, func(tx *wtx) error {
		out.PreviousBalance, out.ThresholdsCrossed, out.Published = nil, []float64{}, nil
		if err := accountExists(ctx, tx, p.AccountID); err != nil {
			return err
		}
		var prev float64
		err := tx.QueryRowContext(ctx, `SELECT balance FROM credit_balances WHERE account_id = ?`, p.AccountID).Scan(&prev)
		switch {
		case err == nil:
			out.PreviousBalance = &prev
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO credit_balances (account_id, balance, reported_at) VALUES (?, ?, ?)
			 ON CONFLICT (account_id) DO UPDATE SET balance = excluded.balance, reported_at = excluded.reported_at`,
			p.AccountID, p.Balance, now); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx,
			`UPDATE credit_thresholds SET armed = 0 WHERE account_id = ? AND armed = 1 AND threshold > ? RETURNING threshold`,
			p.AccountID, p.Balance)
		if err != nil {
			return err
		}
		for rows.Next() {
			var v float64
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			out.ThresholdsCrossed = append(out.ThresholdsCrossed, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE credit_thresholds SET armed = 1 WHERE account_id = ? AND armed = 0 AND threshold < ?`,
			p.AccountID, p.Balance); err != nil {
			return err
		}
		if len(out.ThresholdsCrossed) == 0 {
			return nil
		}
		slices.SortFunc(out.ThresholdsCrossed, func(a, b float64) int { return cmp.Compare(b, a) })
		data, err := json.Marshal(webhook.CreditsLowBalanceData{
			Balance: p.Balance, PreviousBalance: out.PreviousBalance, ThresholdsCrossed: out.ThresholdsCrossed,
		})
		if err != nil {
			return err
		}
		res := make([]store.PublishResult, 1)
		if err := s.publishTx(ctx, tx, store.EventsPublishParams{Now: p.Now, QueueMax: p.QueueMax,
			Events: []store.PublishEvent{{AccountID: p.AccountID, Type: webhook.EventTypeCreditsLowBalance, Data: data}},
		}, res); err != nil {
			return err
		}
		out.Published = &res[0]
		return nil
	})
	if err != nil {
		return store.BalanceReport{}, fmt.Errorf("report balance: %w", err)
	}
	return out, nil
}
