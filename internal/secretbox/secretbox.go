// Package secretbox encrypts endpoint signing secrets at rest with
// XChaCha20-Poly1305. Its 24-byte nonces are safe to draw at random for
// every seal, so no nonce counter has to be kept consistent across nodes.
package secretbox

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// LoadOrCreateKeyFile reads the key in path, creating the file (mode 0600)
// with a new key if it does not exist. SQLite deployments use this so that
// the first `hookrelay serve` needs no setup.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := ParseKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	// O_EXCL: if two processes start at once, one creates and the other
	// fails here and retries the read instead of overwriting the key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	key := NewKey()
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write key file: %w", err)
	}
	return ParseKey(key)
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
