package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

func exerciseOperator(t *testing.T, open Opener) {
	t.Run("AccountList", func(t *testing.T) { t.Parallel(); testAccountList(t, open) })
	t.Run("APIKeyGetAndList", func(t *testing.T) { t.Parallel(); testAPIKeyList(t, open) })
	t.Run("MembersOnePrimaryOwner", func(t *testing.T) { t.Parallel(); testMembersPrimary(t, open) })
	t.Run("MemberUpdateAndDelete", func(t *testing.T) { t.Parallel(); testMemberUpdate(t, open) })
	t.Run("EventTypeCreateAndUpdate", func(t *testing.T) { t.Parallel(); testEventTypeUpdate(t, open) })
	t.Run("CreditAlertsSet", func(t *testing.T) { t.Parallel(); testCreditAlertsSet(t, open) })
	t.Run("BalanceCrossings", func(t *testing.T) { t.Parallel(); testBalanceCrossings(t, open) })
	t.Run("BalanceConcurrent", func(t *testing.T) { t.Parallel(); testBalanceConcurrent(t, open) })
}

func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func testAccountList(t *testing.T, open Opener) {
	b := setup(t, open)
	want := []string{b.acc.ID}
	for i, name := range []string{"Acme Studio", "acme labs", "100%_sure", "Zeta"} {
		a, err := b.s.AccountCreate(b.ctx, store.AccountCreateParams{ID: webhook.NewID("acc", t0), Name: name, Now: t0.Add(time.Duration(i) * time.Second)})
		must(t, err)
		want = append(want, a.ID)
	}
	want = append(want, webhook.OperatorAccountID)
	slices.Reverse(want[:len(want)-1]) // newest first; the operator account was created by the migration, first
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, err := b.s.AccountList(b.ctx, store.AccountListParams{Cursor: cursor, Limit: 2})
		must(t, err)
		if len(page.Items) > 2 {
			t.Fatalf("page of %d, limit 2", len(page.Items))
		}
		for _, a := range page.Items {
			got = append(got, a.ID)
			if a.ID == webhook.OperatorAccountID && a.Name != "operator" {
				t.Errorf("operator account = %+v", a)
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if !slices.Equal(got, want) {
		t.Fatalf("accounts %v, want newest first %v", got, want)
	}
	// Search: case-insensitive, wildcards literal.
	for q, n := range map[string]int{"acme": 2, "ACME L": 1, "%_": 1, "_": 1, "%": 1, "a%e": 0, "nothing": 0} {
		page, err := b.s.AccountList(b.ctx, store.AccountListParams{Search: q, Limit: 50})
		must(t, err)
		if len(page.Items) != n {
			t.Errorf("search %q: %d accounts, want %d", q, len(page.Items), n)
		}
	}
	if _, err := b.s.AccountList(b.ctx, store.AccountListParams{Cursor: "bogus", Limit: 5}); !errors.Is(err, store.ErrInvalidCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
}

func testAPIKeyList(t *testing.T, open Opener) {
	b := setup(t, open)
	other, err := b.s.AccountCreate(b.ctx, store.AccountCreateParams{ID: "acc_other", Name: "B", Now: t0})
	must(t, err)
	var ids []string
	for i := range 5 {
		k, err := b.s.APIKeyCreate(b.ctx, store.APIKeyCreateParams{ID: fmt.Sprintf("key_%d", i), AccountID: b.acc.ID, Name: fmt.Sprint("k", i),
			Prefix: "hrk_x…", Hash: fmt.Appendf(nil, "hash-%d", i), Scopes: []string{"webhooks:read", "events:publish"}, Now: t0})
		must(t, err)
		ids = append(ids, k.ID)
	}
	_, err = b.s.APIKeyCreate(b.ctx, store.APIKeyCreateParams{ID: "key_op", Name: "op", Prefix: "hrop_x…", Hash: []byte("hash-op"), Now: t0})
	must(t, err)
	_, err = b.s.APIKeyCreate(b.ctx, store.APIKeyCreateParams{ID: "key_b", AccountID: other.ID, Name: "b", Prefix: "hrk_y…",
		Hash: []byte("hash-b"), Scopes: []string{"webhooks:read"}, Now: t0})
	must(t, err)
	must(t, b.s.APIKeyRevoke(b.ctx, store.APIKeyRevokeParams{AccountID: b.acc.ID, ID: "key_1", Now: t0.Add(time.Minute)}))

	k, err := b.s.APIKeyGet(b.ctx, store.APIKeyGetParams{AccountID: b.acc.ID, ID: "key_1"})
	must(t, err)
	if k.Name != "k1" || k.AccountID != b.acc.ID || !slices.Equal(k.Scopes, []string{"webhooks:read", "events:publish"}) ||
		k.RevokedAt == nil || !k.RevokedAt.Equal(t0.Add(time.Minute)) || !k.CreatedAt.Equal(t0) {
		t.Fatalf("APIKeyGet = %+v", k)
	}
	for _, id := range []string{"key_b", "key_op", "key_missing"} {
		_, err := b.s.APIKeyGet(b.ctx, store.APIKeyGetParams{AccountID: b.acc.ID, ID: id})
		wantErr(t, err, webhook.ErrNotFound, "APIKeyGet "+id)
	}
	// An empty account names the operator keys, and only them.
	if op, err := b.s.APIKeyGet(b.ctx, store.APIKeyGetParams{ID: "key_op"}); err != nil || !op.Operator() {
		t.Fatalf("APIKeyGet of the operator key = %+v, %v", op, err)
	}
	_, err = b.s.APIKeyGet(b.ctx, store.APIKeyGetParams{ID: "key_1"})
	wantErr(t, err, webhook.ErrNotFound, "APIKeyGet of an account key as an operator key")

	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, err := b.s.APIKeyList(b.ctx, store.APIKeyListParams{AccountID: b.acc.ID, Cursor: cursor, Limit: 2})
		must(t, err)
		for _, k := range page.Items {
			got = append(got, k.ID)
			if (k.ID == "key_1") != (k.RevokedAt != nil) {
				t.Errorf("%s revoked_at = %v", k.ID, k.RevokedAt)
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	slices.Reverse(ids)
	if !slices.Equal(got, ids) {
		t.Fatalf("keys %v, want newest first %v (no operator key, no other account's)", got, ids)
	}
}

func (b *bundle) member(account, id, email, role string) (webhook.Member, error) {
	return b.s.MemberCreate(b.ctx, store.MemberCreateParams{ID: id, AccountID: account, Email: email, Role: role, PasswordHash: "hash-" + id, Now: t0})
}

func (b *bundle) members(t *testing.T, account string) map[string]string {
	t.Helper()
	page, err := b.s.MemberList(b.ctx, store.MemberListParams{AccountID: account, Limit: 250})
	must(t, err)
	out := map[string]string{}
	for _, m := range page.Items {
		out[m.ID] = m.Role + " " + m.Email
	}
	return out
}

func testMembersPrimary(t *testing.T, open Opener) {
	b := setup(t, open)
	_, err := b.member(b.acc.ID, "mem_0", "first@example.com", webhook.RoleOwner)
	wantErr(t, err, webhook.ErrConflict, "first member not primary owner")
	if !strings.Contains(err.Error(), "first member") {
		t.Errorf("the conflict does not say why: %v", err)
	}
	_, err = b.member("acc_missing", "mem_x", "x@example.com", webhook.RolePrimaryOwner)
	wantErr(t, err, webhook.ErrNotFound, "member of an unknown account")
	if len(b.members(t, b.acc.ID)) != 0 {
		t.Fatal("a refused member was stored")
	}

	m, err := b.member(b.acc.ID, "mem_1", "a@example.com", webhook.RolePrimaryOwner)
	must(t, err)
	if m.ID != "mem_1" || m.AccountID != b.acc.ID || m.Email != "a@example.com" || m.Role != webhook.RolePrimaryOwner || !m.CreatedAt.Equal(t0) {
		t.Fatalf("MemberCreate = %+v", m)
	}
	_, err = b.member(b.acc.ID, "mem_2", "b@example.com", webhook.RolePrimaryOwner)
	wantErr(t, err, webhook.ErrConflict, "second primary owner")
	if !strings.Contains(err.Error(), "primary-owner") {
		t.Errorf("the conflict does not say why: %v", err)
	}
	_, err = b.member(b.acc.ID, "mem_3", "a@example.com", webhook.RoleMember)
	wantErr(t, err, webhook.ErrConflict, "duplicate email")
	must(t, ignore(b.member(b.acc.ID, "mem_4", "c@example.com", webhook.RoleMember)))
	must(t, ignore(b.member(b.acc.ID, "mem_5", "d@example.com", webhook.RoleOwner)))

	// Another account has its own first member and emails.
	other, err := b.s.AccountCreate(b.ctx, store.AccountCreateParams{ID: "acc_other", Name: "B", Now: t0})
	must(t, err)
	must(t, ignore(b.member(other.ID, "mem_b1", "a@example.com", webhook.RolePrimaryOwner)))

	if got, err := b.s.MemberGet(b.ctx, store.MemberGetParams{AccountID: b.acc.ID, ID: "mem_4"}); err != nil || got.Email != "c@example.com" || got.Role != webhook.RoleMember {
		t.Fatalf("MemberGet = %+v %v", got, err)
	}
	_, err = b.s.MemberGet(b.ctx, store.MemberGetParams{AccountID: other.ID, ID: "mem_4"})
	wantErr(t, err, webhook.ErrNotFound, "get a member through another account")

	page, err := b.s.MemberList(b.ctx, store.MemberListParams{AccountID: b.acc.ID, Limit: 2})
	must(t, err)
	if len(page.Items) != 2 || page.Items[0].ID != "mem_1" || page.Items[1].ID != "mem_4" || page.NextCursor == "" {
		t.Fatalf("members page 1 = %+v", page)
	}
	page, err = b.s.MemberList(b.ctx, store.MemberListParams{AccountID: b.acc.ID, Cursor: page.NextCursor, Limit: 2})
	must(t, err)
	if len(page.Items) != 1 || page.Items[0].ID != "mem_5" || page.NextCursor != "" {
		t.Fatalf("members page 2 = %+v", page)
	}
}

func ignore[T any](_ T, err error) error { return err }

func testMemberUpdate(t *testing.T, open Opener) {
	b := setup(t, open)
	must(t, ignore(b.member(b.acc.ID, "mem_1", "a@example.com", webhook.RolePrimaryOwner)))
	must(t, ignore(b.member(b.acc.ID, "mem_2", "b@example.com", webhook.RoleMember)))
	must(t, ignore(b.member(b.acc.ID, "mem_3", "c@example.com", webhook.RoleOwner)))
	other, err := b.s.AccountCreate(b.ctx, store.AccountCreateParams{ID: "acc_other", Name: "B", Now: t0})
	must(t, err)
	str := func(s string) *string { return &s }
	update := func(p store.MemberUpdateParams) (webhook.Member, error) {
		if p.AccountID == "" {
			p.AccountID = b.acc.ID
		}
		p.Now = t0
		return b.s.MemberUpdate(b.ctx, p)
	}
	state := func() map[string]string { return b.members(t, b.acc.ID) }
	before := state()

	_, err = update(store.MemberUpdateParams{ID: "mem_1", Role: str(webhook.RoleOwner)})
	wantErr(t, err, webhook.ErrConflict, "demote the primary owner")
	_, err = update(store.MemberUpdateParams{ID: "mem_2", Email: str("c@example.com")})
	wantErr(t, err, webhook.ErrConflict, "take another member's email")
	_, err = update(store.MemberUpdateParams{AccountID: other.ID, ID: "mem_2", Role: str(webhook.RoleOwner)})
	wantErr(t, err, webhook.ErrNotFound, "update through another account")
	_, err = update(store.MemberUpdateParams{ID: "mem_missing", Role: str(webhook.RoleOwner)})
	wantErr(t, err, webhook.ErrNotFound, "update an unknown member")
	wantErr(t, b.s.MemberDelete(b.ctx, store.MemberDeleteParams{AccountID: b.acc.ID, ID: "mem_1", Now: t0}), webhook.ErrConflict, "delete the primary owner")
	wantErr(t, b.s.MemberDelete(b.ctx, store.MemberDeleteParams{AccountID: other.ID, ID: "mem_2", Now: t0}), webhook.ErrNotFound, "delete through another account")
	if after := state(); !maps.Equal(after, before) {
		t.Fatalf("refused updates changed members: %v, was %v", after, before)
	}

	// No-op and ordinary changes.
	m, err := update(store.MemberUpdateParams{ID: "mem_1", Role: str(webhook.RolePrimaryOwner), Email: str("a@example.com")})
	must(t, err)
	if m.Role != webhook.RolePrimaryOwner || m.Email != "a@example.com" {
		t.Fatalf("no-op update = %+v", m)
	}
	m, err = update(store.MemberUpdateParams{ID: "mem_2", Email: str("b2@example.com"), Role: str(webhook.RoleOwner), PasswordHash: str("new")})
	must(t, err)
	if m.ID != "mem_2" || m.Email != "b2@example.com" || m.Role != webhook.RoleOwner || !m.CreatedAt.Equal(t0) {
		t.Fatalf("update = %+v", m)
	}
	// Transfer: promoting mem_2 demotes mem_1 to owner in the same step.
	m, err = update(store.MemberUpdateParams{ID: "mem_2", Role: str(webhook.RolePrimaryOwner)})
	must(t, err)
	if m.Role != webhook.RolePrimaryOwner {
		t.Fatalf("promoted member = %+v", m)
	}
	want := map[string]string{"mem_1": "owner a@example.com", "mem_2": "primary-owner b2@example.com", "mem_3": "owner c@example.com"}
	if got := state(); !maps.Equal(got, want) {
		t.Fatalf("after transfer %v, want %v", got, want)
	}
	// The old primary owner can now be deleted; the new one cannot.
	must(t, b.s.MemberDelete(b.ctx, store.MemberDeleteParams{AccountID: b.acc.ID, ID: "mem_1", Now: t0}))
	wantErr(t, b.s.MemberDelete(b.ctx, store.MemberDeleteParams{AccountID: b.acc.ID, ID: "mem_2", Now: t0}), webhook.ErrConflict, "delete the new primary owner")
	wantErr(t, b.s.MemberDelete(b.ctx, store.MemberDeleteParams{AccountID: b.acc.ID, ID: "mem_1", Now: t0}), webhook.ErrNotFound, "delete twice")
	// Its email is free again.
	must(t, ignore(b.member(b.acc.ID, "mem_4", "a@example.com", webhook.RoleMember)))
}

func (b *bundle) eventType(t *testing.T, name string) webhook.EventType {
	t.Helper()
	list, err := b.s.EventTypeList(b.ctx)
	must(t, err)
	for _, et := range list {
		if et.Name == name {
			return et
		}
	}
	t.Fatalf("catalog lacks %s", name)
	return webhook.EventType{}
}

func testEventTypeUpdate(t *testing.T, open Opener) {
	b := setup(t, open)
	et, err := b.s.EventTypeCreate(b.ctx, store.EventTypeCreateParams{
		Name: "image.ready", Description: "An image is ready.", Example: json.RawMessage(`{"id":"img_1"}`), Now: t0, Deprecated: true})
	must(t, err)
	if !et.Deprecated || et.Reserved || string(et.Example) != `{"id":"img_1"}` {
		t.Fatalf("EventTypeCreate = %+v", et)
	}
	if got := b.eventType(t, "image.ready"); !got.Deprecated || got.Description != "An image is ready." {
		t.Fatalf("listed as %+v", got)
	}
	_, err = b.s.EventTypeCreate(b.ctx, store.EventTypeCreateParams{
		Name: "generation.completed", Description: "again", Now: t0})
	wantErr(t, err, webhook.ErrConflict, "create a taken name")

	str := func(s string) *string { return &s }
	no := false
	et, err = b.s.EventTypeUpdate(b.ctx, store.EventTypeUpdateParams{Name: "image.ready", Description: str("Ready."), Deprecated: &no, Now: t0})
	must(t, err)
	if et.Description != "Ready." || et.Deprecated || string(et.Example) != `{"id":"img_1"}` {
		t.Fatalf("update description and deprecated = %+v", et)
	}
	et, err = b.s.EventTypeUpdate(b.ctx, store.EventTypeUpdateParams{Name: "image.ready", SetExample: true, Now: t0})
	must(t, err)
	if got := b.eventType(t, "image.ready"); got.Example != nil || et.Example != nil || got.Description != "Ready." {
		t.Fatalf("after removing the example: %+v", got)
	}
	_, err = b.s.EventTypeUpdate(b.ctx, store.EventTypeUpdateParams{Name: "image.ready", SetExample: true, Example: json.RawMessage(`{"b":2}`), Now: t0})
	must(t, err)
	if got := b.eventType(t, "image.ready"); string(got.Example) != `{"b":2}` {
		t.Fatalf("example = %s", got.Example)
	}
	_, err = b.s.EventTypeUpdate(b.ctx, store.EventTypeUpdateParams{Name: "no.such", Description: str("x"), Now: t0})
	wantErr(t, err, webhook.ErrNotFound, "update an unknown type")
	yes := true
	_, err = b.s.EventTypeUpdate(b.ctx, store.EventTypeUpdateParams{Name: webhook.EventTypeTest, Deprecated: &yes, Now: t0})
	wantErr(t, err, webhook.ErrConflict, "deprecate a reserved type")
	if got := b.eventType(t, webhook.EventTypeTest); got.Deprecated {
		t.Fatal("a reserved type was deprecated")
	}

	// Deprecating keeps existing subscriptions: publishes still fan out.
	ep := b.endpoint(t, b.acc.ID, "generation.completed")
	_, err = b.s.EventTypeUpdate(b.ctx, store.EventTypeUpdateParams{Name: "generation.completed", Deprecated: &yes, Now: t0})
	must(t, err)
	if r := b.publish(t, t0, b.event("generation.completed"))[0]; r.Event.Deliveries != 1 || !slices.Equal(r.EndpointIDs, []string{ep.ID}) {
		t.Fatalf("publish of a deprecated type to its subscriber: %+v", r)
	}
}

func thresholdsOf(a store.CreditAlerts) string {
	var parts []string
	for _, th := range a.Thresholds {
		parts = append(parts, fmt.Sprintf("%g:%v", th.Threshold, th.Armed))
	}
	return strings.Join(parts, " ")
}

func (b *bundle) report(t *testing.T, balance float64) store.BalanceReport {
	t.Helper()
	r, err := b.s.BalanceReport(b.ctx, store.BalanceReportParams{AccountID: b.acc.ID, Balance: balance, Now: t0})
	must(t, err)
	return r
}

func testCreditAlertsSet(t *testing.T, open Opener) {
	b := setup(t, open)
	_, err := b.s.CreditAlertsSet(b.ctx, store.CreditAlertsSetParams{AccountID: "acc_missing", Thresholds: []float64{1}, Now: t0})
	wantErr(t, err, webhook.ErrNotFound, "alerts of an unknown account")
	_, err = b.s.CreditAlertsGet(b.ctx, store.CreditAlertsGetParams{AccountID: "acc_missing"})
	wantErr(t, err, webhook.ErrNotFound, "get alerts of an unknown account")
	_, err = b.s.BalanceReport(b.ctx, store.BalanceReportParams{AccountID: "acc_missing", Balance: 1, Now: t0})
	wantErr(t, err, webhook.ErrNotFound, "balance of an unknown account")

	a, err := b.s.CreditAlertsGet(b.ctx, store.CreditAlertsGetParams{AccountID: b.acc.ID})
	must(t, err)
	if len(a.Thresholds) != 0 || a.Balance != nil || a.ReportedAt != nil {
		t.Fatalf("fresh alerts = %+v", a)
	}
	// An empty set configures nothing, so the type is not created yet.
	_, err = b.s.CreditAlertsSet(b.ctx, store.CreditAlertsSetParams{AccountID: b.acc.ID, Thresholds: nil, Now: t0})
	must(t, err)
	list, _ := b.s.EventTypeList(b.ctx)
	if slices.ContainsFunc(list, func(et webhook.EventType) bool { return et.Name == webhook.EventTypeCreditsLowBalance }) {
		t.Fatal("credits.low_balance created without any threshold")
	}

	a, err = b.s.CreditAlertsSet(b.ctx, store.CreditAlertsSetParams{AccountID: b.acc.ID, Thresholds: []float64{10, 100.5, -5, 50}, Now: t0})
	must(t, err)
	if got := thresholdsOf(a); got != "100.5:true 50:true 10:true -5:true" {
		t.Fatalf("thresholds %q, want highest first, all armed", got)
	}
	et := b.eventType(t, webhook.EventTypeCreditsLowBalance)
	if et.Reserved || et.Deprecated || et.Description == "" || !json.Valid(et.Example) || et.Example[0] != '{' {
		t.Fatalf("created catalog type = %+v", et)
	}

	r := b.report(t, 60) // crosses 100.5
	if !slices.Equal(r.ThresholdsCrossed, []float64{100.5}) {
		t.Fatalf("crossed %v", r.ThresholdsCrossed)
	}
	// Replacing keeps the state of thresholds that stay; new ones are armed.
	a, err = b.s.CreditAlertsSet(b.ctx, store.CreditAlertsSetParams{AccountID: b.acc.ID, Thresholds: []float64{100.5, 70, 10}, Now: t0})
	must(t, err)
	if got := thresholdsOf(a); got != "100.5:false 70:true 10:true" {
		t.Fatalf("after replacing: %q", got)
	}
	if a.Balance == nil || *a.Balance != 60 || a.ReportedAt == nil || !a.ReportedAt.Equal(t0) {
		t.Fatalf("balance %v at %v", a.Balance, a.ReportedAt)
	}
	got, err := b.s.CreditAlertsGet(b.ctx, store.CreditAlertsGetParams{AccountID: b.acc.ID})
	must(t, err)
	if thresholdsOf(got) != thresholdsOf(a) {
		t.Fatalf("get %q, set answered %q", thresholdsOf(got), thresholdsOf(a))
	}

	// An operator-defined type of that name is left alone.
	must(t, ignore(b.s.EventTypeUpdate(b.ctx, store.EventTypeUpdateParams{Name: webhook.EventTypeCreditsLowBalance, Description: new("Mine."), Now: t0})))
	must(t, ignore(b.s.CreditAlertsSet(b.ctx, store.CreditAlertsSetParams{AccountID: b.acc.ID, Thresholds: []float64{1}, Now: t0})))
	if et := b.eventType(t, webhook.EventTypeCreditsLowBalance); et.Description != "Mine." {
		t.Fatalf("the catalog type was overwritten: %+v", et)
	}
	a, err = b.s.CreditAlertsSet(b.ctx, store.CreditAlertsSetParams{AccountID: b.acc.ID, Now: t0})
	must(t, err)
	if len(a.Thresholds) != 0 {
		t.Fatalf("an empty set left %q", thresholdsOf(a))
	}
}

func testBalanceCrossings(t *testing.T, open Opener) {
	b := setup(t, open)
	must(t, ignore(b.s.CreditAlertsSet(b.ctx, store.CreditAlertsSetParams{AccountID: b.acc.ID, Thresholds: []float64{100, 50, 10}, Now: t0})))
	ep := b.endpoint(t, b.acc.ID, webhook.EventTypeCreditsLowBalance)
	other := b.endpoint(t, b.acc.ID, "generation.completed")
	type step struct {
		balance float64
		crossed []float64
	}
	var events []string
	for i, s := range []step{
		{40, []float64{100, 50}}, // a first report below thresholds counts: both at once
		{30, nil},                // still below: nothing again
		{45, nil},
		{50, nil},           // equal re-arms nothing
		{60, nil},           // above 50: re-armed
		{45, []float64{50}}, // fires again
		{5, []float64{10}},
		{200, nil}, // re-arms all
		{-1, []float64{100, 50, 10}},
	} {
		r := b.report(t, s.balance)
		if r.Balance != s.balance || !slices.Equal(r.ThresholdsCrossed, s.crossed) {
			t.Fatalf("step %d (balance %g): %+v, want crossed %v", i, s.balance, r, s.crossed)
		}
		if i == 0 && r.PreviousBalance != nil {
			t.Fatalf("first report has a previous balance %v", *r.PreviousBalance)
		}
		if i > 0 && r.PreviousBalance == nil {
			t.Fatalf("step %d: no previous balance", i)
		}
		if (r.Published != nil) != (len(s.crossed) > 0) {
			t.Fatalf("step %d: published %+v, crossed %v", i, r.Published, s.crossed)
		}
		if r.Published == nil {
			continue
		}
		ev := r.Published.Event
		if ev.Type != webhook.EventTypeCreditsLowBalance || ev.AccountID != b.acc.ID || ev.Deliveries != 1 ||
			!slices.Equal(r.Published.EndpointIDs, []string{ep.ID}) {
			t.Fatalf("step %d: published %+v", i, r.Published)
		}
		var data struct {
			Balance           *float64  `json:"balance"`
			PreviousBalance   *float64  `json:"previous_balance"`
			ThresholdsCrossed []float64 `json:"thresholds_crossed"`
		}
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ev.Data), `"previous_balance":`) || data.Balance == nil || *data.Balance != s.balance ||
			!slices.Equal(data.ThresholdsCrossed, s.crossed) || (i == 0) != (data.PreviousBalance == nil) {
			t.Fatalf("step %d: data %s", i, ev.Data)
		}
		events = append(events, ev.ID)
	}
	dl := b.deliveries(t, ep.ID)
	if len(dl) != len(events) {
		t.Fatalf("%d deliveries for %d events", len(dl), len(events))
	}
	for i, d := range dl {
		if d.EventID != events[len(events)-1-i] || d.EventType != webhook.EventTypeCreditsLowBalance {
			t.Fatalf("delivery %d = %+v", i, d)
		}
	}
	if n := len(b.deliveries(t, other.ID)); n != 0 {
		t.Fatalf("an endpoint not subscribed got %d deliveries", n)
	}
	// No thresholds: a report is recorded and publishes nothing.
	must(t, ignore(b.s.CreditAlertsSet(b.ctx, store.CreditAlertsSetParams{AccountID: b.acc.ID, Now: t0})))
	if r := b.report(t, -100); r.Published != nil || len(r.ThresholdsCrossed) != 0 || *r.PreviousBalance != -1 {
		t.Fatalf("report without thresholds: %+v", r)
	}
}

// testBalanceConcurrent: reports racing for one crossing publish once.
func testBalanceConcurrent(t *testing.T, open Opener) {
	b := setup(t, open)
	must(t, ignore(b.s.CreditAlertsSet(b.ctx, store.CreditAlertsSetParams{AccountID: b.acc.ID, Thresholds: []float64{100, 50}, Now: t0})))
	ep := b.endpoint(t, b.acc.ID, webhook.EventTypeCreditsLowBalance)
	race := func(balances ...float64) int {
		var mu sync.Mutex
		published := 0
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				r, err := b.s.BalanceReport(b.ctx, store.BalanceReportParams{AccountID: b.acc.ID, Balance: balances[g%len(balances)], Now: t0})
				if err != nil {
					t.Error(err)
					return
				}
				if r.Published != nil {
					mu.Lock()
					published++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return published
	}
	if n := race(40); n != 1 {
		t.Fatalf("16 reports of one crossing published %d events", n)
	}
	if n := race(75, 70); n != 0 {
		t.Fatalf("reports above 50 published %d events", n)
	}
	if n := race(20); n != 1 {
		t.Fatalf("16 reports re-crossing 50 published %d events", n)
	}
	if n := len(b.deliveries(t, ep.ID)); n != 2 {
		t.Fatalf("%d deliveries, want 2", n)
	}
}
