package api_test

import (
	"database/sql"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/internal/auth"
)

type memberJSON struct {
	MemberID  string `json:"member_id"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	CreatedAt string `json:"created_at"`
}

// passwordHash reads a member's stored hash straight from the database.
func (b *bundle) passwordHash(t *testing.T, memberID string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+b.DBPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var h string
	if err := db.QueryRow(`SELECT password_hash FROM members WHERE id = ?`, memberID).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestMembers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	base := "/v1/accounts/" + b.A.ID + "/members"
	create := func(email, role string) (int, envelope) {
		return b.do(t, "POST", base, b.Operator, map[string]any{"email": email, "role": role, "password": "correct horse"})
	}
	roles := func() map[string]string {
		t.Helper()
		st, env := b.do(t, "GET", base, b.Operator, nil)
		out := map[string]string{}
		for _, m := range decodeAs[[]memberJSON](t, ok(t, st, env, http.StatusOK)) {
			out[m.Email] = m.Role
		}
		return out
	}

	// The first member must be the primary owner.
	st, env := create("bob@example.com", "owner")
	wantError(t, st, env, http.StatusConflict, "first member", "primary-owner")
	st, env = create("  Alice@Example.COM ", "primary-owner")
	data := ok(t, st, env, http.StatusCreated)
	if k := keys(t, data); !slices.Equal(k, sorted("member_id", "email", "role", "created_at")) {
		t.Fatalf("create answered keys %v", k)
	}
	if strings.Contains(string(env.Raw), "correct horse") || strings.Contains(string(env.Raw), "argon2") {
		t.Fatalf("the answer shows the password: %s", env.Raw)
	}
	alice := decodeAs[memberJSON](t, data)
	if !strings.HasPrefix(alice.MemberID, "mem_") || alice.Email != "alice@example.com" || alice.Role != "primary-owner" || !apiTimeRE.MatchString(alice.CreatedAt) {
		t.Fatalf("created %s", data)
	}
	if h := b.passwordHash(t, alice.MemberID); !strings.HasPrefix(h, "$argon2id$") || !auth.CheckPassword(h, "correct horse") {
		t.Fatalf("stored hash %q", h)
	}

	st, env = create("carol@example.com", "primary-owner")
	wantError(t, st, env, http.StatusConflict, "primary-owner")
	st, env = create("ALICE@example.com", "member")
	wantError(t, st, env, http.StatusConflict, "email")
	st, env = create("bob@example.com", "owner")
	bob := decodeAs[memberJSON](t, ok(t, st, env, http.StatusCreated))
	st, env = create("carol@example.com", "member")
	carol := decodeAs[memberJSON](t, ok(t, st, env, http.StatusCreated))
	// Emails are per account.
	st, env = b.do(t, "POST", "/v1/accounts/"+b.B.ID+"/members", b.Operator, map[string]any{"email": "alice@example.com", "role": "primary-owner", "password": "12345678"})
	dave := decodeAs[memberJSON](t, ok(t, st, env, http.StatusCreated))

	st, env = b.do(t, "GET", base+"?limit=2", b.Operator, nil)
	page := decodeAs[[]memberJSON](t, ok(t, st, env, http.StatusOK))
	if len(page) != 2 || page[0] != alice || page[1] != bob || env.NextCursor == nil {
		t.Fatalf("members page 1 (in the order added): %s", env.Raw)
	}
	st, env = b.do(t, "GET", base+"?limit=2&cursor="+*env.NextCursor, b.Operator, nil)
	if page := decodeAs[[]memberJSON](t, ok(t, st, env, http.StatusOK)); len(page) != 1 || page[0] != carol || env.NextCursor != nil {
		t.Fatalf("members page 2: %s", env.Raw)
	}
	if strings.Contains(string(env.Raw), "argon2") || strings.Contains(string(env.Raw), "password") {
		t.Fatalf("the list shows password material: %s", env.Raw)
	}

	patch := func(id string, body any) (int, envelope) {
		return b.do(t, "PATCH", base+"/"+id, b.Operator, body)
	}
	// The primary owner can be neither demoted nor deleted.
	st, env = patch(alice.MemberID, map[string]any{"role": "owner"})
	wantError(t, st, env, http.StatusConflict, "primary-owner", "transfer")
	st, env = b.do(t, "DELETE", base+"/"+alice.MemberID, b.Operator, nil)
	wantError(t, st, env, http.StatusConflict, "primary-owner")
	st, env = patch(carol.MemberID, map[string]any{"email": "Bob@Example.com"})
	wantError(t, st, env, http.StatusConflict, "email")
	want := map[string]string{"alice@example.com": "primary-owner", "bob@example.com": "owner", "carol@example.com": "member"}
	if got := roles(); !maps.Equal(got, want) {
		t.Fatalf("refused changes changed members: %v", got)
	}

	// Ordinary changes; a new password is hashed.
	st, env = patch(carol.MemberID, map[string]any{"email": " Carol.B@Example.com", "role": "owner", "password": "new password"})
	got := decodeAs[memberJSON](t, ok(t, st, env, http.StatusOK))
	if got.MemberID != carol.MemberID || got.Email != "carol.b@example.com" || got.Role != "owner" || got.CreatedAt != carol.CreatedAt {
		t.Fatalf("patch answered %s", env.Raw)
	}
	if h := b.passwordHash(t, carol.MemberID); !auth.CheckPassword(h, "new password") || auth.CheckPassword(h, "correct horse") {
		t.Fatal("the password was not changed")
	}
	st, env = patch(alice.MemberID, map[string]any{"role": "primary-owner"}) // already: nothing changes
	ok(t, st, env, http.StatusOK)

	// Promoting transfers ownership atomically: the old primary becomes an owner.
	st, env = patch(bob.MemberID, map[string]any{"role": "primary-owner"})
	if got := decodeAs[memberJSON](t, ok(t, st, env, http.StatusOK)); got.Role != "primary-owner" {
		t.Fatalf("promote answered %s", env.Raw)
	}
	want = map[string]string{"alice@example.com": "owner", "bob@example.com": "primary-owner", "carol.b@example.com": "owner"}
	if got := roles(); !maps.Equal(got, want) {
		t.Fatalf("after transfer %v, want %v", got, want)
	}
	st, env = b.do(t, "DELETE", base+"/"+alice.MemberID, b.Operator, nil)
	if got := decodeAs[map[string]any](t, ok(t, st, env, http.StatusOK)); got["member_id"] != alice.MemberID || got["deleted"] != true {
		t.Fatalf("delete answered %s", env.Raw)
	}
	st, env = b.do(t, "DELETE", base+"/"+alice.MemberID, b.Operator, nil)
	wantError(t, st, env, http.StatusNotFound, "member")
	st, env = b.do(t, "DELETE", base+"/"+bob.MemberID, b.Operator, nil)
	wantError(t, st, env, http.StatusConflict, "primary-owner")

	// Another account's member through this account, unknown ids and accounts: 404.
	for _, c := range []struct{ method, path string }{
		{"PATCH", base + "/" + dave.MemberID}, {"DELETE", base + "/" + dave.MemberID},
		{"PATCH", base + "/mem_missing"}, {"DELETE", base + "/mem_missing"},
		{"GET", "/v1/accounts/acc_missing/members"}, {"POST", "/v1/accounts/acc_missing/members"},
		{"PATCH", "/v1/accounts/acc_missing/members/" + bob.MemberID},
	} {
		var body any
		if c.method != "GET" && c.method != "DELETE" {
			body = map[string]any{"email": "z@example.com", "role": "member", "password": "12345678"}
		}
		st, env := b.do(t, c.method, c.path, b.Operator, body)
		wantError(t, st, env, http.StatusNotFound)
	}

	mem := base + "/" + carol.MemberID
	for _, c := range []struct {
		method, path, body string
		words              []string
	}{
		{"POST", base, `{"role":"member","password":"12345678"}`, []string{"email", "required"}},
		{"POST", base, `{"email":"  ","role":"member","password":"12345678"}`, []string{"email", "required"}},
		{"POST", base, `{"email":"no-at-sign","role":"member","password":"12345678"}`, []string{"email", "not an email"}},
		{"POST", base, `{"email":"Zed <z@example.com>","role":"member","password":"12345678"}`, []string{"email", "not an email"}},
		{"POST", base, `{"email":"z@localhost","role":"member","password":"12345678"}`, []string{"email", "not an email"}},
		{"POST", base, `{"email":"z@@example.com","role":"member","password":"12345678"}`, []string{"email", "not an email"}},
		{"POST", base, `{"email":"z@example..com","role":"member","password":"12345678"}`, []string{"email", "not an email"}},
		{"POST", base, `{"email":"` + strings.Repeat("z", 250) + `@example.com","role":"member","password":"12345678"}`, []string{"email", "254"}},
		{"POST", base, `{"email":"z@example.com","password":"12345678"}`, []string{"role", "required"}},
		{"POST", base, `{"email":"z@example.com","role":"admin","password":"12345678"}`, []string{"role", "primary-owner, owner or member"}},
		{"POST", base, `{"email":"z@example.com","role":"member"}`, []string{"password", "required"}},
		{"POST", base, `{"email":"z@example.com","role":"member","password":"short"}`, []string{"password", "8"}},
		{"POST", base, `{"email":"z@example.com","role":"member","password":12345678}`, []string{"password"}},
		{"POST", base, `{"email":"z@example.com","role":"member","password":"12345678","password_hash":"x"}`, []string{"password_hash", "unknown field"}},
		{"PATCH", mem, `{}`, []string{"body", "nothing to change"}},
		{"PATCH", mem, `{"role":null}`, []string{"role", "null"}},
		{"PATCH", mem, `{"email":null}`, []string{"email", "null"}},
		{"PATCH", mem, `{"email":5}`, []string{"email"}},
		{"PATCH", mem, `{"role":"boss"}`, []string{"role"}},
		{"PATCH", mem, `{"password":"short"}`, []string{"password", "8"}},
		{"PATCH", mem, `{"email":"x"}`, []string{"email", "not an email"}},
		{"PATCH", mem, `{"member_id":"mem_x"}`, []string{"member_id", "unknown field"}},
	} {
		before := b.operatorSnapshot(t)
		hash := b.passwordHash(t, carol.MemberID)
		st, env := b.do(t, c.method, c.path, b.Operator, c.body)
		wantError(t, st, env, http.StatusBadRequest, c.words...)
		if after := b.operatorSnapshot(t); after != before || b.passwordHash(t, carol.MemberID) != hash {
			t.Fatalf("%s %s changed state", c.method, c.body)
		}
	}
}
