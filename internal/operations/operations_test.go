package operations_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/intake"
	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/ssrf"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

var t0 = time.Date(2026, 5, 12, 12, 30, 0, 0, time.UTC)

type bundle struct {
	ops   *operations.Ops
	st    store.Store
	clk   *clock.Fake
	ctx   context.Context
	a, b  string // two accounts
	woken []string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "ops.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key, err := secretbox.ParseKey(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{st: st, clk: clock.NewFake(t0), ctx: ctx}
	b.ops = operations.New(operations.Deps{
		Store: st, Catalog: intake.NewCatalog(st, time.Minute), Box: box,
		CheckURL: ssrf.New(ssrf.Options{AllowLoopback: true}).CheckURL,
		Wake:     func(ids []string) { b.woken = append(b.woken, ids...) },
		Clock:    b.clk,
	})
	for _, name := range []string{"generation.completed", "generation.failed"} {
		desc := "A generation event."
		if _, err := b.ops.EventTypeCreate(ctx, operations.EventTypeInput{Name: &name, Description: &desc}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*string{&b.a, &b.b} {
		name := "Acme"
		acc, err := b.ops.AccountCreate(ctx, &name)
		if err != nil {
			t.Fatal(err)
		}
		*p = acc.ID
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// refusal asserts err is an operations.Error of kind with message.
func refusal(t *testing.T, err error, kind operations.Kind, message string) {
	t.Helper()
	e, ok := operations.AsError(err)
	if !ok {
		t.Fatalf("err = %v, want a refusal of kind %d %q", err, kind, message)
	}
	if e.Kind != kind || !strings.Contains(e.Error(), message) {
		t.Fatalf("refusal = kind %d %q, want kind %d containing %q", e.Kind, e.Error(), kind, message)
	}
}

func (b *bundle) endpoint(t *testing.T, account string) webhook.Endpoint {
	t.Helper()
	ep, secret, err := b.ops.EndpointCreate(b.ctx, account, operations.EndpointInput{
		URL: ptr("http://127.0.0.1:9/hook"), Events: []string{"generation.completed"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "whsec_") || !strings.HasPrefix(ep.SecretPrefix, secret[:10]) {
		t.Fatalf("secret %q, prefix %q", secret, ep.SecretPrefix)
	}
	return ep
}

func TestEndpointValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	long := "http://127.0.0.1/" + strings.Repeat("a", operations.MaxURLLength)
	cases := []struct {
		name string
		in   operations.EndpointInput
		msg  string
	}{
		{"no url", operations.EndpointInput{Events: []string{"*"}}, "url: is required"},
		{"blank url", operations.EndpointInput{URL: ptr("  "), Events: []string{"*"}}, "url: is required"},
		{"long url", operations.EndpointInput{URL: &long, Events: []string{"*"}}, "url: must be at most 2048 characters"},
		{"no events", operations.EndpointInput{URL: ptr("http://127.0.0.1/h")}, "events: must be a non-empty array"},
		{"star and more", operations.EndpointInput{URL: ptr("http://127.0.0.1/h"), Events: []string{"*", "generation.failed"}}, `"*" already subscribes`},
		{"unknown type", operations.EndpointInput{URL: ptr("http://127.0.0.1/h"), Events: []string{"nope"}}, `events[0]: unknown event type "nope"`},
		{"test type", operations.EndpointInput{URL: ptr("http://127.0.0.1/h"), Events: []string{"webhook.test"}}, "needs no subscription"},
		{"operational type", operations.EndpointInput{URL: ptr("http://127.0.0.1/h"), Events: []string{"endpoint.disabled"}}, "published only to the operator account"},
		{"long description", operations.EndpointInput{URL: ptr("http://127.0.0.1/h"), Events: []string{"*"}, Description: ptr(strings.Repeat("d", 501))}, "description: must be at most 500 characters, got 501"},
		{"bad scheme", operations.EndpointInput{URL: ptr("ftp://example.com/h"), Events: []string{"*"}}, "url: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := b.ops.EndpointCreate(b.ctx, b.a, c.in)
			refusal(t, err, operations.Invalid, c.msg)
		})
	}
	page, err := b.ops.EndpointList(b.ctx, b.a, "", "", 0)
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("refused creates stored %d endpoints (%v)", len(page.Items), err)
	}
	ep, _, err := b.ops.EndpointCreate(b.ctx, b.a, operations.EndpointInput{URL: ptr("http://127.0.0.1/h"),
		Events: []string{"generation.failed", "generation.completed", "generation.failed"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ep.Events, ",") != "generation.failed,generation.completed" {
		t.Fatalf("events = %v, want duplicates removed in order", ep.Events)
	}
	// Schemes are case-insensitive; the stored form is the canonical one.
	ep, _, err = b.ops.EndpointCreate(b.ctx, b.a, operations.EndpointInput{URL: ptr("HtTP://127.0.0.1/Path?Q=1"), Events: []string{"*"}})
	if err != nil || ep.URL != "http://127.0.0.1/Path?Q=1" {
		t.Fatalf("created %q (%v), want the scheme lowercased and the rest kept", ep.URL, err)
	}
	ep, err = b.ops.EndpointUpdate(b.ctx, b.a, ep.ID, operations.EndpointPatch{URL: ptr("HTTP://127.0.0.1/Other")})
	if err != nil || ep.URL != "http://127.0.0.1/Other" {
		t.Fatalf("updated %q (%v), want the scheme lowercased", ep.URL, err)
	}
	if _, err := b.ops.EndpointList(b.ctx, b.a, strings.Repeat("s", 201), "", 0); err == nil {
		t.Fatal("a 201-character search was accepted")
	}
	if _, err := b.ops.EndpointList(b.ctx, b.a, "", "", 251); err == nil {
		t.Fatal("limit 251 was accepted")
	}
}

// TestOwnershipBeforeValidation: another account's endpoint is not found
// whatever the input, so a caller learns nothing from the message.
func TestOwnershipBeforeValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	theirs := b.endpoint(t, b.b)
	bad := ptr("ftp://nope")
	for name, err := range map[string]error{
		"update": func() error {
			_, err := b.ops.EndpointUpdate(b.ctx, b.a, theirs.ID, operations.EndpointPatch{URL: bad})
			return err
		}(),
		"update nothing": func() error {
			_, err := b.ops.EndpointUpdate(b.ctx, b.a, theirs.ID, operations.EndpointPatch{})
			return err
		}(),
		"rotate": func() error { _, err := b.ops.EndpointRotateSecret(b.ctx, b.a, theirs.ID, -1); return err }(),
		"recover": func() error {
			_, err := b.ops.DeliveriesRecover(b.ctx, b.a, theirs.ID, t0, ptr(t0.Add(-time.Hour)))
			return err
		}(),
		"get":     func() error { _, err := b.ops.Endpoint(b.ctx, b.a, theirs.ID); return err }(),
		"delete":  b.ops.EndpointDelete(b.ctx, b.a, theirs.ID),
		"disable": func() error { _, err := b.ops.EndpointSetActive(b.ctx, b.a, theirs.ID, false); return err }(),
		"test":    func() error { _, err := b.ops.EndpointSendTest(b.ctx, b.a, theirs.ID); return err }(),
		"drain":   func() error { _, err := b.ops.EndpointDeliverQueued(b.ctx, b.a, theirs.ID); return err }(),
	} {
		t.Run(name, func(t *testing.T) { refusal(t, err, operations.NotFound, "webhook not found") })
	}
	if got, err := b.ops.Endpoint(b.ctx, b.b, theirs.ID); err != nil || got.Status != webhook.EndpointActive || got.URL != theirs.URL {
		t.Fatalf("the other account's endpoint changed: %+v, %v", got, err)
	}
}

func TestEndpointActions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ep := b.endpoint(t, b.a)

	refusal(t, func() error {
		_, err := b.ops.EndpointRotateSecret(b.ctx, b.a, ep.ID, operations.MaxGraceSeconds+1)
		return err
	}(),
		operations.Invalid, "grace_period_seconds: must be from 0 to 604800 (7 days), got 604801")
	rot, err := b.ops.EndpointRotateSecret(b.ctx, b.a, ep.ID, 3600)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := b.ops.Endpoint(b.ctx, b.a, ep.ID)
	if rot.SecretPrefix == ep.SecretPrefix || got.SecretPrefix != rot.SecretPrefix || !strings.HasPrefix(rot.Secret, "whsec_") {
		t.Fatalf("rotation %+v; endpoint prefix %q (was %q)", rot, got.SecretPrefix, ep.SecretPrefix)
	}

	disabled, err := b.ops.EndpointSetActive(b.ctx, b.a, ep.ID, false)
	if err != nil || disabled.Status != webhook.EndpointDisabled || disabled.DisabledReason != "disabled by an owner" {
		t.Fatalf("disable: %+v, %v", disabled, err)
	}
	refusal(t, func() error { _, err := b.ops.EndpointDeliverQueued(b.ctx, b.a, ep.ID); return err }(), operations.Conflict, "")
	b.woken = nil
	if _, err := b.ops.EndpointSetActive(b.ctx, b.a, ep.ID, true); err != nil {
		t.Fatal(err)
	}
	if len(b.woken) != 1 || b.woken[0] != ep.ID {
		t.Fatalf("enable woke %v, want the endpoint", b.woken)
	}
	d, err := b.ops.EndpointSendTest(b.ctx, b.a, ep.ID)
	if err != nil || d.EventType != webhook.EventTypeTest || d.Status != webhook.StatusPending {
		t.Fatalf("send test: %+v, %v", d, err)
	}
	if _, err := b.ops.DeliveryReplay(b.ctx, b.a, ep.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	refusal(t, func() error { _, err := b.ops.DeliveryReplay(b.ctx, b.b, ep.ID, d.ID); return err }(), operations.NotFound, "delivery not found")
	refusal(t, func() error { _, err := b.ops.DeliveriesRecover(b.ctx, b.a, ep.ID, t0, ptr(t0)); return err }(), operations.Invalid, "until: must be after since")
	refusal(t, func() error {
		_, err := b.ops.DeliveryList(b.ctx, b.a, ep.ID, operations.DeliveryQuery{Status: "lost"})
		return err
	}(), operations.Invalid, `status: must be one of pending, delivered, failed, queued, dropped; got "lost"`)
	page, err := b.ops.DeliveryList(b.ctx, b.a, ep.ID, operations.DeliveryQuery{Status: "pending", EventType: webhook.EventTypeTest})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("filtered log: %d items, %v", len(page.Items), err)
	}
	if err := b.ops.EndpointDelete(b.ctx, b.a, ep.ID); err != nil {
		t.Fatal(err)
	}
	refusal(t, func() error { _, err := b.ops.Endpoint(b.ctx, b.a, ep.ID); return err }(), operations.NotFound, "webhook not found")
}

func TestSubscribable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.ops.EventTypeUpdate(b.ctx, "generation.failed", operations.EventTypePatch{Deprecated: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	names := func(current []string) string {
		types, err := b.ops.Subscribable(b.ctx, b.a, current)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ty := range types {
			out = append(out, ty.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(nil); got != "generation.completed" {
		t.Fatalf("offered to a new endpoint: %s; want no reserved or deprecated type", got)
	}
	if got := names([]string{"generation.failed"}); got != "generation.completed,generation.failed" {
		t.Fatalf("offered to an endpoint subscribed to the deprecated type: %s", got)
	}
}

func TestMemberRoles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mk := func(by operations.Actor, email, role string) (webhook.Member, error) {
		return b.ops.MemberCreate(b.ctx, by, b.a, operations.MemberInput{Email: &email, Role: &role, Password: ptr("correct horse")})
	}
	primary, err := mk(operations.Operator, "Boss@Example.com ", webhook.RolePrimaryOwner)
	if err != nil || primary.Email != "boss@example.com" {
		t.Fatalf("primary: %+v, %v", primary, err)
	}
	owner, err := mk(operations.Actor{Member: &primary}, "owner@example.com", webhook.RoleOwner)
	if err != nil {
		t.Fatal(err)
	}
	member, err := mk(operations.Actor{Member: &owner}, "member@example.com", webhook.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	asMember, asOwner := operations.Actor{Member: &member}, operations.Actor{Member: &owner}

	refusal(t, func() error { _, err := mk(asMember, "x@example.com", webhook.RoleMember); return err }(), operations.Forbidden, "only owners")
	refusal(t, func() error { _, err := mk(asOwner, "x@example.com", webhook.RolePrimaryOwner); return err }(), operations.Forbidden, "one primary owner")
	refusal(t, func() error { _, err := mk(asOwner, "not an email", webhook.RoleMember); return err }(), operations.Invalid, `email: "not an email" is not an email address`)
	refusal(t, func() error { _, err := mk(asOwner, "y@example.com", "admin"); return err }(), operations.Invalid, `role: must be primary-owner, owner or member, got "admin"`)
	refusal(t, func() error {
		_, err := b.ops.MemberCreate(b.ctx, asOwner, b.a, operations.MemberInput{Email: ptr("z@example.com"), Role: ptr("member"), Password: ptr("short")})
		return err
	}(), operations.Invalid, "password: must be at least 8 characters")
	refusal(t, func() error {
		_, err := b.ops.MemberUpdate(b.ctx, asOwner, b.a, member.ID, operations.MemberPatch{Role: ptr(webhook.RolePrimaryOwner)})
		return err
	}(), operations.Forbidden, "only the primary owner can transfer")
	refusal(t, func() error {
		_, err := b.ops.MemberUpdate(b.ctx, asOwner, b.a, member.ID, operations.MemberPatch{Password: ptr("new password!")})
		return err
	}(), operations.Forbidden, "own email and password")
	refusal(t, func() error { _, err := b.ops.MemberDelete(b.ctx, asMember, b.a, owner.ID); return err }(), operations.Forbidden, "only owners")
	refusal(t, func() error { _, err := b.ops.MemberDelete(b.ctx, asOwner, b.a, primary.ID); return err }(), operations.Conflict, "")
	refusal(t, func() error { _, err := b.ops.MemberDelete(b.ctx, asOwner, b.b, member.ID); return err }(), operations.NotFound, "member not found")

	// The primary owner transfers ownership; it becomes an owner.
	if _, err := b.ops.MemberUpdate(b.ctx, operations.Actor{Member: &primary}, b.a, owner.ID,
		operations.MemberPatch{Role: ptr(webhook.RolePrimaryOwner)}); err != nil {
		t.Fatal(err)
	}
	was, _ := b.ops.Member(b.ctx, b.a, primary.ID)
	now, _ := b.ops.Member(b.ctx, b.a, owner.ID)
	if was.Role != webhook.RoleOwner || now.Role != webhook.RolePrimaryOwner {
		t.Fatalf("after transfer: previous %s, new %s", was.Role, now.Role)
	}
	if _, err := b.ops.MemberDelete(b.ctx, asOwner, b.a, member.ID); err != nil {
		t.Fatal(err)
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	owner, member := webhook.Member{ID: "m1", Role: webhook.RoleOwner}, webhook.Member{ID: "m2", Role: webhook.RoleMember}
	refusal(t, func() error {
		_, err := b.ops.APIKeyCreate(b.ctx, operations.Actor{Member: &member}, b.a, ptr("ci"), []string{"webhooks:read"})
		return err
	}(), operations.Forbidden, "only owners")
	refusal(t, func() error {
		_, err := b.ops.APIKeyCreate(b.ctx, operations.Actor{Member: &owner}, b.a, ptr("ci"), []string{"root"})
		return err
	}(), operations.Invalid, `scopes: unknown scope "root"`)
	refusal(t, func() error {
		_, err := b.ops.APIKeyCreate(b.ctx, operations.Actor{Member: &owner}, "acc_nope", ptr("ci"), []string{"webhooks:read"})
		return err
	}(), operations.NotFound, "account not found")
	k, err := b.ops.APIKeyCreate(b.ctx, operations.Actor{Member: &owner}, b.a, ptr(" ci "), []string{"webhooks:read", "webhooks:read"})
	if err != nil || k.Name != "ci" || len(k.Scopes) != 1 || !strings.HasPrefix(k.Key, "hrk_") || k.Prefix == "" || strings.Contains(k.Prefix, k.Key) {
		t.Fatalf("created key %+v, %v", k, err)
	}
	refusal(t, func() error {
		_, err := b.ops.APIKeyRevoke(b.ctx, operations.Actor{Member: &owner}, b.b, k.ID)
		return err
	}(), operations.NotFound, "API key not found")
	revoked, err := b.ops.APIKeyRevoke(b.ctx, operations.Actor{Member: &owner}, b.a, k.ID)
	if err != nil || revoked.RevokedAt == nil {
		t.Fatalf("revoke: %+v, %v", revoked, err)
	}
}

func TestSignInAndSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	m, err := b.ops.MemberCreate(b.ctx, operations.Operator, b.a, operations.MemberInput{
		Email: ptr("ada@example.com"), Role: ptr(webhook.RolePrimaryOwner), Password: ptr("correct horse")})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{{"ada@example.com", "wrong horse"}, {"bob@example.com", "correct horse"}, {"not-an-email", "x"}, {"ada@example.com", ""}} {
		if _, _, err := b.ops.SignIn(b.ctx, c[0], c[1]); !errors.Is(err, operations.ErrSignIn) {
			t.Fatalf("SignIn(%q, %q) = %v, want ErrSignIn", c[0], c[1], err)
		}
	}
	token, who, err := b.ops.SignIn(b.ctx, " ADA@example.com", "correct horse")
	if err != nil || who.ID != m.ID || len(token) < 40 {
		t.Fatalf("SignIn = %q, %+v, %v", token, who, err)
	}
	idle, absolute := b.ops.SessionLifetimes()
	// Used within the idle lifetime, the session lives on until the absolute end.
	for used := time.Duration(0); used < absolute-idle/2; used += idle / 2 {
		b.clk.Set(t0.Add(used))
		if _, err := b.ops.Session(b.ctx, token); err != nil {
			t.Fatalf("session used every %s ended after %s: %v", idle/2, used, err)
		}
	}
	b.clk.Set(t0.Add(absolute))
	if _, err := b.ops.Session(b.ctx, token); !errors.Is(err, operations.ErrNoSession) {
		t.Fatalf("at the absolute lifetime: %v, want ErrNoSession", err)
	}
	// Unused for the idle lifetime, a session ends.
	token, _, err = b.ops.SignIn(b.ctx, "ada@example.com", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	b.clk.Advance(idle)
	if _, err := b.ops.Session(b.ctx, token); !errors.Is(err, operations.ErrNoSession) {
		t.Fatalf("idle session: %v, want ErrNoSession", err)
	}
	token, _, _ = b.ops.SignIn(b.ctx, "ada@example.com", "correct horse")
	if err := b.ops.SignOut(b.ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ops.Session(b.ctx, token); !errors.Is(err, operations.ErrNoSession) {
		t.Fatalf("after sign-out: %v, want ErrNoSession", err)
	}
}

func TestHourlyFillsEveryHour(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ep := b.endpoint(t, b.a)
	rows, err := b.ops.Hourly(b.ctx, b.a, ep.ID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 24 || !rows[23].Hour.Equal(t0.Truncate(time.Hour)) || !rows[0].Hour.Equal(t0.Truncate(time.Hour).Add(-23*time.Hour)) {
		t.Fatalf("24 h window: %d rows from %v to %v", len(rows), rows[0].Hour, rows[len(rows)-1].Hour)
	}
}

func TestEventTypes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cases := []struct {
		in  operations.EventTypeInput
		msg string
	}{
		{operations.EventTypeInput{Description: ptr("d")}, "name: is required"},
		{operations.EventTypeInput{Name: ptr("Bad Name"), Description: ptr("d")}, "name: must be lower-case words"},
		{operations.EventTypeInput{Name: ptr("webhook.test"), Description: ptr("d")}, "is reserved"},
		{operations.EventTypeInput{Name: ptr("a.b")}, "description: is required"},
		{operations.EventTypeInput{Name: ptr("a.b"), Description: ptr("d"), Example: []byte(`[1]`)}, "example: must be a JSON object"},
	}
	for _, c := range cases {
		_, err := b.ops.EventTypeCreate(b.ctx, c.in)
		refusal(t, err, operations.Invalid, c.msg)
	}
	refusal(t, func() error {
		_, err := b.ops.EventTypeCreate(b.ctx, operations.EventTypeInput{Name: ptr("generation.completed"), Description: ptr("d")})
		return err
	}(), operations.Conflict, `event type "generation.completed" already exists`)
	refusal(t, func() error { _, err := b.ops.EventTypeDelete(b.ctx, "nope.nope"); return err }(), operations.NotFound, `event type "nope.nope" not found`)
}
