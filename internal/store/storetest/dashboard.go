package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

func exerciseDashboard(t *testing.T, open Opener) {
	t.Run("MemberCredentials", func(t *testing.T) { t.Parallel(); testMemberCredentials(t, open) })
	t.Run("Sessions", func(t *testing.T) { t.Parallel(); testSessions(t, open) })
	t.Run("SessionsEndWithMember", func(t *testing.T) { t.Parallel(); testSessionsEndWithMember(t, open) })
	t.Run("EndpointHourly", func(t *testing.T) { t.Parallel(); testEndpointHourly(t, open) })
}

func testMemberCredentials(t *testing.T, open Opener) {
	b := setup(t, open)
	other, err := b.s.AccountCreate(b.ctx, store.AccountCreateParams{ID: "acc_other", Name: "B", Now: t0})
	must(t, err)
	for _, m := range []store.MemberCreateParams{
		{ID: "mem_1", AccountID: b.acc.ID, Email: "a@example.com", Role: webhook.RolePrimaryOwner, PasswordHash: "h1", Now: t0},
		{ID: "mem_3", AccountID: other.ID, Email: "b@example.com", Role: webhook.RolePrimaryOwner, PasswordHash: "h3", Now: t0},
		{ID: "mem_2", AccountID: other.ID, Email: "a@example.com", Role: webhook.RoleMember, PasswordHash: "h2", Now: t0},
	} {
		_, err := b.s.MemberCreate(b.ctx, m)
		must(t, err)
	}
	creds, err := b.s.MemberCredentials(b.ctx, store.MemberCredentialsParams{Email: "a@example.com"})
	must(t, err)
	if len(creds) != 2 || creds[0].Member.ID != "mem_1" || creds[0].PasswordHash != "h1" ||
		creds[1].Member.ID != "mem_2" || creds[1].Member.AccountID != other.ID || creds[1].Member.Role != webhook.RoleMember {
		t.Fatalf("MemberCredentials(a@) = %+v, want mem_1 then mem_2 with their hashes", creds)
	}
	if creds, err := b.s.MemberCredentials(b.ctx, store.MemberCredentialsParams{Email: "nobody@example.com"}); err != nil || len(creds) != 0 {
		t.Fatalf("unknown email: %v, %v", creds, err)
	}
	m, err := b.s.MemberGet(b.ctx, store.MemberGetParams{AccountID: other.ID, ID: "mem_3"})
	must(t, err)
	if m.Email != "b@example.com" || m.Role != webhook.RolePrimaryOwner {
		t.Fatalf("MemberGet = %+v", m)
	}
	if _, err := b.s.MemberGet(b.ctx, store.MemberGetParams{AccountID: b.acc.ID, ID: "mem_3"}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("member of another account: err = %v, want ErrNotFound", err)
	}
}

func (b *bundle) addMember(t *testing.T, id, role string) {
	t.Helper()
	_, err := b.member(b.acc.ID, id, id+"@example.com", role)
	must(t, err)
}

func testSessions(t *testing.T, open Opener) {
	b := setup(t, open)
	b.addMember(t, "mem_1", webhook.RolePrimaryOwner)
	b.addMember(t, "mem_2", webhook.RoleOwner)
	tok := []byte("token-hash-1")
	must(t, b.s.SessionCreate(b.ctx, store.SessionCreateParams{TokenHash: tok, AccountID: b.acc.ID, MemberID: "mem_2",
		Now: t0, IdleUntil: t0.Add(time.Hour), ExpiresAt: t0.Add(3 * time.Hour)}))

	ss, err := b.s.SessionGet(b.ctx, store.SessionGetParams{TokenHash: tok, Now: t0.Add(time.Minute)})
	must(t, err)
	if ss.Member.ID != "mem_2" || ss.Member.Role != webhook.RoleOwner || ss.Member.AccountID != b.acc.ID ||
		!ss.IdleUntil.Equal(t0.Add(time.Hour)) || !ss.ExpiresAt.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("SessionGet = %+v", ss)
	}
	if _, err := b.s.SessionGet(b.ctx, store.SessionGetParams{TokenHash: []byte("other"), Now: t0}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("unknown token: err = %v, want ErrNotFound", err)
	}
	// Idle: unused past IdleUntil, it is gone.
	if _, err := b.s.SessionGet(b.ctx, store.SessionGetParams{TokenHash: tok, Now: t0.Add(time.Hour)}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("idle session: err = %v, want ErrNotFound", err)
	}
	// Touched, it lives on, but never past its absolute expiry.
	must(t, b.s.SessionTouch(b.ctx, store.SessionTouchParams{TokenHash: tok, IdleUntil: t0.Add(10 * time.Hour)}))
	ss, err = b.s.SessionGet(b.ctx, store.SessionGetParams{TokenHash: tok, Now: t0.Add(2 * time.Hour)})
	must(t, err)
	if !ss.IdleUntil.Equal(t0.Add(3 * time.Hour)) {
		t.Fatalf("touched past the absolute expiry: idle until %v, want %v", ss.IdleUntil, t0.Add(3*time.Hour))
	}
	if _, err := b.s.SessionGet(b.ctx, store.SessionGetParams{TokenHash: tok, Now: t0.Add(3 * time.Hour)}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("past the absolute expiry: err = %v, want ErrNotFound", err)
	}

	// A role change applies to a live session at once.
	tok2 := []byte("token-hash-2")
	must(t, b.s.SessionCreate(b.ctx, store.SessionCreateParams{TokenHash: tok2, AccountID: b.acc.ID, MemberID: "mem_2",
		Now: t0, IdleUntil: t0.Add(time.Hour), ExpiresAt: t0.Add(3 * time.Hour)}))
	role := webhook.RoleMember
	_, err = b.s.MemberUpdate(b.ctx, store.MemberUpdateParams{AccountID: b.acc.ID, ID: "mem_2", Role: &role, Now: t0})
	must(t, err)
	ss, err = b.s.SessionGet(b.ctx, store.SessionGetParams{TokenHash: tok2, Now: t0})
	must(t, err)
	if ss.Member.Role != webhook.RoleMember {
		t.Fatalf("role after demotion = %q, want member", ss.Member.Role)
	}
	// Sign-out.
	must(t, b.s.SessionDelete(b.ctx, store.SessionDeleteParams{TokenHash: tok2}))
	if _, err := b.s.SessionGet(b.ctx, store.SessionGetParams{TokenHash: tok2, Now: t0}); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("after SessionDelete: err = %v, want ErrNotFound", err)
	}
	must(t, b.s.SessionDelete(b.ctx, store.SessionDeleteParams{TokenHash: tok2}))
}

func testSessionsEndWithMember(t *testing.T, open Opener) {
	b := setup(t, open)
	b.addMember(t, "mem_1", webhook.RolePrimaryOwner)
	b.addMember(t, "mem_2", webhook.RoleOwner)
	b.addMember(t, "mem_3", webhook.RoleOwner)
	mk := func(tok, member string) {
		must(t, b.s.SessionCreate(b.ctx, store.SessionCreateParams{TokenHash: []byte(tok), AccountID: b.acc.ID, MemberID: member,
			Now: t0, IdleUntil: t0.Add(time.Hour), ExpiresAt: t0.Add(3 * time.Hour)}))
	}
	live := func(tok string) bool {
		_, err := b.s.SessionGet(b.ctx, store.SessionGetParams{TokenHash: []byte(tok), Now: t0})
		if err != nil && !errors.Is(err, webhook.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	mk("removed", "mem_2")
	mk("new-password", "mem_3")
	mk("kept", "mem_1")
	must(t, b.s.MemberDelete(b.ctx, store.MemberDeleteParams{AccountID: b.acc.ID, ID: "mem_2", Now: t0}))
	hash := "h2"
	_, err := b.s.MemberUpdate(b.ctx, store.MemberUpdateParams{AccountID: b.acc.ID, ID: "mem_3", PasswordHash: &hash, Now: t0})
	must(t, err)
	if live("removed") || live("new-password") || !live("kept") {
		t.Fatalf("live: removed member %v, new password %v, other member %v; want false, false, true",
			live("removed"), live("new-password"), live("kept"))
	}
	must(t, b.s.AccountDelete(b.ctx, store.AccountDeleteParams{ID: b.acc.ID}))
	if live("kept") {
		t.Fatal("a session outlived its account")
	}
}

func testEndpointHourly(t *testing.T, open Opener) {
	b := setup(t, open)
	ep := b.endpoint(t, b.acc.ID, "generation.completed")
	other := b.endpoint(t, b.acc.ID, "generation.completed")
	hour := t0.Truncate(time.Hour)
	// Two deliveries: one delivered in the first hour, one failed (after
	// an attempt) two hours later.
	b.publish(t, t0, b.event("generation.completed"), b.event("generation.completed"))
	ds := b.deliveries(t, ep.ID)
	if len(ds) != 2 {
		t.Fatalf("deliveries = %d, want 2", len(ds))
	}
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{
		{DeliveryID: ds[1].ID, Status: webhook.StatusDelivered, Attempt: webhook.Attempt{AttemptedAt: t0.Add(time.Minute), StatusCode: 200}},
	}))
	must(t, b.s.DeliveriesRecord(b.ctx, []store.AttemptResult{
		{DeliveryID: ds[0].ID, Status: webhook.StatusFailed, ScheduleAttempt: 5,
			Attempt: webhook.Attempt{AttemptedAt: t0.Add(2*time.Hour + time.Minute), StatusCode: 500}},
	}))
	got, err := b.s.EndpointHourly(b.ctx, store.EndpointHourlyParams{AccountID: b.acc.ID, EndpointID: ep.ID, Since: hour})
	must(t, err)
	want := []store.HourlyCount{
		{Hour: hour, Attempts: 1, Successes: 1, Delivered: 1},
		{Hour: hour.Add(2 * time.Hour), Attempts: 1, Failed: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("EndpointHourly = %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].Hour.Equal(want[i].Hour) || got[i].Attempts != want[i].Attempts || got[i].Successes != want[i].Successes ||
			got[i].Delivered != want[i].Delivered || got[i].Failed != want[i].Failed {
			t.Fatalf("EndpointHourly[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, err := b.s.EndpointHourly(b.ctx, store.EndpointHourlyParams{AccountID: b.acc.ID, EndpointID: ep.ID, Since: hour.Add(time.Hour)}); err != nil || len(got) != 1 {
		t.Fatalf("since the second hour: %+v, %v; want the third hour only", got, err)
	}
	if got, err := b.s.EndpointHourly(b.ctx, store.EndpointHourlyParams{AccountID: "acc_other", EndpointID: ep.ID, Since: hour}); err != nil || len(got) != 0 {
		t.Fatalf("another account's endpoint: %+v, %v; want nothing", got, err)
	}
	if got, err := b.s.EndpointHourly(b.ctx, store.EndpointHourlyParams{AccountID: b.acc.ID, EndpointID: other.ID, Since: hour}); err != nil || len(got) != 0 {
		t.Fatalf("an endpoint without attempts: %+v, %v; want nothing", got, err)
	}
}
