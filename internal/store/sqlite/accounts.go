package sqlite

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
func (s *Store) AccountCreate(ctx context.Context, p store.AccountCreateParams) (webhook.Account, error) {
	_, err := s.exec(ctx,
		`INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)`, p.ID, p.Name, ms(p.Now))
	if err != nil {
		return webhook.Account{}, fmt.Errorf("create account: %w", mapErr(err))
	}
	return webhook.Account{ID: p.ID, Name: p.Name, CreatedAt: fromMS(ms(p.Now))}, nil
}

// AccountGet returns one account.
func (s *Store) AccountGet(ctx context.Context, id string) (webhook.Account, error) {
	var a webhook.Account
	var created int64
	err := s.rd.QueryRowContext(ctx, `SELECT id, name, created_at FROM accounts WHERE id = ?`, id).
		Scan(&a.ID, &a.Name, &created)
	if err != nil {
		return a, fmt.Errorf("get account: %w", mapErr(err))
	}
	a.CreatedAt = fromMS(created)
	return a, nil
}

// APIKeyCreate stores a key's hash and scopes.
func (s *Store) APIKeyCreate(ctx context.Context, p store.APIKeyCreateParams) (webhook.APIKey, error) {
	scopes, err := json.Marshal(p.Scopes)
	if err != nil {
		return webhook.APIKey{}, fmt.Errorf("create api key: %w", err)
	}
	_, err = s.exec(ctx,
		`INSERT INTO api_keys (id, account_id, name, prefix, hash, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.ID, sql.NullString{String: p.AccountID, Valid: p.AccountID != ""}, p.Name, p.Prefix, p.Hash, string(scopes), ms(p.Now))
	if err != nil {
		return webhook.APIKey{}, fmt.Errorf("create api key: %w", mapErr(err))
	}
	return webhook.APIKey{ID: p.ID, AccountID: p.AccountID, Name: p.Name, Prefix: p.Prefix,
		Scopes: p.Scopes, CreatedAt: fromMS(ms(p.Now))}, nil
}

// APIKeyGetByHash finds a key by the hash of its secret.
func (s *Store) APIKeyGetByHash(ctx context.Context, hash []byte) (webhook.APIKey, error) {
	var k webhook.APIKey
	var account sql.NullString
	var scopes string
	var created int64
	var revoked sql.NullInt64
	err := s.rd.QueryRowContext(ctx,
		`SELECT id, account_id, name, prefix, scopes, created_at, revoked_at FROM api_keys WHERE hash = ?`, hash).
		Scan(&k.ID, &account, &k.Name, &k.Prefix, &scopes, &created, &revoked)
	if err != nil {
		return k, fmt.Errorf("get api key: %w", mapErr(err))
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return k, fmt.Errorf("get api key %s: scopes: %w", k.ID, err)
	}
	k.AccountID = account.String
	k.CreatedAt = fromMS(created)
	k.RevokedAt = fromNullMS(revoked)
	return k, nil
}

// APIKeyRevoke marks a key revoked; the next request with it fails.
func (s *Store) APIKeyRevoke(ctx context.Context, p store.APIKeyRevokeParams) error {
	res, err := s.exec(ctx,
		`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND account_id IS ?`,
		ms(p.Now), p.ID, sql.NullString{String: p.AccountID, Valid: p.AccountID != ""})
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
func (s *Store) MemberCreate(ctx context.Context, p store.MemberCreateParams) (webhook.Member, error) {
	err := s.tx(ctx, func(tx *wtx) error {
		if err := checkNewMember(ctx, tx, p); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO members (id, account_id, email, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID, p.AccountID, p.Email, p.Role, p.PasswordHash, ms(p.Now))
		return err
	})
	if err != nil {
		return webhook.Member{}, fmt.Errorf("create member: %w", mapErr(err))
	}
	return webhook.Member{ID: p.ID, AccountID: p.AccountID, Email: p.Email, Role: p.Role, CreatedAt: fromMS(ms(p.Now))}, nil
}

// EventTypeCreate adds a type to the catalog.
func (s *Store) EventTypeCreate(ctx context.Context, p store.EventTypeCreateParams) (webhook.EventType, error) {
	_, err := s.exec(ctx,
		`INSERT INTO event_types (name, description, example, deprecated, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		p.Name, p.Description, nullJSON(p.Example), p.Deprecated, ms(p.Now), ms(p.Now))
	if errors.Is(mapErr(err), webhook.ErrConflict) {
		return webhook.EventType{}, fmt.Errorf("create event type: %w: event type %q already exists", webhook.ErrConflict, p.Name)
	}
	if err != nil {
		return webhook.EventType{}, fmt.Errorf("create event type: %w", err)
	}
	return webhook.EventType{Name: p.Name, Description: p.Description, Example: p.Example, Deprecated: p.Deprecated,
		CreatedAt: fromMS(ms(p.Now))}, nil
}

// EventTypeList returns the whole catalog by name.
func (s *Store) EventTypeList(ctx context.Context) ([]webhook.EventType, error) {
	rows, err := s.rd.QueryContext(ctx,
		`SELECT name, description, example, deprecated, reserved, created_at FROM event_types ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list event types: %w", err)
	}
	defer rows.Close()
	var out []webhook.EventType
	for rows.Next() {
		var t webhook.EventType
		var example sql.NullString
		var created int64
		if err := rows.Scan(&t.Name, &t.Description, &example, &t.Deprecated, &t.Reserved, &created); err != nil {
			return nil, fmt.Errorf("list event types: %w", err)
		}
		if example.Valid {
			t.Example = json.RawMessage(example.String)
		}
		t.CreatedAt = fromMS(created)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list event types: %w", err)
	}
	return out, nil
}
