package secretbox

import (
	"bytes"
	"errors"
	"io/fs"
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

func TestKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "hookrelay.key")
	if _, err := ReadKeyFile(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reading a missing key file: %v, want fs.ErrNotExist", err)
	}
	k1, created, err := CreateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("create: %v created=%v", err, created)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	k2, err := ReadKeyFile(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("read gave another key (%v)", err)
	}
	// A second process creating at the same moment gets the first key.
	k3, created, err := CreateKeyFile(path)
	if err != nil || created || !bytes.Equal(k1, k3) {
		t.Fatalf("second create: created=%v %v", created, err)
	}
	// No directory is made for it: a typo must not grow a tree.
	if _, _, err := CreateKeyFile(filepath.Join(dir, "missing", "k")); err == nil {
		t.Fatal("created a key file in a directory that does not exist")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a directory was created: %v", err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(path); err == nil {
		t.Fatal("a corrupt key file was accepted")
	}
}

func TestDeriveAndMAC(t *testing.T) {
	t.Parallel()
	key, _ := ParseKey(NewKey())
	box, _ := New(key)
	a, b := box.Derive("a"), box.Derive("b")
	ct := a.Seal([]byte("x"), nil)
	if _, err := box.Open(ct, nil); err == nil {
		t.Fatal("a derived key's seal opened under the parent key")
	}
	if _, err := b.Open(ct, nil); err == nil {
		t.Fatal("a derived key's seal opened under another purpose")
	}
	if pt, err := box.Derive("a").Open(ct, nil); err != nil || string(pt) != "x" {
		t.Fatalf("derivation is not stable: %q %v", pt, err)
	}
	if bytes.Equal(a.MAC([]byte("m")), b.MAC([]byte("m"))) || !bytes.Equal(a.MAC([]byte("m")), a.MAC([]byte("m"))) {
		t.Fatal("MAC is not keyed, or not deterministic")
	}
	other, _ := New(bytes.Repeat([]byte{1}, KeySize))
	if box.Fingerprint() == other.Fingerprint() || len(box.Fingerprint()) != 12 {
		t.Fatalf("fingerprints %q %q", box.Fingerprint(), other.Fingerprint())
	}
}
