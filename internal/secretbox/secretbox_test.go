package secretbox

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	key, err := ParseKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	box, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("whsec_c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IQ==")
	ct := box.Seal(secret, []byte("wh_1"))
	if bytes.Contains(ct, secret) || bytes.Contains(ct, []byte("whsec_")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	if ct2 := box.Seal(secret, []byte("wh_1")); bytes.Equal(ct, ct2) {
		t.Fatal("two seals of the same secret are identical: nonce reused")
	}
	pt, err := box.Open(ct, []byte("wh_1"))
	if err != nil || !bytes.Equal(pt, secret) {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := box.Open(ct, []byte("wh_2")); err == nil {
		t.Fatal("ciphertext opened under another row's id")
	}
	other, _ := New(bytes.Repeat([]byte{1}, KeySize))
	if _, err := other.Open(ct, []byte("wh_1")); err == nil {
		t.Fatal("ciphertext opened under another key")
	}
	ct[len(ct)-1] ^= 1
	if _, err := box.Open(ct, []byte("wh_1")); err == nil {
		t.Fatal("tampered ciphertext opened")
	}
	if _, err := box.Open(ct[:10], []byte("wh_1")); err == nil {
		t.Fatal("truncated ciphertext opened")
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{NewKey(), true},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true}, // raw std, 32 bytes
		{"AAAA", false},
		{"not base64!!", false},
		{"", false},
	} {
		_, err := ParseKey(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseKey(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
	if _, err := New(make([]byte, 16)); err == nil {
		t.Error("New accepted a 16-byte key")
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "hookrelay.key")
	k1, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadOrCreateKeyFile(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second load gave another key (%v)", err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeyFile(path); err == nil {
		t.Fatal("a corrupt key file was accepted")
	}
}
