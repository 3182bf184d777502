// Package auth owns credentials: API keys (generated, hashed, scoped) and
// member passwords (argon2id).
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/hookrelay/hookrelay/internal/webhook"
)

// Scopes an account key can hold.
const (
	ScopeWebhooksRead   = "webhooks:read"
	ScopeWebhooksManage = "webhooks:manage"
	ScopeEventsPublish  = "events:publish"
)

// Scopes lists every scope, in a stable order.
var Scopes = []string{ScopeWebhooksRead, ScopeWebhooksManage, ScopeEventsPublish}

// ValidateScopes checks that every scope is known and there is at least one.
func ValidateScopes(scopes []string) error {
	if len(scopes) == 0 {
		return errors.New("at least one scope is required")
	}
	for _, s := range scopes {
		if !slices.Contains(Scopes, s) {
			return fmt.Errorf("unknown scope %q (known: %s)", s, strings.Join(Scopes, ", "))
		}
	}
	return nil
}

// Key prefixes say at a glance, in a log or a leaked-secret scanner, what a
// token is and whom it belongs to.
const (
	operatorKeyPrefix = "hrop_"
	accountKeyPrefix  = "hrk_"
)

// NewKey returns a new API key and the hash under which it is stored. The
// key carries 256 random bits, so a fast hash is enough: there is nothing
// to brute-force that a slow hash would protect.
func NewKey(operator bool) (key string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	p := accountKeyPrefix
	if operator {
		p = operatorKeyPrefix
	}
	key = p + base64.RawURLEncoding.EncodeToString(b)
	return key, HashKey(key)
}

// HashKey is how keys are looked up.
func HashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// DisplayPrefix is the part of a key shown in lists.
func DisplayPrefix(key string) string {
	n := min(len(key), strings.IndexByte(key, '_')+7)
	return key[:n] + "…"
}

// HasScope reports whether k may act with scope. Operator keys hold every
// scope; webhooks:manage includes webhooks:read, since whoever may change an
// endpoint may see it.
func HasScope(k webhook.APIKey, scope string) bool {
	if k.Operator() {
		return true
	}
	if slices.Contains(k.Scopes, scope) {
		return true
	}
	return scope == ScopeWebhooksRead && slices.Contains(k.Scopes, ScopeWebhooksManage)
}

// argon2id parameters: OWASP's first recommendation (19 MiB, 2 passes),
// which keeps a burst of logins from exhausting memory.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns an argon2id hash in the PHC string format.
func HashPassword(password string) (string, error) {
	if len(password) < 8 {
		return "", errors.New("password must be at least 8 characters")
	}
	if len(password) > 1024 {
		return "", errors.New("password must be at most 1024 characters")
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	sum := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum)), nil
}

// CheckPassword reports whether password matches a HashPassword result.
// The parameters are read from the hash, so they can be raised later
// without invalidating existing passwords.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || t == 0 || p == 0 || m > 1<<20 || t > 16 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
