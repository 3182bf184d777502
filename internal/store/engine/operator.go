package engine

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

// The rules of an account's members, with what the caller is told.
var (
	errFirstMemberPrimary = webhook.Conflict("the first member of an account must be its primary-owner")
	errSecondPrimary      = webhook.Conflict("the account already has a primary-owner; to transfer ownership, change another member's role to primary-owner")
	errDemotePrimary      = webhook.Conflict("the primary-owner cannot be demoted; to transfer ownership, change another member's role to primary-owner")
	errDeletePrimary      = webhook.Conflict("the primary-owner cannot be deleted; transfer ownership to another member first")
	errEmailTaken         = webhook.Conflict("the account already has a member with this email")
	errReservedType       = webhook.Conflict("reserved event types cannot be changed")
)

// lockAccount finds an account and, on PostgreSQL, locks its row until
// commit (SQL.AccountLock: FOR UPDATE). The member, credit-alert and
// balance rules check state and then write; taking this lock first
// serialises them per account, so each check still holds at commit. On
// SQLite the one writer serialises them anyway.
func (e *Engine) lockAccount(ctx context.Context, q Querier, id string) error {
	var one int
	if err := q.QueryRowContext(ctx, e.q.AccountLock, id).Scan(&one); err != nil {
		return fmt.Errorf("account %s: %w", id, e.mapErr(err))
	}
	return nil
}

// AccountList lists accounts newest first.
func (e *Engine) AccountList(ctx context.Context, p store.AccountListParams) (store.Page[webhook.Account], error) {
	var page store.Page[webhook.Account]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	l := e.q.AccountList
	q := l.Select
	var args []any
	if after > 0 {
		q += l.Before
		args = append(args, after)
	}
	if p.Search != "" {
		q += l.Search
		args = append(args, likePattern(p.Search))
	}
	q += l.Order
	args = append(args, p.Limit+1)
	err = listPage(ctx, e.d.Read(), &page, p.Limit, q, args, func(row scanner) (int64, webhook.Account, error) {
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

func (e *Engine) scanAPIKey(row scanner) (int64, webhook.APIKey, error) {
	var k webhook.APIKey
	var seq, created int64
	var account sql.NullString
	var scopes string
	var revoked sql.NullInt64
	if err := row.Scan(&seq, &k.ID, &account, &k.Name, &k.Prefix, &scopes, &created, &revoked); err != nil {
		return 0, k, e.mapErr(err)
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
func (e *Engine) APIKeyGet(ctx context.Context, p store.APIKeyGetParams) (webhook.APIKey, error) {
	_, k, err := e.scanAPIKey(e.d.Read().QueryRowContext(ctx, e.q.APIKeyGet, p.ID, nullString(p.AccountID)))
	if err != nil {
		return k, fmt.Errorf("get api key: %w", err)
	}
	return k, nil
}

// APIKeyList lists an account's keys (or the operator keys) newest first.
func (e *Engine) APIKeyList(ctx context.Context, p store.APIKeyListParams) (store.Page[webhook.APIKey], error) {
	var page store.Page[webhook.APIKey]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	l := e.q.APIKeyList
	q, args := l.Select, []any{p.AccountID}
	if p.AccountID == "" {
		q, args = l.SelectOperator, nil
	}
	if after > 0 {
		q += l.Before
		args = append(args, after)
	}
	q += l.Order
	args = append(args, p.Limit+1)
	if err := listPage(ctx, e.d.Read(), &page, p.Limit, q, args, e.scanAPIKey); err != nil {
		return page, fmt.Errorf("list api keys: %w", err)
	}
	return page, nil
}

func (e *Engine) scanMember(row scanner) (int64, webhook.Member, error) {
	var m webhook.Member
	var seq, created int64
	if err := row.Scan(&seq, &m.ID, &m.AccountID, &m.Email, &m.Role, &created); err != nil {
		return 0, m, e.mapErr(err)
	}
	m.CreatedAt = fromMS(created)
	return seq, m, nil
}

// MemberGet returns one member of one account.
func (e *Engine) MemberGet(ctx context.Context, p store.MemberGetParams) (webhook.Member, error) {
	_, m, err := e.scanMember(e.d.Read().QueryRowContext(ctx, e.q.MemberGet, p.AccountID, p.ID))
	if err != nil {
		return m, fmt.Errorf("get member: %w", err)
	}
	return m, nil
}

// MemberList lists an account's members oldest first. Members are added
// under the account's lock, so their positions are in commit order.
func (e *Engine) MemberList(ctx context.Context, p store.MemberListParams) (store.Page[webhook.Member], error) {
	var page store.Page[webhook.Member]
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return page, err
	}
	err = listPage(ctx, e.d.Read(), &page, p.Limit, e.q.MemberList, []any{p.AccountID, after, p.Limit + 1}, e.scanMember)
	if err != nil {
		return page, fmt.Errorf("list members: %w", err)
	}
	return page, nil
}

// checkNewMember enforces, inside the creating transaction, what the
// unique indexes alone cannot say: the first member is the primary owner.
// It also explains the conflicts the indexes would refuse.
func (e *Engine) checkNewMember(ctx context.Context, tx Tx, p store.MemberCreateParams) error {
	if err := e.lockAccount(ctx, tx, p.AccountID); err != nil {
		return err
	}
	var members, primaries int
	if err := tx.QueryRowContext(ctx, e.q.MemberCounts, p.AccountID).Scan(&members, &primaries); err != nil {
		return err
	}
	switch {
	case members == 0 && p.Role != webhook.RolePrimaryOwner:
		return errFirstMemberPrimary
	case primaries > 0 && p.Role == webhook.RolePrimaryOwner:
		return errSecondPrimary
	}
	return e.emailFree(ctx, tx, p.AccountID, p.Email, "")
}

// emailFree reports errEmailTaken when a member other than exceptID has
// email in the account.
func (e *Engine) emailFree(ctx context.Context, tx Tx, accountID, email, exceptID string) error {
	var one int
	err := tx.QueryRowContext(ctx, e.q.MemberEmailTaken, accountID, email, exceptID).Scan(&one)
	switch {
	case err == nil:
		return errEmailTaken
	case errors.Is(err, sql.ErrNoRows):
		return nil
	}
	return err
}

// MemberUpdate changes a member; see store.OperatorStore.
func (e *Engine) MemberUpdate(ctx context.Context, p store.MemberUpdateParams) (webhook.Member, error) {
	var m webhook.Member
	err := e.tx(ctx, func(tx Tx) error {
		if err := e.lockAccount(ctx, tx, p.AccountID); err != nil {
			return err
		}
		seq, cur, err := e.scanMember(tx.QueryRowContext(ctx, e.q.MemberGet, p.AccountID, p.ID))
		if err != nil {
			return err
		}
		m = cur
		if p.Email != nil && *p.Email != cur.Email {
			if err := e.emailFree(ctx, tx, p.AccountID, *p.Email, p.ID); err != nil {
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
				if _, err := tx.ExecContext(ctx, e.q.MemberDemotePrimary, p.AccountID); err != nil {
					return err
				}
			}
			m.Role = *p.Role
		}
		if _, err := tx.ExecContext(ctx, e.q.MemberUpdate, m.Email, m.Role, nullPtr(p.PasswordHash), seq); err != nil || p.PasswordHash == nil {
			return e.mapErr(err)
		}
		// A new password signs the member out everywhere.
		_, err = tx.ExecContext(ctx, e.q.SessionsOfMember, p.ID)
		return err
	})
	if err != nil {
		return webhook.Member{}, fmt.Errorf("update member: %w", err)
	}
	return m, nil
}

// MemberDelete removes a member other than the primary owner.
func (e *Engine) MemberDelete(ctx context.Context, p store.MemberDeleteParams) error {
	err := e.tx(ctx, func(tx Tx) error {
		if err := e.lockAccount(ctx, tx, p.AccountID); err != nil {
			return err
		}
		seq, m, err := e.scanMember(tx.QueryRowContext(ctx, e.q.MemberGet, p.AccountID, p.ID))
		if err != nil {
			return err
		}
		if m.Role == webhook.RolePrimaryOwner {
			return errDeletePrimary
		}
		if _, err := tx.ExecContext(ctx, e.q.MemberDelete, seq); err != nil {
			return err
		}
		// Its dashboard sessions end with it.
		_, err = tx.ExecContext(ctx, e.q.SessionsOfMember, p.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete member: %w", err)
	}
	return nil
}

// EventTypeUpdate changes a catalog entry.
func (e *Engine) EventTypeUpdate(ctx context.Context, p store.EventTypeUpdateParams) (webhook.EventType, error) {
	var t webhook.EventType
	err := e.tx(ctx, func(tx Tx) error {
		var err error
		t, err = scanEventType(tx.QueryRowContext(ctx, e.q.EventTypeLock, p.Name))
		if err != nil {
			return e.mapErr(err)
		}
		if t.Reserved {
			return errReservedType
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
		_, err = tx.ExecContext(ctx, e.q.EventTypeUpdate, t.Description, nullJSON(t.Example), t.Deprecated, ms(p.Now), p.Name)
		return err
	})
	if err != nil {
		return webhook.EventType{}, fmt.Errorf("update event type: %w", err)
	}
	return t, nil
}

// CreditAlertsSet replaces an account's thresholds; see store.OperatorStore.
func (e *Engine) CreditAlertsSet(ctx context.Context, p store.CreditAlertsSetParams) (store.CreditAlerts, error) {
	var out store.CreditAlerts
	now := ms(p.Now)
	err := e.tx(ctx, func(tx Tx) error {
		if err := e.lockAccount(ctx, tx, p.AccountID); err != nil {
			return err
		}
		old, err := e.thresholds(ctx, tx, p.AccountID)
		if err != nil {
			return err
		}
		for _, o := range old {
			if !slices.Contains(p.Thresholds, o.Threshold) {
				if _, err := tx.ExecContext(ctx, e.q.ThresholdDelete, p.AccountID, o.Threshold); err != nil {
					return err
				}
			}
		}
		for _, v := range p.Thresholds {
			if _, err := tx.ExecContext(ctx, e.q.ThresholdInsert, p.AccountID, v, now); err != nil {
				return err
			}
		}
		if len(p.Thresholds) > 0 {
			ct := webhook.CreditsLowBalanceType
			if _, err := tx.ExecContext(ctx, e.q.EventTypeEnsure, ct.Name, ct.Description, nullJSON(ct.Example), now, now); err != nil {
				return err
			}
		}
		out, err = e.creditAlerts(ctx, tx, p.AccountID)
		return err
	})
	if err != nil {
		return store.CreditAlerts{}, fmt.Errorf("set credit alerts: %w", err)
	}
	return out, nil
}

// CreditAlertsGet returns an account's thresholds and last balance.
func (e *Engine) CreditAlertsGet(ctx context.Context, p store.CreditAlertsGetParams) (store.CreditAlerts, error) {
	r := e.d.Read()
	var one int
	if err := r.QueryRowContext(ctx, e.q.AccountExists, p.AccountID).Scan(&one); err != nil {
		return store.CreditAlerts{}, fmt.Errorf("get credit alerts: account %s: %w", p.AccountID, e.mapErr(err))
	}
	out, err := e.creditAlerts(ctx, r, p.AccountID)
	if err != nil {
		return out, fmt.Errorf("get credit alerts: %w", err)
	}
	return out, nil
}

func (e *Engine) creditAlerts(ctx context.Context, q Querier, accountID string) (store.CreditAlerts, error) {
	out := store.CreditAlerts{AccountID: accountID}
	var err error
	if out.Thresholds, err = e.thresholds(ctx, q, accountID); err != nil {
		return out, err
	}
	var balance float64
	var at int64
	err = q.QueryRowContext(ctx, e.q.BalanceGet, accountID).Scan(&balance, &at)
	switch {
	case err == nil:
		out.Balance, out.ReportedAt = &balance, new(fromMS(at))
	case !errors.Is(err, sql.ErrNoRows):
		return out, err
	}
	return out, nil
}

// thresholds returns an account's thresholds, highest first.
func (e *Engine) thresholds(ctx context.Context, q Querier, accountID string) ([]store.CreditThreshold, error) {
	rows, err := q.QueryContext(ctx, e.q.Thresholds, accountID)
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

// BalanceReport records a balance; see store.OperatorStore. Reports of one
// account are serialised by its lock (lockAccount), so each crossing is
// seen by exactly one of them, which disarms the threshold and publishes
// in the same commit.
func (e *Engine) BalanceReport(ctx context.Context, p store.BalanceReportParams) (store.BalanceReport, error) {
	var out store.BalanceReport
	err := e.tx(ctx, func(tx Tx) error {
		out = store.BalanceReport{Balance: p.Balance, ThresholdsCrossed: []float64{}}
		if err := e.lockAccount(ctx, tx, p.AccountID); err != nil {
			return err
		}
		var prev float64
		err := tx.QueryRowContext(ctx, e.q.BalanceGet, p.AccountID).Scan(&prev, new(int64))
		switch {
		case err == nil:
			out.PreviousBalance = &prev
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, e.q.BalanceSet, p.AccountID, p.Balance, ms(p.Now)); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, e.q.ThresholdsDisarm, p.AccountID, p.Balance)
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
		if _, err := tx.ExecContext(ctx, e.q.ThresholdsArm, p.AccountID, p.Balance); err != nil {
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
		if err := e.publishTx(ctx, tx, store.EventsPublishParams{Now: p.Now, QueueMax: p.QueueMax,
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
