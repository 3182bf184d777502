package signing_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookrelay/hookrelay/internal/signing"
)

// The Standard Webhooks specification's own test vector.
const (
	vectorSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorMsgID   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorUnix    = 1614265330
	vectorPayload = `{"test": 2432232314}`
	vectorSig     = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	// openssl dgst -sha256 -hmac "$vectorSecret" over vectorPayload.
	vectorBranded = "sha256=80ec8a89ce3cd22133a1066caecb4d04fea7467657c8514d717ec42c38a5c94c"

	// A second secret (bytes 0..31) with answers computed by Python's hmac.
	secondSecret   = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	secondSig      = "v1,O4Gjv1HqPqsMrjmczoggs/sWA8gZD0VyHG+fLh4+ktI="
	secondBranded  = "sha256=4685c9d16f64a759d47846eae0e4f6c75bedef25470e9a0e099c5a56f2f5571f"
	publishedStamp = "2021-02-26T15:02:10.000Z"
)

func mustParse(t testing.TB, s string) signing.Secret {
	t.Helper()
	sec, err := signing.ParseSecret(s)
	if err != nil {
		t.Fatalf("ParseSecret(%q): %v", s, err)
	}
	return sec
}

func vectorMessage() signing.Message {
	return signing.Message{
		DeliveryID: vectorMsgID,
		EventType:  "generation.completed",
		Timestamp:  publishedStamp,
		Body:       []byte(vectorPayload),
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, err := signing.NewSecret()
	if err != nil {
		t.Fatalf("NewSecret: %v", err)
	}
	b, err := signing.NewSecret()
	if err != nil {
		t.Fatalf("NewSecret: %v", err)
	}
	if a == b {
		t.Fatalf("two secrets are equal: %q", a)
	}
	for _, s := range []string{a, b} {
		enc, ok := strings.CutPrefix(s, signing.SecretPrefix)
		if !ok {
			t.Fatalf("secret %q lacks prefix %q", s, signing.SecretPrefix)
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(enc)
		if err != nil {
			t.Fatalf("secret %q is not padded std base64: %v", s, err)
		}
		if len(raw) != 32 {
			t.Fatalf("secret decodes to %d bytes, want 32", len(raw))
		}
		if _, err := signing.ParseSecret(s); err != nil {
			t.Fatalf("ParseSecret rejects a fresh secret: %v", err)
		}
	}
}

func TestDisplayPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"whsec_AbC1defghijklmnop=", "whsec_AbC1…"},
		{vectorSecret, "whsec_MfKQ…"},
		{"whsec_ab", "whsec_ab…"},
		{"whsec_", "whsec_…"},
		{"", "whsec_…"},
		{"AbC1defg", "whsec_AbC1…"},    // no prefix: still only four characters
		{"whsec_éèêëì", "whsec_éèêë…"}, // counts characters, not bytes
	}
	for _, tt := range tests {
		if got := signing.DisplayPrefix(tt.in); got != tt.want {
			t.Errorf("DisplayPrefix(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseSecret(t *testing.T) {
	t.Parallel()
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, n)) }
	raw := func(n int) string { return base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{7}, n)) }
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"standard webhooks vector, 24 bytes", vectorSecret, false},
		{"32 bytes padded", "whsec_" + b64(32), false},
		{"32 bytes unpadded", "whsec_" + raw(32), false},
		{"64 bytes", "whsec_" + b64(64), false},
		{"23 bytes is too short", "whsec_" + b64(23), true},
		{"65 bytes is too long", "whsec_" + b64(65), true},
		{"missing prefix", b64(32), true},
		{"wrong prefix case", "WHSEC_" + b64(32), true},
		{"empty", "", true},
		{"prefix only", "whsec_", true},
		{"not base64", "whsec_" + strings.Repeat("!", 44), true},
		{"url-safe alphabet", "whsec_" + strings.Repeat("_-", 22), true},
		{"whitespace", "whsec_ " + b64(32), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := signing.ParseSecret(tt.in)
			if tt.wantErr {
				if !errors.Is(err, signing.ErrInvalidSecret) {
					t.Fatalf("err = %v, want ErrInvalidSecret", err)
				}
				if enc := strings.TrimPrefix(tt.in, "whsec_"); len(enc) > 8 && strings.Contains(err.Error(), enc) {
					t.Fatalf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
		})
	}
}

func TestSecretFormattingDoesNotLeak(t *testing.T) {
	t.Parallel()
	sec := mustParse(t, secondSecret)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		got := fmt.Sprintf(verb, sec)
		if got != "whsec_AAEC…" {
			t.Errorf("Sprintf(%s) = %q, want the display prefix", verb, got)
		}
	}
	if got := fmt.Sprint(signing.Secret{}); strings.Contains(got, "whsec_A") {
		t.Errorf("zero Secret formats as %q", got)
	}
}

func TestApplyKnownAnswers(t *testing.T) {
	t.Parallel()
	attempt := time.Unix(vectorUnix, 0)
	tests := []struct {
		name    string
		signer  *signing.Signer
		secrets []string
		want    http.Header
	}{
		{
			name:    "one secret, default prefix and user agent",
			signer:  signing.NewSigner("", ""),
			secrets: []string{vectorSecret},
			want: http.Header{
				"Content-Type":            {"application/json"},
				"User-Agent":              {"hookrelay"},
				"X-Hookrelay-Signature":   {vectorBranded},
				"X-Hookrelay-Event":       {"generation.completed"},
				"X-Hookrelay-Delivery-Id": {vectorMsgID},
				"X-Hookrelay-Timestamp":   {publishedStamp},
				"Webhook-Id":              {vectorMsgID},
				"Webhook-Timestamp":       {"1614265330"},
				"Webhook-Signature":       {vectorSig},
			},
		},
		{
			name:    "two secrets newest first, custom prefix",
			signer:  signing.NewSigner("X-BabySea-", "hookrelay/1.2.3"),
			secrets: []string{secondSecret, vectorSecret},
			want: http.Header{
				"Content-Type":          {"application/json"},
				"User-Agent":            {"hookrelay/1.2.3"},
				"X-Babysea-Signature":   {secondBranded + " " + vectorBranded},
				"X-Babysea-Event":       {"generation.completed"},
				"X-Babysea-Delivery-Id": {vectorMsgID},
				"X-Babysea-Timestamp":   {publishedStamp},
				"Webhook-Id":            {vectorMsgID},
				"Webhook-Timestamp":     {"1614265330"},
				"Webhook-Signature":     {secondSig + " " + vectorSig},
			},
		},
		{
			name:    "order follows the caller",
			signer:  signing.NewSigner("", ""),
			secrets: []string{vectorSecret, secondSecret},
			want: http.Header{
				"Content-Type":            {"application/json"},
				"User-Agent":              {"hookrelay"},
				"X-Hookrelay-Signature":   {vectorBranded + " " + secondBranded},
				"X-Hookrelay-Event":       {"generation.completed"},
				"X-Hookrelay-Delivery-Id": {vectorMsgID},
				"X-Hookrelay-Timestamp":   {publishedStamp},
				"Webhook-Id":              {vectorMsgID},
				"Webhook-Timestamp":       {"1614265330"},
				"Webhook-Signature":       {vectorSig + " " + secondSig},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var secrets []signing.Secret
			for _, s := range tt.secrets {
				secrets = append(secrets, mustParse(t, s))
			}
			// Twice, so a pooled HMAC state that was not reset would show.
			for range 2 {
				h := http.Header{}
				tt.signer.Apply(h, vectorMessage(), secrets, attempt)
				assertHeader(t, h, tt.want)
			}
		})
	}
}

func assertHeader(t *testing.T, got, want http.Header) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("%s = %q, want %q", k, got[k], want[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected header %s = %q", k, got[k])
		}
	}
}

func TestApplyWebhookTimestampIsAttemptTime(t *testing.T) {
	t.Parallel()
	sec := mustParse(t, vectorSecret)
	m := vectorMessage()
	first, retry := http.Header{}, http.Header{}
	signing.NewSigner("", "").Apply(first, m, []signing.Secret{sec}, time.Unix(vectorUnix, 0))
	signing.NewSigner("", "").Apply(retry, m, []signing.Secret{sec}, time.Unix(vectorUnix+7200, 999_999_999))

	if got := retry.Get("Webhook-Timestamp"); got != "1614272530" {
		t.Errorf("retry webhook-timestamp = %q, want 1614272530", got)
	}
	if first.Get("Webhook-Signature") == retry.Get("Webhook-Signature") {
		t.Error("standard signature did not change with the attempt time")
	}
	// The branded scheme signs only the body, which never changes.
	for _, k := range []string{"X-Hookrelay-Signature", "X-Hookrelay-Timestamp"} {
		if first.Get(k) != retry.Get(k) {
			t.Errorf("%s changed between attempts: %q vs %q", k, first.Get(k), retry.Get(k))
		}
	}
}

func TestApplyReplacesExistingValues(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"Webhook-Signature":     {"v1,stale", "v1,stale2"},
		"X-Hookrelay-Signature": {"sha256=stale"},
		"Content-Type":          {"text/plain"},
		"X-Other":               {"kept"},
	}
	signing.NewSigner("", "").Apply(h, vectorMessage(), []signing.Secret{mustParse(t, vectorSecret)}, time.Unix(vectorUnix, 0))
	if got := h.Values("Webhook-Signature"); !slices.Equal(got, []string{vectorSig}) {
		t.Errorf("Webhook-Signature = %q", got)
	}
	if got := h.Values("X-Hookrelay-Signature"); !slices.Equal(got, []string{vectorBranded}) {
		t.Errorf("X-Hookrelay-Signature = %q", got)
	}
	if got := h.Values("Content-Type"); !slices.Equal(got, []string{"application/json"}) {
		t.Errorf("Content-Type = %q", got)
	}
	if got := h.Get("X-Other"); got != "kept" {
		t.Errorf("unrelated header changed: %q", got)
	}
	// Adding to one header must not spill into the shared backing array.
	h.Add("Webhook-Id", "extra")
	if got := h.Values("Webhook-Timestamp"); !slices.Equal(got, []string{"1614265330"}) {
		t.Errorf("Add on Webhook-Id changed Webhook-Timestamp: %q", got)
	}
}

func TestApplyWithoutUsableSecretsSendsNoSignature(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets []signing.Secret
	}{
		{"nil", nil},
		{"only zero secrets", []signing.Secret{{}, {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{"Webhook-Signature": {"v1,stale"}, "X-Hookrelay-Signature": {"sha256=stale"}}
			signing.NewSigner("", "").Apply(h, vectorMessage(), tt.secrets, time.Unix(vectorUnix, 0))
			for _, k := range []string{"Webhook-Signature", "X-Hookrelay-Signature"} {
				if v, ok := h[k]; ok {
					t.Errorf("%s present: %q", k, v)
				}
			}
			if got := h.Get("Webhook-Id"); got != vectorMsgID {
				t.Errorf("Webhook-Id = %q, other headers should still be set", got)
			}
		})
	}
}

func TestApplySkipsZeroSecret(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	secrets := []signing.Secret{{}, mustParse(t, vectorSecret), {}}
	signing.NewSigner("", "").Apply(h, vectorMessage(), secrets, time.Unix(vectorUnix, 0))
	if got := h.Get("Webhook-Signature"); got != vectorSig {
		t.Errorf("Webhook-Signature = %q, want %q", got, vectorSig)
	}
	if got := h.Get("X-Hookrelay-Signature"); got != vectorBranded {
		t.Errorf("X-Hookrelay-Signature = %q, want %q", got, vectorBranded)
	}
}

// The official library must accept every attempt unchanged (SPEC §2). It
// checks tolerance against time.Now, so sign at the current time.
func TestApplyVerifiedByStandardWebhooksLibrary(t *testing.T) {
	t.Parallel()
	fresh, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		signWith []string
		verifyAs string
		wantOK   bool
	}{
		{"one secret", []string{fresh}, fresh, true},
		{"24-byte secret", []string{vectorSecret}, vectorSecret, true},
		{"rotation: newest verifies", []string{fresh, vectorSecret}, fresh, true},
		{"rotation: previous verifies", []string{fresh, vectorSecret}, vectorSecret, true},
		{"other secret fails", []string{fresh}, secondSecret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var secrets []signing.Secret
			for _, s := range tt.signWith {
				secrets = append(secrets, mustParse(t, s))
			}
			h := http.Header{}
			m := signing.Message{DeliveryID: "dlv_2x7Qp", EventType: "generation.completed", Timestamp: publishedStamp, Body: []byte(`{"webhook_event":"generation.completed"}`)}
			signing.NewSigner("", "").Apply(h, m, secrets, time.Now())

			wh, err := standardwebhooks.NewWebhook(tt.verifyAs)
			if err != nil {
				t.Fatalf("NewWebhook: %v", err)
			}
			err = wh.Verify(m.Body, h)
			if tt.wantOK && err != nil {
				t.Fatalf("official library rejects our headers %v: %v", h, err)
			}
			if !tt.wantOK && !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
				t.Fatalf("err = %v, want ErrNoMatchingSignature", err)
			}
		})
	}
}

// Secrets are shared by every dispatcher goroutine; run under -race this
// checks the pooled HMAC states are not shared between concurrent calls.
func TestApplyConcurrent(t *testing.T) {
	t.Parallel()
	secrets := []signing.Secret{mustParse(t, secondSecret), mustParse(t, vectorSecret)}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			prefix := "X-Hookrelay-"
			if g%2 == 1 {
				prefix = "X-BabySea-"
			}
			signer := signing.NewSigner(prefix, "")
			for range 200 {
				h := http.Header{}
				signer.Apply(h, vectorMessage(), secrets, time.Unix(vectorUnix, 0))
				if got, want := h.Get("Webhook-Signature"), secondSig+" "+vectorSig; got != want {
					errs <- fmt.Sprintf("Webhook-Signature = %q, want %q", got, want)
					return
				}
				if got, want := h.Get(prefix+"Signature"), secondBranded+" "+vectorBranded; got != want {
					errs <- fmt.Sprintf("branded = %q, want %q", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func BenchmarkApply(b *testing.B) {
	body := bytes.Repeat([]byte("a"), 1024)
	m := signing.Message{DeliveryID: "dlv_01HZX3T5Q9W8E7R6T5Y4U3I2O1", EventType: "generation.completed", Timestamp: publishedStamp, Body: body}
	signer := signing.NewSigner("", "hookrelay/1.0.0")
	for _, n := range []int{1, 2} {
		secrets := make([]signing.Secret, n)
		for i := range secrets {
			s, err := signing.NewSecret()
			if err != nil {
				b.Fatal(err)
			}
			secrets[i] = mustParse(b, s)
		}
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			now := time.Now()
			for b.Loop() {
				h := make(http.Header, 12)
				signer.Apply(h, m, secrets, now)
			}
		})
	}
}
