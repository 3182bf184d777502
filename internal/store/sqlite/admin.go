package sqlite

import (
	"context"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// AccountDelete deletes an account and all it owns in one transaction.
// Deliveries and attempts are found through the account's endpoints, the
// way their indexes lead.
func (s *Store) AccountDelete(ctx context.Context, p store.AccountDeleteParams) error {
	if p.ID == webhook.OperatorAccountID {
		return fmt.Errorf("delete account: %w: the operator account is reserved", webhook.ErrConflict)
	}
	err := s.tx(ctx, func(tx *wtx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = ?`, p.ID).Scan(&one); err != nil {
			return mapErr(err)
		}
		const endpoints = `(SELECT seq FROM endpoints WHERE account_id = ?)`
		for _, q := range []string{
			`DELETE FROM attempts WHERE delivery_seq IN (SELECT seq FROM deliveries WHERE endpoint_seq IN ` + endpoints + `)`,
			`DELETE FROM deliveries WHERE endpoint_seq IN ` + endpoints,
			`DELETE FROM endpoint_secrets WHERE endpoint_seq IN ` + endpoints,
			`DELETE FROM endpoint_stats WHERE endpoint_seq IN ` + endpoints,
			`DELETE FROM subscriptions WHERE account_id = ?`,
			`DELETE FROM endpoints WHERE account_id = ?`,
			`DELETE FROM events WHERE account_id = ?`,
			`DELETE FROM idempotency_keys WHERE scope IN (SELECT id FROM api_keys WHERE account_id = ?)`,
			`DELETE FROM api_keys WHERE account_id = ?`,
			`DELETE FROM members WHERE account_id = ?`,
			`DELETE FROM sessions WHERE account_id = ?`,
			`DELETE FROM credit_thresholds WHERE account_id = ?`,
			`DELETE FROM credit_balances WHERE account_id = ?`,
			`DELETE FROM accounts WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, p.ID); err != nil {
				return err
			}
		}
		return bumpSubscriptions(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("delete account %s: %w", p.ID, err)
	}
	return nil
}

// EventTypeDelete removes an unreserved type no endpoint subscribes to.
func (s *Store) EventTypeDelete(ctx context.Context, p store.EventTypeDeleteParams) error {
	err := s.tx(ctx, func(tx *wtx) error {
		var reserved bool
		if err := tx.QueryRowContext(ctx, `SELECT reserved FROM event_types WHERE name = ?`, p.Name).Scan(&reserved); err != nil {
			return mapErr(err)
		}
		if reserved {
			return fmt.Errorf("%w: %s is reserved", webhook.ErrConflict, p.Name)
		}
		var n int
		if err := tx.QueryRowContext(ctx,
			`SELECT count(*) FROM subscriptions s JOIN endpoints e ON e.seq = s.endpoint_seq
			 WHERE s.event_type = ? AND e.deleted_at IS NULL`, p.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %d endpoint(s) subscribe to %s; deprecate it instead (PATCH /v1/event-types/%s with {\"deprecated\":true})",
				webhook.ErrConflict, n, p.Name, p.Name)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM event_types WHERE name = ?`, p.Name)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete event type: %w", err)
	}
	return nil
}
