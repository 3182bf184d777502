package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// AccountCreate inserts an account.
func (e *Engine) AccountCreate(ctx context.Context, p store.AccountCreateParams) (webhook.Account, error) {
	_, err := e.exec(ctx, e.q.AccountInsert, p.ID, p.Name, ms(p.Now))
	if err != nil {
		return webhook.Account{}, fmt.Errorf("create account: %w", e.mapErr(err))
	}
	return webhook.Account{ID: p.ID, Name: p.Name, CreatedAt: fromMS(ms(p.Now))}, nil
}

// AccountGet returns one account.
func (e *Engine) AccountGet(ctx context.Context, id string) (webhook.Account, error) {
	var a webhook.Account
	var created int64
	err := e.d.Read().QueryRowContext(ctx, e.q.AccountGet, id).Scan(&a.ID, &a.Name, &created)
	if err != nil {
		return a, fmt.Errorf("get account: %w", e.mapErr(err))
	}
	a.CreatedAt = fromMS(created)
	return a, nil
}

// APIKeyCreate stores a key's hash and scopes.
func (e *Engine) APIKeyCreate(ctx context.Context, p store.APIKeyCreateParams) (webhook.APIKey, error) {
	scopes, err := json.Marshal(p.Scopes)
	if err != nil {
		return webhook.APIKey{}, fmt.Errorf("create api key: %w", err)
	}
	_, err = e.exec(ctx, e.q.APIKeyInsert, p.ID, nullString(p.AccountID), p.Name, p.Prefix, p.Hash, string(scopes), ms(p.Now))
	if err != nil {
		return webhook.APIKey{}, fmt.Errorf("create api key: %w", e.mapErr(err))
	}
	return webhook.APIKey{ID: p.ID, AccountID: p.AccountID, Name: p.Name, Prefix: p.Prefix,
		Scopes: p.Scopes, CreatedAt: fromMS(ms(p.Now))}, nil
}

// APIKeyGetByHash finds a key by the hash of its secret.
func (e *Engine) APIKeyGetByHash(ctx context.Context, hash []byte) (webhook.APIKey, error) {
	_, k, err := e.scanAPIKey(e.d.Read().QueryRowContext(ctx, e.q.APIKeyByHash, hash))
	if err != nil {
		return k, fmt.Errorf("get api key: %w", err)
	}
	return k, nil
}

// APIKeyRevoke marks a key revoked; the next request with it fails.
func (e *Engine) APIKeyRevoke(ctx context.Context, p store.APIKeyRevokeParams) error {
	res, err := e.exec(ctx, e.q.APIKeyRevoke, ms(p.Now), p.ID, nullString(p.AccountID))
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke api key %s: %w", p.ID, webhook.ErrNotFound)
	}
	return nil
}

// MemberCreate adds a dashboard login to an account, keeping exactly one
// primary owner: the first member must be it and a second is refused
// (webhook.ErrConflict, saying why); so is an email the account has. An
// unknown account is webhook.ErrNotFound.
func (e *Engine) MemberCreate(ctx context.Context, p store.MemberCreateParams) (webhook.Member, error) {
	err := e.tx(ctx, func(tx Tx) error {
		if err := e.checkNewMember(ctx, tx, p); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, e.q.MemberInsert, p.ID, p.AccountID, p.Email, p.Role, p.PasswordHash, ms(p.Now))
		return err
	})
	if err != nil {
		return webhook.Member{}, fmt.Errorf("create member: %w", e.mapErr(err))
	}
	return webhook.Member{ID: p.ID, AccountID: p.AccountID, Email: p.Email, Role: p.Role, CreatedAt: fromMS(ms(p.Now))}, nil
}

// EventTypeCreate adds a type to the catalog.
func (e *Engine) EventTypeCreate(ctx context.Context, p store.EventTypeCreateParams) (webhook.EventType, error) {
	_, err := e.exec(ctx, e.q.EventTypeInsert, p.Name, p.Description, nullJSON(p.Example), p.Deprecated, ms(p.Now), ms(p.Now))
	if errors.Is(err, webhook.ErrConflict) {
		return webhook.EventType{}, fmt.Errorf("create event type: %w",
			&webhook.ConflictError{Message: fmt.Sprintf("event type %q already exists", p.Name), Err: err})
	}
	if err != nil {
		return webhook.EventType{}, fmt.Errorf("create event type: %w", err)
	}
	return webhook.EventType{Name: p.Name, Description: p.Description, Example: p.Example, Deprecated: p.Deprecated,
		CreatedAt: fromMS(ms(p.Now))}, nil
}

func scanEventType(row scanner) (webhook.EventType, error) {
	var t webhook.EventType
	var example sql.NullString
	var created int64
	if err := row.Scan(&t.Name, &t.Description, &example, &t.Deprecated, &t.Reserved, &created); err != nil {
		return t, err
	}
	if example.Valid {
		t.Example = json.RawMessage(example.String)
	}
	t.CreatedAt = fromMS(created)
	return t, nil
}

// EventTypeList returns the whole catalog by name.
func (e *Engine) EventTypeList(ctx context.Context) ([]webhook.EventType, error) {
	rows, err := e.d.Read().QueryContext(ctx, e.q.EventTypeList)
	if err != nil {
		return nil, fmt.Errorf("list event types: %w", e.mapErr(err))
	}
	defer rows.Close()
	var out []webhook.EventType
	for rows.Next() {
		t, err := scanEventType(rows)
		if err != nil {
			return nil, fmt.Errorf("list event types: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list event types: %w", err)
	}
	return out, nil
}

func nullJSON(b json.RawMessage) sql.NullString {
	if len(b) == 0 {
		return sql.NullString{}
	}
	return sql.NullString{String: string(b), Valid: true}
}

// AccountDelete deletes an account and all it owns in one transaction.
func (e *Engine) AccountDelete(ctx context.Context, p store.AccountDeleteParams) error {
	if p.ID == webhook.OperatorAccountID {
		return fmt.Errorf("delete account: %w", webhook.Conflict("the operator account is reserved"))
	}
	err := e.tx(ctx, func(tx Tx) error {
		if err := e.lockAccount(ctx, tx, p.ID); err != nil {
			return err
		}
		if err := e.bumpSubscriptions(ctx, tx); err != nil {
			return err
		}
		for _, q := range e.q.AccountDelete {
			if _, err := tx.ExecContext(ctx, q, p.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete account %s: %w", p.ID, err)
	}
	return nil
}

// EventTypeDelete removes an unreserved type no endpoint subscribes to.
func (e *Engine) EventTypeDelete(ctx context.Context, p store.EventTypeDeleteParams) error {
	err := e.tx(ctx, func(tx Tx) error {
		// Taken like a change of subscriptions, so that no endpoint
		// subscribes to the type on another node while it goes.
		if err := e.bumpSubscriptions(ctx, tx); err != nil {
			return err
		}
		var reserved bool
		if err := tx.QueryRowContext(ctx, e.q.EventTypeReserved, p.Name).Scan(&reserved); err != nil {
			return e.mapErr(err)
		}
		if reserved {
			return webhook.Conflict("%s is reserved", p.Name)
		}
		var n int
		if err := tx.QueryRowContext(ctx, e.q.EventTypeSubscribers, p.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return webhook.Conflict("%d endpoint(s) subscribe to %s; deprecate it instead (PATCH /v1/event-types/%s with {\"deprecated\":true})",
				n, p.Name, p.Name)
		}
		_, err := tx.ExecContext(ctx, e.q.EventTypeDelete, p.Name)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete event type: %w", err)
	}
	return nil
}
