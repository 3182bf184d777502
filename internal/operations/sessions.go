package operations

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// Session lifetimes: a session unused for Idle ends, and every session
// ends Absolute after sign-in, used or not.
const (
	DefaultSessionIdle     = 2 * time.Hour
	DefaultSessionAbsolute = 12 * time.Hour
	// touchEvery: a session's idle expiry is pushed forward at most this
	// often, so that browsing a page is not a database write per request.
	touchEvery = time.Minute
)

// ErrSignIn is the one answer to every failed sign-in, so that it tells
// nobody which emails have a login.
var ErrSignIn = &Error{Kind: Invalid, Message: "wrong email or password"}

// ErrNoSession is a session token that is unknown, expired or ended.
var ErrNoSession = errors.New("no such session")

// dummyHash is checked against when no member has the email, so that a
// wrong email takes as long as a wrong password.
var dummyHash = func() string {
	h, err := auth.HashPassword("not a password of anyone")
	if err != nil {
		panic(err)
	}
	return h
}()

// SignIn checks an email and password and starts a session. It returns
// the session's token, for the member's cookie only: the store keeps its
// hash. One person in several accounts signs in to the first account
// whose membership the password opens.
func (o *Ops) SignIn(ctx context.Context, email, password string) (string, webhook.Member, error) {
	e, err := Email(email)
	if err != nil || password == "" || len(password) > 1024 {
		auth.CheckPassword(dummyHash, password)
		return "", webhook.Member{}, ErrSignIn
	}
	creds, err := o.d.Store.MemberCredentials(ctx, store.MemberCredentialsParams{Email: e})
	if err != nil {
		return "", webhook.Member{}, fmt.Errorf("sign in: %w", err)
	}
	if len(creds) == 0 {
		auth.CheckPassword(dummyHash, password)
		return "", webhook.Member{}, ErrSignIn
	}
	var member *webhook.Member
	for i := range creds {
		if auth.CheckPassword(creds[i].PasswordHash, password) {
			member = &creds[i].Member
			break
		}
	}
	if member == nil {
		return "", webhook.Member{}, ErrSignIn
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	now := o.d.Clock.Now()
	err = o.d.Store.SessionCreate(ctx, store.SessionCreateParams{
		TokenHash: tokenHash(token), AccountID: member.AccountID, MemberID: member.ID,
		Now: now, IdleUntil: now.Add(o.idle()), ExpiresAt: now.Add(o.absolute()),
	})
	if err != nil {
		return "", webhook.Member{}, fmt.Errorf("sign in: %w", err)
	}
	return token, *member, nil
}

// Session returns the live session of a token, with its member's role as
// it is now, and keeps it alive (idle expiry pushed forward).
func (o *Ops) Session(ctx context.Context, token string) (store.Session, error) {
	if token == "" {
		return store.Session{}, ErrNoSession
	}
	now := o.d.Clock.Now()
	h := tokenHash(token)
	ss, err := o.d.Store.SessionGet(ctx, store.SessionGetParams{TokenHash: h, Now: now})
	if errors.Is(err, webhook.ErrNotFound) {
		return ss, ErrNoSession
	}
	if err != nil {
		return ss, fmt.Errorf("session: %w", err)
	}
	if next := now.Add(o.idle()); next.Sub(ss.IdleUntil) >= touchEvery && ss.IdleUntil.Before(ss.ExpiresAt) {
		if err := o.d.Store.SessionTouch(ctx, store.SessionTouchParams{TokenHash: h, IdleUntil: next}); err != nil {
			return ss, fmt.Errorf("session: %w", err)
		}
		ss.IdleUntil = next
		if next.After(ss.ExpiresAt) {
			ss.IdleUntil = ss.ExpiresAt
		}
	}
	return ss, nil
}

// SignOut ends a session.
func (o *Ops) SignOut(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	return o.d.Store.SessionDelete(ctx, store.SessionDeleteParams{TokenHash: tokenHash(token)})
}

// SessionLifetimes reports the idle and absolute lifetimes in force.
func (o *Ops) SessionLifetimes() (idle, absolute time.Duration) { return o.idle(), o.absolute() }

func (o *Ops) idle() time.Duration {
	if o.d.SessionIdle > 0 {
		return o.d.SessionIdle
	}
	return DefaultSessionIdle
}

func (o *Ops) absolute() time.Duration {
	if o.d.SessionAbsolute > 0 {
		return o.d.SessionAbsolute
	}
	return DefaultSessionAbsolute
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Hourly is an endpoint's deliveries per hour over a window, every hour
// present (zero when nothing happened), oldest first.
func (o *Ops) Hourly(ctx context.Context, account, endpointID string, window time.Duration) ([]store.HourlyCount, error) {
	now := o.d.Clock.Now()
	first := now.Truncate(time.Hour).Add(-window + time.Hour)
	rows, err := o.d.Store.EndpointHourly(ctx, store.EndpointHourlyParams{AccountID: account, EndpointID: endpointID, Since: first})
	if err != nil {
		return nil, fmt.Errorf("hourly deliveries: %w", err)
	}
	n := int(window / time.Hour)
	out := make([]store.HourlyCount, n)
	for i := range out {
		out[i].Hour = first.Add(time.Duration(i) * time.Hour)
	}
	for _, r := range rows {
		if i := int(r.Hour.Sub(first) / time.Hour); i >= 0 && i < n {
			r.Hour = out[i].Hour
			out[i] = r
		}
	}
	return out, nil
}
