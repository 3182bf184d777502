package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
)

// TestAdminListAndRemove: admin lists and removes everything it creates,
// printing each object with the same fields whether created, listed,
// revoked or deleted; a revoked key no longer authenticates.
func TestAdminListAndRemove(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "admin.db")
	if _, stderr, code := runCLI(t, "", "migrate", "--database", db); code != 0 {
		t.Fatal(stderr)
	}
	admin := func(stdin string, args ...string) string {
		t.Helper()
		stdout, stderr, code := runCLI(t, stdin, append(append([]string{"admin"}, args...), "--database", db)...)
		if code != 0 || stderr != "" {
			t.Fatalf("admin %v: exit %d: %s", args, code, stderr)
		}
		return stdout
	}
	decode := func(out string, v any) {
		t.Helper()
		reflect.ValueOf(v).Elem().SetZero() // decode into a fresh value, not on top of the last
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("not JSON: %v: %s", err, out)
		}
	}
	// find returns the element of a listed array with this id field.
	find := func(list []map[string]any, field, id string) map[string]any {
		for _, m := range list {
			if m[field] == id {
				return m
			}
		}
		return nil
	}

	// Accounts.
	var acc map[string]any
	decode(admin("", "account", "create", "--name", "Acme"), &acc)
	accountID, _ := acc["account_id"].(string)
	quietID := strings.TrimSpace(admin("", "account", "create", "--name", "Quiet Ltd", "--quiet"))
	if !strings.HasPrefix(accountID, "acc_") || !strings.HasPrefix(quietID, "acc_") || strings.Contains(quietID, "\n") {
		t.Fatalf("account create printed %v and --quiet %q", acc, quietID)
	}
	var accounts []map[string]any
	decode(admin("", "account", "list"), &accounts)
	if len(accounts) != 3 || !reflect.DeepEqual(find(accounts, "account_id", accountID), acc) {
		t.Fatalf("account list = %v, want the created %v among 3 (with the operator account)", accounts, acc)
	}
	if ids := admin("", "account", "list", "--search", "quiet", "--quiet"); ids != quietID+"\n" {
		t.Fatalf("account list --search quiet --quiet = %q", ids)
	}

	// Operator keys and API keys: create prints the key alone.
	op := strings.TrimSpace(admin("", "operator-key", "create", "--name", "ci"))
	key := strings.TrimSpace(admin("", "api-key", "create", "--account", accountID, "--scopes", "webhooks:read,events:publish"))
	if !strings.HasPrefix(op, "hrop_") || !strings.HasPrefix(key, "hrk_") {
		t.Fatalf("keys %q %q", op, key)
	}
	var opKeys, keys []map[string]any
	decode(admin("", "operator-key", "list"), &opKeys)
	decode(admin("", "api-key", "list", "--account", accountID), &keys)
	if len(opKeys) != 1 || opKeys[0]["account_id"] != nil || opKeys[0]["name"] != "ci" || opKeys[0]["revoked_at"] != nil {
		t.Fatalf("operator-key list = %v", opKeys)
	}
	if len(keys) != 1 || keys[0]["account_id"] != accountID || !reflect.DeepEqual(keys[0]["scopes"], []any{"webhooks:read", "events:publish"}) ||
		!strings.HasPrefix(key, strings.TrimSuffix(keys[0]["key_prefix"].(string), "…")) {
		t.Fatalf("api-key list = %v", keys)
	}
	for _, l := range []map[string]any{opKeys[0], keys[0]} {
		for _, secret := range []string{op, key} {
			if strings.Contains(mustJSON(t, l), secret) {
				t.Fatal("a listed key holds the key itself")
			}
		}
	}
	var revoked map[string]any
	decode(admin("", "api-key", "revoke", "--account", accountID, "--id", keys[0]["api_key_id"].(string)), &revoked)
	if revoked["revoked_at"] == nil || revoked["api_key_id"] != keys[0]["api_key_id"] {
		t.Fatalf("api-key revoke printed %v", revoked)
	}
	decode(admin("", "operator-key", "revoke", "--id", opKeys[0]["api_key_id"].(string)), &revoked)
	if revoked["revoked_at"] == nil {
		t.Fatalf("operator-key revoke printed %v", revoked)
	}
	if _, stderr, code := runCLI(t, "", "admin", "api-key", "revoke", "--database", db, "--account", quietID, "--id", keys[0]["api_key_id"].(string)); code != 1 ||
		!strings.Contains(stderr, "not found") {
		t.Fatalf("revoking another account's key: exit %d %q", code, stderr)
	}
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, k := range []string{op, key} {
		got, err := st.APIKeyGetByHash(context.Background(), auth.HashKey(k))
		if err != nil || got.RevokedAt == nil {
			t.Fatalf("key %s… not revoked: %+v %v", k[:8], got, err)
		}
	}

	// Members: the password comes from stdin only.
	var member map[string]any
	decode(admin("correct horse battery staple\n", "member", "create", "--account", accountID, "--email", "Owner@Example.com",
		"--role", "primary-owner", "--password-stdin"), &member)
	second := strings.TrimSpace(admin("correct horse battery staple\n", "member", "create", "--account", accountID, "--email", "dev@example.com",
		"--role", "member", "--password-stdin", "--quiet"))
	var members []map[string]any
	decode(admin("", "member", "list", "--account", accountID), &members)
	if len(members) != 2 || !reflect.DeepEqual(find(members, "member_id", member["member_id"].(string)), member) || member["email"] != "owner@example.com" {
		t.Fatalf("member list = %v, created %v", members, member)
	}
	var removed map[string]any
	decode(admin("", "member", "delete", "--account", accountID, "--id", second), &removed)
	if removed["member_id"] != second {
		t.Fatalf("member delete printed %v", removed)
	}
	if _, stderr, code := runCLI(t, "", "admin", "member", "delete", "--database", db, "--account", accountID, "--id", member["member_id"].(string)); code != 1 ||
		!strings.Contains(stderr, "transfer ownership") {
		t.Fatalf("deleting the primary owner: exit %d %q", code, stderr)
	}

	// Event types.
	var et map[string]any
	decode(admin("", "event-type", "create", "--name", "generation.completed", "--description", "done", "--example", `{"id":"gen_1"}`), &et)
	var types []map[string]any
	decode(admin("", "event-type", "list"), &types)
	if !reflect.DeepEqual(find(types, "name", "generation.completed"), et) || find(types, "name", "webhook.test")["reserved"] != true {
		t.Fatalf("event-type list = %v, created %v", types, et)
	}
	decode(admin("", "event-type", "delete", "--name", "generation.completed"), &removed)
	decode(admin("", "event-type", "list"), &types)
	if removed["name"] != "generation.completed" || find(types, "name", "generation.completed") != nil {
		t.Fatalf("event-type delete printed %v; list %v", removed, types)
	}

	// Deleting an account takes what it owns with it.
	decode(admin("", "account", "delete", "--id", accountID), &removed)
	if !reflect.DeepEqual(removed, acc) {
		t.Fatalf("account delete printed %v, want %v", removed, acc)
	}
	if ids := admin("", "account", "list", "--quiet"); strings.Contains(ids, accountID) {
		t.Fatalf("deleted account still listed: %s", ids)
	}
	if _, stderr, code := runCLI(t, "", "admin", "member", "list", "--database", db, "--account", accountID); code != 1 || !strings.Contains(stderr, "not found") {
		t.Fatalf("members of a deleted account: exit %d %q", code, stderr)
	}
	if _, stderr, code := runCLI(t, "", "admin", "account", "delete", "--database", db, "--id", "acc_operator"); code != 1 || !strings.Contains(stderr, "reserved") {
		t.Fatalf("deleting the operator account: exit %d %q", code, stderr)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAdminSaysWhatTheAPISays: the CLI refuses what the API refuses, with
// the operations layer's message naming the flag (it used to accept any
// email), and exits 2 for bad input.
func TestAdminSaysWhatTheAPISays(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "admin.db")
	if _, stderr, code := runCLI(t, "", "migrate", "--database", db); code != 0 {
		t.Fatal(stderr)
	}
	out, _, _ := runCLI(t, "", "admin", "account", "create", "--name", "Acme", "--database", db, "--quiet")
	account := strings.TrimSpace(out)
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"correct horse\n", []string{"member", "create", "--account", account, "--email", "not-an-email", "--role", "primary-owner", "--password-stdin"},
			`--email: "not-an-email" is not an email address like name@example.com`},
		{"short\n", []string{"member", "create", "--account", account, "--email", "a@example.com", "--role", "primary-owner", "--password-stdin"},
			"--password-stdin: must be at least 8 characters"},
		{"", []string{"api-key", "create", "--account", account, "--scopes", "webhooks:read,root"}, `--scopes: unknown scope "root"`},
		{"", []string{"event-type", "create", "--name", "webhook.test", "--description", "d"}, `--name: "webhook.test" is reserved`},
		{"", []string{"event-type", "create", "--name", "a.b", "--description", "d", "--example", "[1]"}, "--example: must be a JSON object"},
	} {
		_, stderr, code := runCLI(t, c.stdin, append(append([]string{"admin"}, c.args...), "--database", db)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("admin %v: exit %d %q, want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	if out, _, _ := runCLI(t, "", "admin", "member", "list", "--account", account, "--database", db); strings.TrimSpace(out) != "[]" {
		t.Fatalf("refused creates left members: %s", out)
	}
}
