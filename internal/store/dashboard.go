package store

import (
	"context"
	"time"

	"github.com/hookrelay/hookrelay/internal/webhook"
)

// DashboardStore is what the dashboard needs beside the API's methods:
// members' sign-in, server-side sessions and the hourly delivery counts
// its chart draws.
type DashboardStore interface {
	// MemberCredentials returns every membership with that (lower-case)
	// email, oldest first, with its password hash: one person may belong
	// to several accounts.
	MemberCredentials(ctx context.Context, p MemberCredentialsParams) ([]MemberCredential, error)

	// SessionCreate stores a session under the hash of its token (the
	// token itself is never stored), and deletes expired ones.
	SessionCreate(ctx context.Context, p SessionCreateParams) error
	// SessionGet returns the live session with that token hash and its
	// member as the member is now (role changes apply at once).
	// webhook.ErrNotFound when there is none, it has expired (idle or
	// absolute lifetime) or its member was removed.
	SessionGet(ctx context.Context, p SessionGetParams) (Session, error)
	// SessionTouch pushes a session's idle expiry forward, never past its
	// absolute expiry.
	SessionTouch(ctx context.Context, p SessionTouchParams) error
	// SessionDelete ends a session (sign-out); ending one that is gone is
	// not an error.
	SessionDelete(ctx context.Context, p SessionDeleteParams) error

	// EndpointHourly returns an endpoint's hourly delivery counts from
	// Since on, oldest first; hours without attempts are left out.
	EndpointHourly(ctx context.Context, p EndpointHourlyParams) ([]HourlyCount, error)
}

type MemberCredentialsParams struct {
	Email string
}

// MemberCredential is a member with its password hash.
type MemberCredential struct {
	Member       webhook.Member
	PasswordHash string
}

type SessionCreateParams struct {
	TokenHash []byte
	AccountID string
	MemberID  string
	Now       time.Time
	IdleUntil time.Time // expires when not used until then
	ExpiresAt time.Time // expires then whatever its use
}

type SessionGetParams struct {
	TokenHash []byte
	Now       time.Time
}

// Session is a signed-in member.
type Session struct {
	Member    webhook.Member
	CreatedAt time.Time
	IdleUntil time.Time
	ExpiresAt time.Time
}

type SessionTouchParams struct {
	TokenHash []byte
	IdleUntil time.Time
}

type SessionDeleteParams struct {
	TokenHash []byte
}

type EndpointHourlyParams struct {
	AccountID  string
	EndpointID string
	Since      time.Time
}

// HourlyCount is one hour of an endpoint's deliveries: Attempts made,
// Delivered (a 2xx) and Failed (retries exhausted) in that hour.
type HourlyCount struct {
	Hour      time.Time
	Attempts  int
	Successes int
	Delivered int
	Failed    int
}
