package verify_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/verify"
)

const (
	// The Standard Webhooks specification's test vector.
	vectorSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorMsgID   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorUnix    = 1614265330
	vectorPayload = `{"test": 2432232314}`
	vectorSig     = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

	secretA = "whsec_ax8OTJo9Xn+KGyw9Tl9gcYKTpLXG1+j5ChssPU5fYHE="
	secretB = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	secretC = "whsec_c2VjcmV0LWMtc2VjcmV0LWMtc2VjcmV0LWMtc2U="

	testID   = "dlv_2x7QpL9mN4"
	testBody = `{"webhook_event":"generation.completed","webhook_timestamp":"2026-05-12T12:00:00.000Z","webhook_delivery_id":"dlv_2x7QpL9mN4","webhook_data":{"generation_id":"gen_81a"}}`
)

var testNow = time.Unix(1778587260, 0)

func fixedClock(t time.Time) verify.Option {
	return verify.WithClock(func() time.Time { return t })
}

// The signers below are written out independently of both packages under
// test, straight from SPEC §2, so a shared mistake would not cancel out.

func stdSig(t testing.TB, secret, id string, ts int64, body string) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatalf("test secret %q: %v", secret, err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "." + body))
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func brandedSig(secret, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func stdHeader(id string, ts int64, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", sig)
	return h
}

func TestVerifyStandard(t *testing.T) {
	t.Parallel()
	now := testNow.Unix()
	good := stdSig(t, secretA, testID, now, testBody)
	at := func(ts int64) http.Header { return stdHeader(testID, ts, stdSig(t, secretA, testID, ts, testBody)) }
	with := func(h http.Header, k, v string) http.Header { h.Set(k, v); return h }
	without := func(h http.Header, k string) http.Header { h.Del(k); return h }
	tol := int64(verify.DefaultTolerance / time.Second)

	tests := []struct {
		name    string
		secrets []string
		body    string
		header  http.Header
		want    error // nil: verifies
	}{
		{"valid", []string{secretA}, testBody, stdHeader(testID, now, good), nil},
		{"tampered body", []string{secretA}, testBody + " ", stdHeader(testID, now, good), verify.ErrInvalidSignature},
		{"empty body", []string{secretA}, "", stdHeader(testID, now, good), verify.ErrInvalidSignature},
		{"wrong secret", []string{secretB}, testBody, stdHeader(testID, now, good), verify.ErrInvalidSignature},
		{"tampered id", []string{secretA}, testBody, stdHeader("dlv_other", now, good), verify.ErrInvalidSignature},
		{"tampered timestamp", []string{secretA}, testBody, stdHeader(testID, now+1, good), verify.ErrInvalidSignature},
		{"expired", []string{secretA}, testBody, at(now - tol - 1), verify.ErrTimestampOutOfTolerance},
		{"oldest accepted", []string{secretA}, testBody, at(now - tol), nil},
		{"future", []string{secretA}, testBody, at(now + tol + 1), verify.ErrTimestampOutOfTolerance},
		{"latest accepted", []string{secretA}, testBody, at(now + tol), nil},
		{"hours old retry would need a fresh timestamp", []string{secretA}, testBody, at(now - 7200), verify.ErrTimestampOutOfTolerance},
		{"expired and forged reports the forgery", []string{secretA}, testBody, stdHeader(testID, now-3600, good), verify.ErrInvalidSignature},
		{"second of two signatures matches", []string{secretA}, testBody,
			stdHeader(testID, now, stdSig(t, secretB, testID, now, testBody)+" "+good), nil},
		{"second of two secrets matches", []string{secretB, secretA}, testBody, stdHeader(testID, now, good), nil},
		{"no signature matches any secret", []string{secretB, secretC}, testBody, stdHeader(testID, now, good), verify.ErrInvalidSignature},
		{"unknown versions ignored", []string{secretA}, testBody,
			stdHeader(testID, now, "v2,abc v1a,"+strings.TrimPrefix(good, "v1,")+" "+good), nil},
		{"only unknown versions", []string{secretA}, testBody,
			stdHeader(testID, now, "v2,"+strings.TrimPrefix(good, "v1,")), verify.ErrInvalidSignature},
		{"signatures split over header lines", []string{secretA}, testBody,
			func() http.Header { h := stdHeader(testID, now, "v1,AAAA"); h.Add("webhook-signature", good); return h }(), nil},
		{"extra spaces", []string{secretA}, testBody, stdHeader(testID, now, "  "+good+"  "), nil},
		{"signature without version", []string{secretA}, testBody, stdHeader(testID, now, strings.TrimPrefix(good, "v1,")), verify.ErrInvalidSignature},
		{"signature not base64", []string{secretA}, testBody, stdHeader(testID, now, "v1,!!!!"), verify.ErrInvalidSignature},
		{"signature empty after version", []string{secretA}, testBody, stdHeader(testID, now, "v1,"), verify.ErrInvalidSignature},
		{"signature truncated", []string{secretA}, testBody, stdHeader(testID, now, good[:len(good)-1]), verify.ErrInvalidSignature},
		{"signature lowercased", []string{secretA}, testBody, stdHeader(testID, now, strings.ToLower(good)), verify.ErrInvalidSignature},
		{"timestamp not a number", []string{secretA}, testBody, with(stdHeader(testID, now, good), "webhook-timestamp", "yesterday"), verify.ErrInvalidTimestamp},
		{"timestamp with sign", []string{secretA}, testBody, with(stdHeader(testID, now, good), "webhook-timestamp", "+"+strconv.FormatInt(now, 10)), verify.ErrInvalidTimestamp},
		{"timestamp negative", []string{secretA}, testBody, with(stdHeader(testID, now, good), "webhook-timestamp", "-1"), verify.ErrInvalidTimestamp},
		{"timestamp in milliseconds", []string{secretA}, testBody, at(now * 1000), verify.ErrTimestampOutOfTolerance},
		{"timestamp overflows int64", []string{secretA}, testBody, with(stdHeader(testID, now, good), "webhook-timestamp", "9999999999999999999"), verify.ErrInvalidTimestamp},
		{"timestamp far too long", []string{secretA}, testBody, with(stdHeader(testID, now, good), "webhook-timestamp", strings.Repeat("1", 400)), verify.ErrInvalidTimestamp},
		{"missing id", []string{secretA}, testBody, without(stdHeader(testID, now, good), "webhook-id"), verify.ErrMissingHeaders},
		{"missing timestamp", []string{secretA}, testBody, without(stdHeader(testID, now, good), "webhook-timestamp"), verify.ErrMissingHeaders},
		{"missing signature", []string{secretA}, testBody, without(stdHeader(testID, now, good), "webhook-signature"), verify.ErrMissingHeaders},
		{"blank signature", []string{secretA}, testBody, with(stdHeader(testID, now, good), "webhook-signature", "   "), verify.ErrMissingHeaders},
		{"no headers", []string{secretA}, testBody, http.Header{}, verify.ErrMissingHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := verify.NewMulti(tt.secrets, fixedClock(testNow))
			if err != nil {
				t.Fatalf("NewMulti: %v", err)
			}
			// Verify must route these to the standard scheme too.
			for name, fn := range map[string]func([]byte, http.Header) error{"VerifyStandard": v.VerifyStandard, "Verify": v.Verify} {
				err := fn([]byte(tt.body), tt.header)
				checkErr(t, name, err, tt.want)
			}
		})
	}
}

func checkErr(t *testing.T, op string, got, want error) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Errorf("%s: unexpected error: %v", op, got)
		}
		return
	}
	if !errors.Is(got, want) {
		t.Errorf("%s: err = %v, want %v", op, got, want)
	}
}

func TestVerifyBranded(t *testing.T) {
	t.Parallel()
	good := brandedSig(secretA, testBody)
	hdr := func(prefix string, sigs ...string) http.Header {
		h := http.Header{}
		for _, s := range sigs {
			h.Add(prefix+"Signature", s)
		}
		h.Set(prefix+"Timestamp", "2026-05-12T12:00:00.000Z")
		return h
	}
	tests := []struct {
		name    string
		secrets []string
		opts    []verify.Option
		body    string
		header  http.Header
		want    error
	}{
		{"valid", []string{secretA}, nil, testBody, hdr("X-Hookrelay-", good), nil},
		{"tampered body", []string{secretA}, nil, testBody + " ", hdr("X-Hookrelay-", good), verify.ErrInvalidSignature},
		{"wrong secret", []string{secretB}, nil, testBody, hdr("X-Hookrelay-", good), verify.ErrInvalidSignature},
		{"second of two signatures matches", []string{secretA}, nil, testBody, hdr("X-Hookrelay-", brandedSig(secretB, testBody)+" "+good), nil},
		{"second of two secrets matches", []string{secretC, secretA}, nil, testBody, hdr("X-Hookrelay-", good), nil},
		{"signatures split over header lines", []string{secretA}, nil, testBody, hdr("X-Hookrelay-", "sha256=00", good), nil},
		{"uppercase hex", []string{secretA}, nil, testBody, hdr("X-Hookrelay-", "sha256="+strings.ToUpper(strings.TrimPrefix(good, "sha256="))), nil},
		{"publish time days old is not checked", []string{secretA}, []verify.Option{fixedClock(testNow.Add(30 * 24 * time.Hour))}, testBody, hdr("X-Hookrelay-", good), nil},
		{"key is the whole secret string, not the decoded bytes", []string{secretA}, nil, testBody,
			hdr("X-Hookrelay-", func() string {
				raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secretA, "whsec_"))
				return brandedSig(string(raw), testBody)
			}()), verify.ErrInvalidSignature},
		{"missing algorithm", []string{secretA}, nil, testBody, hdr("X-Hookrelay-", strings.TrimPrefix(good, "sha256=")), verify.ErrInvalidSignature},
		{"other algorithm", []string{secretA}, nil, testBody, hdr("X-Hookrelay-", "sha1="+strings.TrimPrefix(good, "sha256=")), verify.ErrInvalidSignature},
		{"not hex", []string{secretA}, nil, testBody, hdr("X-Hookrelay-", "sha256="+strings.Repeat("zz", 32)), verify.ErrInvalidSignature},
		{"truncated", []string{secretA}, nil, testBody, hdr("X-Hookrelay-", good[:len(good)-2]), verify.ErrInvalidSignature},
		{"too long", []string{secretA}, nil, testBody, hdr("X-Hookrelay-", good+"00"), verify.ErrInvalidSignature},
		{"custom prefix", []string{secretA}, []verify.Option{verify.WithHeaderPrefix("X-BabySea-")}, testBody, hdr("X-BabySea-", good), nil},
		{"custom prefix, lowercase on the wire", []string{secretA}, []verify.Option{verify.WithHeaderPrefix("X-BabySea-")}, testBody,
			http.Header{"X-Babysea-Signature": {good}}, nil},
		{"prefix mismatch", []string{secretA}, nil, testBody, hdr("X-BabySea-", good), verify.ErrMissingHeaders},
		{"blank signature", []string{secretA}, nil, testBody, hdr("X-Hookrelay-", " "), verify.ErrMissingHeaders},
		{"no headers", []string{secretA}, nil, testBody, http.Header{}, verify.ErrMissingHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := verify.NewMulti(tt.secrets, tt.opts...)
			if err != nil {
				t.Fatalf("NewMulti: %v", err)
			}
			// Without webhook-signature, Verify must fall back to the branded scheme.
			for name, fn := range map[string]func([]byte, http.Header) error{"VerifyBranded": v.VerifyBranded, "Verify": v.Verify} {
				checkErr(t, name, fn([]byte(tt.body), tt.header), tt.want)
			}
		})
	}
}

// Verify picks the scheme by the presence of webhook-signature, and does not
// fall back to the branded scheme when the standard one fails: otherwise a
// replayed request would pass by breaking its standard signature.
func TestVerifySchemeSelection(t *testing.T) {
	t.Parallel()
	now := testNow.Unix()
	goodStd := stdSig(t, secretA, testID, now, testBody)
	goodBranded := brandedSig(secretA, testBody)
	tests := []struct {
		name   string
		header http.Header
		want   error
	}{
		{"both valid", http.Header{
			"Webhook-Id": {testID}, "Webhook-Timestamp": {strconv.FormatInt(now, 10)}, "Webhook-Signature": {goodStd},
			"X-Hookrelay-Signature": {goodBranded}}, nil},
		{"standard forged, branded valid", http.Header{
			"Webhook-Id": {testID}, "Webhook-Timestamp": {strconv.FormatInt(now, 10)}, "Webhook-Signature": {"v1,AAAA"},
			"X-Hookrelay-Signature": {goodBranded}}, verify.ErrInvalidSignature},
		{"standard expired, branded valid", http.Header{
			"Webhook-Id": {testID}, "Webhook-Timestamp": {strconv.FormatInt(now-3600, 10)},
			"Webhook-Signature":     {stdSig(t, secretA, testID, now-3600, testBody)},
			"X-Hookrelay-Signature": {goodBranded}}, verify.ErrTimestampOutOfTolerance},
		{"standard empty, branded valid", http.Header{
			"Webhook-Id": {testID}, "Webhook-Timestamp": {strconv.FormatInt(now, 10)}, "Webhook-Signature": {""},
			"X-Hookrelay-Signature": {goodBranded}}, verify.ErrMissingHeaders},
		{"branded only", http.Header{"X-Hookrelay-Signature": {goodBranded}}, nil},
		{"branded forged, standard valid", http.Header{
			"Webhook-Id": {testID}, "Webhook-Timestamp": {strconv.FormatInt(now, 10)}, "Webhook-Signature": {goodStd},
			"X-Hookrelay-Signature": {"sha256=00"}}, nil},
		{"neither", http.Header{"Content-Type": {"application/json"}}, verify.ErrMissingHeaders},
	}
	v, err := verify.New(secretA, fixedClock(testNow))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		checkErr(t, tt.name, v.Verify([]byte(testBody), tt.header), tt.want)
	}

	// The explicit methods look only at their own headers.
	branded := http.Header{"X-Hookrelay-Signature": {goodBranded}}
	checkErr(t, "VerifyStandard on branded-only", v.VerifyStandard([]byte(testBody), branded), verify.ErrMissingHeaders)
	standard := stdHeader(testID, now, goodStd)
	checkErr(t, "VerifyBranded on standard-only", v.VerifyBranded([]byte(testBody), standard), verify.ErrMissingHeaders)
}

func TestStandardWebhooksTestVector(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"at signing time", time.Unix(vectorUnix, 0), nil},
		{"four minutes later", time.Unix(vectorUnix+240, 0), nil},
		{"an hour later", time.Unix(vectorUnix+3600, 0), verify.ErrTimestampOutOfTolerance},
		{"today", testNow, verify.ErrTimestampOutOfTolerance},
	}
	h := stdHeader(vectorMsgID, vectorUnix, vectorSig)
	for _, tt := range tests {
		v, err := verify.New(vectorSecret, fixedClock(tt.now))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		checkErr(t, tt.name, v.Verify([]byte(vectorPayload), h), tt.want)
	}
	// Guards the vector itself against a typo in the constants above.
	if got := stdSig(t, vectorSecret, vectorMsgID, vectorUnix, vectorPayload); got != vectorSig {
		t.Fatalf("test vector recomputes to %s", got)
	}
}

// Signatures made by the official Standard Webhooks Go library verify.
func TestOfficialLibrarySignatures(t *testing.T) {
	t.Parallel()
	fresh, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		signWith string
		verifier []string
		ts       time.Time
		want     error
	}{
		{"fresh secret", fresh, []string{fresh}, testNow, nil},
		{"vector secret", vectorSecret, []string{vectorSecret}, testNow, nil},
		{"one of several secrets", fresh, []string{secretA, fresh}, testNow, nil},
		{"other secret", fresh, []string{secretA}, testNow, verify.ErrInvalidSignature},
		{"stale", fresh, []string{fresh}, testNow.Add(-10 * time.Minute), verify.ErrTimestampOutOfTolerance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wh, err := standardwebhooks.NewWebhook(tt.signWith)
			if err != nil {
				t.Fatalf("NewWebhook: %v", err)
			}
			sig, err := wh.Sign(testID, tt.ts, []byte(testBody))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			h := stdHeader(testID, tt.ts.Unix(), sig)
			v, err := verify.NewMulti(tt.verifier, fixedClock(testNow))
			if err != nil {
				t.Fatalf("NewMulti: %v", err)
			}
			checkErr(t, "Verify", v.Verify([]byte(testBody), h), tt.want)
		})
	}
}

// What the dispatcher sends verifies with this package, for both schemes,
// during a rotation with either secret alone.
func TestSigningApplyRoundTrip(t *testing.T) {
	t.Parallel()
	newest, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	parse := func(s string) signing.Secret {
		sec, err := signing.ParseSecret(s)
		if err != nil {
			t.Fatalf("ParseSecret: %v", err)
		}
		return sec
	}
	tests := []struct {
		name     string
		prefix   string
		signWith []string
		verifier string
		want     error
	}{
		{"one secret", "", []string{newest}, newest, nil},
		{"rotation: newest alone", "", []string{newest, secretA}, newest, nil},
		{"rotation: previous alone", "", []string{newest, secretA}, secretA, nil},
		{"custom prefix", "X-BabySea-", []string{newest}, newest, nil},
		{"unrelated secret", "", []string{newest, secretA}, secretB, verify.ErrInvalidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var secrets []signing.Secret
			for _, s := range tt.signWith {
				secrets = append(secrets, parse(s))
			}
			m := signing.Message{DeliveryID: testID, EventType: "generation.completed", Timestamp: "2026-05-12T12:00:00.000Z", Body: []byte(testBody)}
			h := http.Header{}
			// A retry two hours after publishing: only webhook-timestamp moves.
			signing.NewSigner(tt.prefix, "").Apply(h, m, secrets, testNow.Add(2*time.Hour))

			opts := []verify.Option{fixedClock(testNow.Add(2*time.Hour + 30*time.Second))}
			if tt.prefix != "" {
				opts = append(opts, verify.WithHeaderPrefix(tt.prefix))
			}
			v, err := verify.New(tt.verifier, opts...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			checkErr(t, "VerifyStandard", v.VerifyStandard(m.Body, h), tt.want)
			checkErr(t, "VerifyBranded", v.VerifyBranded(m.Body, h), tt.want)
			checkErr(t, "Verify", v.Verify(m.Body, h), tt.want)
		})
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets []string
		opts    []verify.Option
	}{
		{"no secrets", nil, nil},
		{"empty secret", []string{""}, nil},
		{"missing prefix", []string{strings.TrimPrefix(secretA, "whsec_")}, nil},
		{"not base64", []string{"whsec_" + strings.Repeat("*", 44)}, nil},
		{"too short", []string{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16))}, nil},
		{"too long", []string{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65))}, nil},
		{"second secret bad", []string{secretA, "whsec_nope"}, nil},
		{"zero tolerance", []string{secretA}, []verify.Option{verify.WithTolerance(0)}},
		{"negative tolerance", []string{secretA}, []verify.Option{verify.WithTolerance(-time.Minute)}},
		{"empty prefix", []string{secretA}, []verify.Option{verify.WithHeaderPrefix("")}},
		{"nil clock", []string{secretA}, []verify.Option{verify.WithClock(nil)}},
		{"zero max body", []string{secretA}, []verify.Option{verify.WithMaxBody(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := verify.NewMulti(tt.secrets, tt.opts...)
			if err == nil {
				t.Fatalf("NewMulti succeeded: %+v", v)
			}
			for _, s := range tt.secrets {
				if enc := strings.TrimPrefix(s, "whsec_"); len(enc) > 8 && strings.Contains(err.Error(), enc) {
					t.Fatalf("error leaks a secret: %v", err)
				}
			}
		})
	}

	// Unpadded secrets are accepted: trailing "=" gets lost in copy-paste.
	if _, err := verify.New(strings.TrimRight(secretA, "=")); err != nil {
		t.Errorf("unpadded secret rejected: %v", err)
	}
}

func TestWithTolerance(t *testing.T) {
	t.Parallel()
	ts := testNow.Add(-10 * time.Minute).Unix()
	h := stdHeader(testID, ts, stdSig(t, secretA, testID, ts, testBody))
	tests := []struct {
		tolerance time.Duration
		want      error
	}{
		{5 * time.Minute, verify.ErrTimestampOutOfTolerance},
		{10 * time.Minute, nil},
		{time.Hour, nil},
	}
	for _, tt := range tests {
		v, err := verify.New(secretA, fixedClock(testNow), verify.WithTolerance(tt.tolerance))
		if err != nil {
			t.Fatal(err)
		}
		checkErr(t, tt.tolerance.String(), v.Verify([]byte(testBody), h), tt.want)
	}
}

func TestVerifyRequest(t *testing.T) {
	t.Parallel()
	now := testNow.Unix()
	signed := func(body string) http.Header {
		return stdHeader(testID, now, stdSig(t, secretA, testID, now, body))
	}
	tests := []struct {
		name    string
		maxBody int64
		body    string
		header  http.Header
		// contentLength overrides the declared length when non-zero.
		contentLength int64
		want          error
	}{
		{"valid", 0, testBody, signed(testBody), 0, nil},
		{"exactly at limit", int64(len(testBody)), testBody, signed(testBody), 0, nil},
		{"one byte over limit", int64(len(testBody)) - 1, testBody, signed(testBody), 0, verify.ErrBodyTooLarge},
		{"over limit with unknown length", int64(len(testBody)) - 1, testBody, signed(testBody), -1, verify.ErrBodyTooLarge},
		{"declared length over limit", 10, "", signed(""), 1 << 30, verify.ErrBodyTooLarge},
		{"tampered", 0, testBody + "x", signed(testBody), 0, verify.ErrInvalidSignature},
		{"unsigned", 0, testBody, http.Header{}, 0, verify.ErrMissingHeaders},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := []verify.Option{fixedClock(testNow)}
			if tt.maxBody > 0 {
				opts = append(opts, verify.WithMaxBody(tt.maxBody))
			}
			v, err := verify.New(secretA, opts...)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(tt.body))
			r.Header = tt.header
			if tt.contentLength != 0 {
				r.ContentLength = tt.contentLength
			}
			got, err := v.VerifyRequest(r)
			checkErr(t, "VerifyRequest", err, tt.want)
			if tt.want != nil {
				if got != nil {
					t.Errorf("returned a body with an error: %q", got)
				}
				return
			}
			if string(got) != tt.body {
				t.Errorf("body = %q, want %q", got, tt.body)
			}
			again, err := io.ReadAll(r.Body)
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("r.Body after verification = %q, %v; want the same bytes", again, err)
			}
		})
	}
}

func TestVerifyRequestNilBody(t *testing.T) {
	t.Parallel()
	v, err := verify.New(secretA, fixedClock(testNow))
	if err != nil {
		t.Fatal(err)
	}
	now := testNow.Unix()
	r := &http.Request{Method: http.MethodPost, Header: stdHeader(testID, now, stdSig(t, secretA, testID, now, ""))}
	body, err := v.VerifyRequest(r)
	if err != nil || len(body) != 0 {
		t.Fatalf("VerifyRequest = %q, %v; want empty body, nil", body, err)
	}
}
