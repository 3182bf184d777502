// Package secretbox encrypts endpoint signing secrets at rest with
// XChaCha20-Poly1305, and, under keys derived from the same one, what else
// must not be readable or forgeable from the database: stored idempotent
// responses and list cursors. Its 24-byte nonces are safe to draw at random for
// every seal, so no nonce counter has to be kept consistent across nodes.
package secretbox

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the length of an encryption key.
const KeySize = chacha20poly1305.KeySize

// Box seals and opens secrets under one key.
type Box struct {
	key []byte
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("encryption key must be %d bytes, got %d", KeySize, len(key))
	}
	return &Box{key: append([]byte(nil), key...)}, nil
}

// ParseKey decodes a base64 (standard or URL, padded or not) 32-byte key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("encryption key must decode to %d bytes, got %d", KeySize, len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("encryption key is not valid base64")
}

// NewKey returns a random key, base64 encoded.
func NewKey() string {
	k := make([]byte, KeySize)
	_, _ = rand.Read(k)
	return base64.StdEncoding.EncodeToString(k)
}

// ReadKeyFile reads the key in path. A missing file is an error matching
// fs.ErrNotExist.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// CreateKeyFile writes a new key into path (mode 0600) and returns it.
// The directory must exist. If another process created the file first,
// its key is returned and created is false.
func CreateKeyFile(path string) (key []byte, created bool, err error) {
	// O_EXCL: if two processes start at once, one creates and the other
	// reads instead of overwriting the key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		k, err := ReadKeyFile(path)
		return k, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("create key file: %w", err)
	}
	enc := NewKey()
	if _, err := f.WriteString(enc + "\n"); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("write key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, false, fmt.Errorf("write key file: %w", err)
	}
	k, err := ParseKey(enc)
	return k, true, err
}

// Fingerprint names the key without revealing it, so that an operator
// can tell which key a process uses and match it to a backup.
func (b *Box) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte("hookrelay key fingerprint\x00"))
	h.Write(b.key)
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// Derive returns a Box under a key derived from this one for one purpose
// (HKDF-SHA256), so that what it seals or authenticates for that purpose
// can never be mistaken for a signing secret, and one configured key
// serves them all.
func (b *Box) Derive(purpose string) *Box {
	k, err := hkdf.Key(sha256.New, b.key, nil, "hookrelay "+purpose, KeySize)
	if err != nil {
		panic(fmt.Sprintf("secretbox: derive %q: %v", purpose, err)) // only for lengths HKDF cannot give
	}
	return &Box{key: k}
}

// MAC authenticates data with HMAC-SHA256 under the key: a fingerprint
// that nobody without the key can compute, or test guesses against.
func (b *Box) MAC(data ...[]byte) []byte {
	m := hmac.New(sha256.New, b.key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

// Seal encrypts plaintext bound to aad (the owning row's id, so a
// ciphertext copied onto another row does not open).
func (b *Box) Seal(plaintext, aad []byte) []byte {
	aead, _ := chacha20poly1305.NewX(b.key) // the key length was checked in New
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plaintext, aad)
}

// Open decrypts what Seal produced for the same aad.
func (b *Box) Open(ciphertext, aad []byte) ([]byte, error) {
	aead, _ := chacha20poly1305.NewX(b.key)
	if len(ciphertext) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("open secret: ciphertext too short")
	}
	nonce, sealed := ciphertext[:aead.NonceSize()], ciphertext[aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("open secret: %w (wrong encryption key?)", err)
	}
	return pt, nil
}
