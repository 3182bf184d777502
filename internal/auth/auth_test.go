package auth

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/internal/webhook"
)

func TestNewKey(t *testing.T) {
	t.Parallel()
	k1, h1 := NewKey(false)
	k2, _ := NewKey(false)
	op, _ := NewKey(true)
	if k1 == k2 {
		t.Fatal("two keys are equal")
	}
	if !strings.HasPrefix(k1, "hrk_") || !strings.HasPrefix(op, "hrop_") {
		t.Fatalf("prefixes: %q %q", k1, op)
	}
	if !bytes.Equal(h1, HashKey(k1)) || bytes.Equal(h1, HashKey(k2)) {
		t.Fatal("hash does not identify the key")
	}
	if p := DisplayPrefix(k1); !strings.HasPrefix(k1, strings.TrimSuffix(p, "…")) || len(p) >= len(k1) {
		t.Fatalf("DisplayPrefix(%q) = %q", k1, p)
	}
}

func TestHasScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key   webhook.APIKey
		scope string
		want  bool
	}{
		{webhook.APIKey{AccountID: "", Scopes: nil}, ScopeEventsPublish, true},
		{webhook.APIKey{AccountID: "acc_1", Scopes: []string{ScopeEventsPublish}}, ScopeEventsPublish, true},
		{webhook.APIKey{AccountID: "acc_1", Scopes: []string{ScopeEventsPublish}}, ScopeWebhooksRead, false},
		{webhook.APIKey{AccountID: "acc_1", Scopes: []string{ScopeWebhooksManage}}, ScopeWebhooksRead, true},
		{webhook.APIKey{AccountID: "acc_1", Scopes: []string{ScopeWebhooksRead}}, ScopeWebhooksManage, false},
	} {
		if got := HasScope(tc.key, tc.scope); got != tc.want {
			t.Errorf("HasScope(%v, %s) = %v, want %v", tc.key.Scopes, tc.scope, got, tc.want)
		}
	}
}

func TestValidateScopes(t *testing.T) {
	t.Parallel()
	if err := ValidateScopes([]string{ScopeWebhooksRead, ScopeEventsPublish}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{nil, {"webhooks:write"}, {ScopeWebhooksRead, ""}} {
		if err := ValidateScopes(bad); err == nil {
			t.Errorf("ValidateScopes(%q) accepted", bad)
		}
	}
}

func TestPassword(t *testing.T) {
	t.Parallel()
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$") {
		t.Fatalf("hash %q is not argon2id PHC", h)
	}
	if !CheckPassword(h, "correct horse battery") {
		t.Fatal("right password refused")
	}
	if CheckPassword(h, "correct horse batterY") {
		t.Fatal("wrong password accepted")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=0,t=0,p=0$$", "$bcrypt$x", h[:len(h)-5]} {
		if CheckPassword(bad, "correct horse battery") {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
	if _, err := HashPassword("short"); err == nil {
		t.Fatal("short password accepted")
	}
}
