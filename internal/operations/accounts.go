package operations

import (
	"context"
	"net/mail"
	"slices"
	"strings"

	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// Actor is who asks for a change to an account's members or keys: the
// operator (an operator key, the admin CLI) when Member is nil, else a
// member signed in to the dashboard, whose role limits what it may do.
type Actor struct {
	Member *webhook.Member
}

// Operator is the platform itself, which may do anything.
var Operator = Actor{}

func (a Actor) mayManage() error {
	if a.Member != nil && !MayManage(a.Member.Role) {
		return forbidden("only owners can manage the account's members and API keys")
	}
	return nil
}

// Account returns one account.
func (o *Ops) Account(ctx context.Context, id string) (webhook.Account, error) {
	a, err := o.d.Store.AccountGet(ctx, id)
	return a, storeErr(err, "account")
}

// AccountCreate adds an account (a tenant).
func (o *Ops) AccountCreate(ctx context.Context, name *string) (webhook.Account, error) {
	if name == nil {
		return webhook.Account{}, Invalidf("name", "is required")
	}
	n, err := Name("name", *name, maxAccountName)
	if err != nil {
		return webhook.Account{}, err
	}
	now := o.d.Clock.Now()
	a, err := o.d.Store.AccountCreate(ctx, store.AccountCreateParams{ID: webhook.NewID("acc", now), Name: n, Now: now})
	return a, storeErr(err, "account")
}

// AccountList lists accounts newest first; search matches the name.
func (o *Ops) AccountList(ctx context.Context, search, cursor string, limit int) (store.Page[webhook.Account], error) {
	if err := CheckSearch(search); err != nil {
		return store.Page[webhook.Account]{}, err
	}
	limit, err := Page(limit)
	if err != nil {
		return store.Page[webhook.Account]{}, err
	}
	page, err := o.d.Store.AccountList(ctx, store.AccountListParams{Search: search, Cursor: cursor, Limit: limit})
	return page, storeErr(err, "account")
}

// AccountDelete deletes an account and everything it owns, and returns it.
func (o *Ops) AccountDelete(ctx context.Context, id string) (webhook.Account, error) {
	a, err := o.Account(ctx, id)
	if err != nil {
		return a, err
	}
	return a, storeErr(o.d.Store.AccountDelete(ctx, store.AccountDeleteParams{ID: id}), "account")
}

// NewAPIKey is a key just made: the record, and the key shown this once.
type NewAPIKey struct {
	webhook.APIKey
	Key string
}

// APIKeyCreate makes a key for an account; only its hash is stored.
func (o *Ops) APIKeyCreate(ctx context.Context, by Actor, account string, name *string, scopes []string) (NewAPIKey, error) {
	if _, err := o.Account(ctx, account); err != nil {
		return NewAPIKey{}, err
	}
	if err := by.mayManage(); err != nil {
		return NewAPIKey{}, err
	}
	if name == nil {
		return NewAPIKey{}, Invalidf("name", "is required")
	}
	n, err := Name("name", *name, maxKeyName)
	if err != nil {
		return NewAPIKey{}, err
	}
	unique, err := Scopes(scopes)
	if err != nil {
		return NewAPIKey{}, err
	}
	return o.createKey(ctx, account, n, unique)
}

// Scopes checks an account key's scopes and returns them without
// duplicates. The admin CLI checks its --scopes flag with it before it
// opens the database.
func Scopes(scopes []string) ([]string, error) {
	if err := auth.ValidateScopes(scopes); err != nil {
		return nil, Invalidf("scopes", "%s", err.Error())
	}
	var unique []string
	for _, sc := range scopes {
		if !slices.Contains(unique, sc) {
			unique = append(unique, sc)
		}
	}
	return unique, nil
}

// OperatorKeyCreate makes a key that acts on every account.
func (o *Ops) OperatorKeyCreate(ctx context.Context, name string) (NewAPIKey, error) {
	n, err := Name("name", name, maxKeyName)
	if err != nil {
		return NewAPIKey{}, err
	}
	return o.createKey(ctx, "", n, auth.Scopes)
}

func (o *Ops) createKey(ctx context.Context, account, name string, scopes []string) (NewAPIKey, error) {
	key, hash := auth.NewKey(account == "")
	now := o.d.Clock.Now()
	k, err := o.d.Store.APIKeyCreate(ctx, store.APIKeyCreateParams{
		ID: webhook.NewID("key", now), AccountID: account, Name: name, Prefix: auth.DisplayPrefix(key),
		Hash: hash, Scopes: scopes, Now: now,
	})
	if err != nil {
		return NewAPIKey{}, storeErr(err, "API key")
	}
	return NewAPIKey{APIKey: k, Key: key}, nil
}

// APIKeyList lists an account's keys newest first, revoked ones too; the
// operator keys with account "".
func (o *Ops) APIKeyList(ctx context.Context, account, cursor string, limit int) (store.Page[webhook.APIKey], error) {
	limit, err := Page(limit)
	if err != nil {
		return store.Page[webhook.APIKey]{}, err
	}
	page, err := o.d.Store.APIKeyList(ctx, store.APIKeyListParams{AccountID: account, Cursor: cursor, Limit: limit})
	return page, storeErr(err, "API key")
}

// APIKeyRevoke revokes a key at once (every request looks its key up) and
// returns it. Revoking again keeps the first revocation time.
func (o *Ops) APIKeyRevoke(ctx context.Context, by Actor, account, id string) (webhook.APIKey, error) {
	if err := by.mayManage(); err != nil {
		return webhook.APIKey{}, err
	}
	err := o.d.Store.APIKeyRevoke(ctx, store.APIKeyRevokeParams{AccountID: account, ID: id, Now: o.d.Clock.Now()})
	if err != nil {
		return webhook.APIKey{}, storeErr(err, "API key")
	}
	k, err := o.d.Store.APIKeyGet(ctx, store.APIKeyGetParams{AccountID: account, ID: id})
	return k, storeErr(err, "API key")
}

// MemberInput adds a member; nil means absent.
type MemberInput struct {
	Email    *string
	Role     *string
	Password *string
}

// Email trims and lower-cases an address and accepts it only if it is a
// bare address (no display name, no quoting) with a dotted domain.
func Email(raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	if e == "" {
		return "", Invalidf("email", "is required")
	}
	if len(e) > maxEmail {
		return "", Invalidf("email", "must be at most %d characters", maxEmail)
	}
	bad := Invalidf("email", "%q is not an email address like name@example.com", Truncate(raw, 100))
	a, err := mail.ParseAddress(e)
	if err != nil || a.Name != "" || a.Address != e {
		return "", bad
	}
	at := strings.LastIndexByte(e, '@')
	local, domain := e[:at], e[at+1:]
	if len(local) > 64 || !strings.Contains(domain, ".") || strings.ContainsAny(domain, "[]") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", bad
	}
	return e, nil
}

// Role checks a member role.
func Role(role string) error {
	switch role {
	case webhook.RolePrimaryOwner, webhook.RoleOwner, webhook.RoleMember:
		return nil
	}
	return Invalidf("role", "must be %s, %s or %s, got %q", webhook.RolePrimaryOwner, webhook.RoleOwner, webhook.RoleMember, Truncate(role, 50))
}

func hashPassword(password string) (string, error) {
	h, err := auth.HashPassword(password)
	if err != nil {
		return "", Invalidf("password", "%s", strings.TrimPrefix(err.Error(), "password "))
	}
	return h, nil
}

// Member returns one member of an account.
func (o *Ops) Member(ctx context.Context, account, id string) (webhook.Member, error) {
	m, err := o.d.Store.MemberGet(ctx, store.MemberGetParams{AccountID: account, ID: id})
	return m, storeErr(err, "member")
}

// MemberCreate adds a dashboard login to an account. The first member is
// the primary owner; there is exactly one.
func (o *Ops) MemberCreate(ctx context.Context, by Actor, account string, in MemberInput) (webhook.Member, error) {
	if _, err := o.Account(ctx, account); err != nil {
		return webhook.Member{}, err
	}
	if err := by.mayManage(); err != nil {
		return webhook.Member{}, err
	}
	if in.Email == nil {
		return webhook.Member{}, Invalidf("email", "is required")
	}
	email, err := Email(*in.Email)
	if err != nil {
		return webhook.Member{}, err
	}
	if in.Role == nil {
		return webhook.Member{}, Invalidf("role", "is required")
	}
	if err := Role(*in.Role); err != nil {
		return webhook.Member{}, err
	}
	if *in.Role == webhook.RolePrimaryOwner && by.Member != nil {
		return webhook.Member{}, forbidden("an account has one primary owner; add the member, then transfer primary ownership to it")
	}
	if in.Password == nil {
		return webhook.Member{}, Invalidf("password", "is required")
	}
	hash, err := hashPassword(*in.Password)
	if err != nil {
		return webhook.Member{}, err
	}
	now := o.d.Clock.Now()
	m, err := o.d.Store.MemberCreate(ctx, store.MemberCreateParams{
		ID: webhook.NewID("mem", now), AccountID: account, Email: email, Role: *in.Role, PasswordHash: hash, Now: now,
	})
	return m, storeErr(err, "member")
}

// MemberList lists an account's members in the order they were added.
func (o *Ops) MemberList(ctx context.Context, account, cursor string, limit int) (store.Page[webhook.Member], error) {
	limit, err := Page(limit)
	if err != nil {
		return store.Page[webhook.Member]{}, err
	}
	page, err := o.d.Store.MemberList(ctx, store.MemberListParams{AccountID: account, Cursor: cursor, Limit: limit})
	return page, storeErr(err, "member")
}

// MemberPatch changes what is not nil.
type MemberPatch struct {
	Email    *string
	Role     *string
	Password *string
}

// MemberUpdate changes a member's email, role or password. Making a member
// the primary owner transfers ownership: the previous one becomes an owner.
// Only the primary owner (or the operator) transfers it, and only the
// operator changes another member's email or password.
func (o *Ops) MemberUpdate(ctx context.Context, by Actor, account, id string, p MemberPatch) (webhook.Member, error) {
	target, err := o.Member(ctx, account, id)
	if err != nil {
		return target, err
	}
	if err := by.mayManage(); err != nil {
		return target, err
	}
	if p.Email == nil && p.Role == nil && p.Password == nil {
		return target, Invalidf("body", "nothing to change: give email, role or password")
	}
	sp := store.MemberUpdateParams{AccountID: account, ID: id, Now: o.d.Clock.Now()}
	if by.Member != nil && by.Member.ID != id && (p.Email != nil || p.Password != nil) {
		return target, forbidden("members change their own email and password")
	}
	if p.Email != nil {
		email, err := Email(*p.Email)
		if err != nil {
			return target, err
		}
		sp.Email = &email
	}
	if p.Role != nil {
		if err := Role(*p.Role); err != nil {
			return target, err
		}
		if *p.Role == webhook.RolePrimaryOwner && by.Member != nil && by.Member.Role != webhook.RolePrimaryOwner {
			return target, forbidden("only the primary owner can transfer primary ownership")
		}
		sp.Role = p.Role
	}
	if p.Password != nil {
		hash, err := hashPassword(*p.Password)
		if err != nil {
			return target, err
		}
		sp.PasswordHash = &hash
	}
	m, err := o.d.Store.MemberUpdate(ctx, sp)
	return m, storeErr(err, "member")
}

// MemberDelete removes a member and returns it; the primary owner is a
// Conflict (transfer ownership first).
func (o *Ops) MemberDelete(ctx context.Context, by Actor, account, id string) (webhook.Member, error) {
	target, err := o.Member(ctx, account, id)
	if err != nil {
		return target, err
	}
	if err := by.mayManage(); err != nil {
		return target, err
	}
	err = o.d.Store.MemberDelete(ctx, store.MemberDeleteParams{AccountID: account, ID: id, Now: o.d.Clock.Now()})
	return target, storeErr(err, "member")
}
