package verify_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/hookrelay/hookrelay/verify"
)

// FuzzVerify feeds arbitrary bodies and header values to every Verify method.
// Beyond never panicking, it checks two properties: every failure wraps one
// of the documented sentinels (receivers branch on them), and a request
// correctly signed over the fuzzed id and body verifies while the same
// request with one body bit flipped does not.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(testBody), testID, "1778587260",
		"v1,gOGO4rAN3kVB7EexCHft9s1SZpx0owB4D8jMjTkR2ak=",
		"sha256=907f37fd677013f3fe385b36848ceead78e1431fc70e5e236655a8fae679acee")
	f.Add([]byte{}, "", "", "", "")
	f.Add([]byte("\x00\xff"), " ", "-1", "v1,", "sha256=")

	v, err := verify.NewMulti([]string{secretA, secretB}, fixedClock(testNow))
	if err != nil {
		f.Fatal(err)
	}
	sentinels := []error{
		verify.ErrMissingHeaders, verify.ErrInvalidSignature,
		verify.ErrTimestampOutOfTolerance, verify.ErrInvalidTimestamp,
	}
	isSentinel := func(err error) bool {
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return true
			}
		}
		return false
	}

	f.Fuzz(func(t *testing.T, body []byte, id, ts, sig, branded string) {
		h := http.Header{}
		for k, val := range map[string]string{
			"Webhook-Id": id, "Webhook-Timestamp": ts, "Webhook-Signature": sig, "X-Hookrelay-Signature": branded,
		} {
			if val != "" {
				h[k] = []string{val}
			}
		}
		for name, fn := range map[string]func([]byte, http.Header) error{
			"Verify": v.Verify, "VerifyStandard": v.VerifyStandard, "VerifyBranded": v.VerifyBranded,
		} {
			if err := fn(body, h); err != nil && !isSentinel(err) {
				t.Errorf("%s returned an error wrapping no sentinel: %v", name, err)
			}
		}

		if id == "" {
			return // an empty webhook-id is rightly "missing"
		}
		now := testNow.Unix()
		signed := stdHeader(id, now, stdSig(t, secretB, id, now, string(body)))
		signed.Set("X-Hookrelay-Signature", brandedSig(secretB, string(body)))
		if err := v.VerifyStandard(body, signed); err != nil {
			t.Fatalf("VerifyStandard rejects a valid signature: %v", err)
		}
		if err := v.VerifyBranded(body, signed); err != nil {
			t.Fatalf("VerifyBranded rejects a valid signature: %v", err)
		}
		if len(body) == 0 {
			return
		}
		flipped := append([]byte(nil), body...)
		flipped[len(flipped)/2] ^= 1
		if err := v.VerifyStandard(flipped, signed); !errors.Is(err, verify.ErrInvalidSignature) {
			t.Fatalf("VerifyStandard with a flipped bit: %v", err)
		}
		if err := v.VerifyBranded(flipped, signed); !errors.Is(err, verify.ErrInvalidSignature) {
			t.Fatalf("VerifyBranded with a flipped bit: %v", err)
		}
	})
}
