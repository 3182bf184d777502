//go:build !race

// The race detector adds allocations of its own, so this only runs without it.

package signing_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/signing"
)

// Apply is on the dispatcher's hot path. Rebuilding an HMAC per secret would
// add about six allocations per key; this catches that regression.
func TestApplyAllocations(t *testing.T) {
	secrets := []signing.Secret{mustParse(t, secondSecret), mustParse(t, vectorSecret)}
	m := vectorMessage()
	m.Body = bytes.Repeat([]byte("a"), 1024)
	h := http.Header{}
	signer := signing.NewSigner("", "")
	now := time.Now()
	signer.Apply(h, m, secrets, now) // warm the pools and the header map

	const maxAllocs = 6
	got := testing.AllocsPerRun(200, func() { signer.Apply(h, m, secrets, now) })
	if got > maxAllocs {
		t.Fatalf("Apply allocates %.0f times per call, want at most %d", got, maxAllocs)
	}
}
