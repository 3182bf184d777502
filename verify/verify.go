// Package verify checks that a webhook request really comes from hookrelay.
//
// Every delivery is signed twice with the endpoint's secret (the "whsec_…"
// string shown when the endpoint was created):
//
//   - Standard Webhooks: the webhook-id, webhook-timestamp and
//     webhook-signature headers. The signature covers the delivery id, the
//     time of this attempt and the body, so a captured request cannot be
//     replayed once the tolerance (5 minutes by default) has passed.
//   - Branded: the X-Hookrelay-Signature header (the prefix is configurable
//     by the operator), an HMAC-SHA256 of the body alone.
//
// Verifier.Verify checks the Standard Webhooks signature whenever its header
// is present and falls back to the branded one otherwise. Use
// Verifier.VerifyStandard to insist on the replay-resistant scheme, which
// every hookrelay delivery carries.
//
// All deliveries are at-least-once: de-duplicate on the delivery id
// (webhook-id, or webhook_delivery_id in the body), which never changes
// across retries and replays.
//
// A typical handler:
//
//	v, err := verify.New(os.Getenv("WEBHOOK_SECRET"))
//	...
//	body, err := v.VerifyRequest(r)
//	if err != nil {
//		http.Error(w, "invalid signature", http.StatusUnauthorized)
//		return
//	}
package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Errors returned by the Verify methods, always wrapped with details; test
// for them with errors.Is.
var (
	// ErrMissingHeaders means a header the scheme needs is absent or empty.
	ErrMissingHeaders = errors.New("missing signature headers")
	// ErrInvalidSignature means no signature in the request matches any
	// secret: the body or headers were altered, the secret is wrong, or the
	// signature header is malformed.
	ErrInvalidSignature = errors.New("invalid signature")
	// ErrTimestampOutOfTolerance means the signature is valid but
	// webhook-timestamp is too far from the clock: a replayed request, or
	// clocks that disagree.
	ErrTimestampOutOfTolerance = errors.New("timestamp outside tolerance")
	// ErrInvalidTimestamp means webhook-timestamp is not unix seconds.
	ErrInvalidTimestamp = errors.New("invalid timestamp")
	// ErrBodyTooLarge is returned by VerifyRequest for bodies over the
	// limit set with WithMaxBody; answer it with 413.
	ErrBodyTooLarge = errors.New("request body too large")
)

// Defaults of the options.
const (
	DefaultTolerance    = 5 * time.Minute
	DefaultHeaderPrefix = "X-Hookrelay-"
	DefaultMaxBody      = 1 << 20
)

// Standard Webhooks header names.
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

const (
	secretPrefix = "whsec_"
	// Decoded key bounds: 24 bytes admits the Standard Webhooks reference
	// secrets; 64 is the HMAC-SHA256 block size.
	minKeyBytes = 24
	maxKeyBytes = 64

	// The longest timestamp we parse: an int64 has at most 19 digits.
	maxTimestampDigits = 19
)

// Option configures a Verifier.
type Option func(*config)

type config struct {
	tolerance time.Duration
	prefix    string
	now       func() time.Time
	maxBody   int64
	errs      []error
}

// WithTolerance sets how far webhook-timestamp may be from the clock, in
// either direction. It must be positive; the default is 5 minutes.
func WithTolerance(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.errs = append(c.errs, fmt.Errorf("tolerance must be positive, got %s", d))
			return
		}
		c.tolerance = d
	}
}

// WithHeaderPrefix sets the prefix of the branded headers, as configured on
// the hookrelay server (e.g. "X-BabySea-"). The default is "X-Hookrelay-".
func WithHeaderPrefix(prefix string) Option {
	return func(c *config) {
		if prefix == "" {
			c.errs = append(c.errs, errors.New("header prefix must not be empty"))
			return
		}
		c.prefix = prefix
	}
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now == nil {
			c.errs = append(c.errs, errors.New("clock must not be nil"))
			return
		}
		c.now = now
	}
}

// WithMaxBody sets the largest body VerifyRequest reads, in bytes. The
// default is 1 MiB.
func WithMaxBody(n int64) Option {
	return func(c *config) {
		if n <= 0 {
			c.errs = append(c.errs, fmt.Errorf("max body must be positive, got %d", n))
			return
		}
		c.maxBody = n
	}
}

// Verifier checks signed requests against one or more secrets. It is safe
// for concurrent use.
type Verifier struct {
	keys             []key
	tolerance        time.Duration
	now              func() time.Time
	maxBody          int64
	brandedSigHeader string // canonical <prefix>Signature
}

// key holds the two HMAC keys derived from one secret.
type key struct {
	branded  []byte // the whole "whsec_…" string, as the branded scheme uses it
	standard []byte // the decoded base64 part, as Standard Webhooks uses it
}

// New returns a Verifier for one secret, the "whsec_…" string exactly as
// hookrelay showed it.
func New(secret string, opts ...Option) (*Verifier, error) {
	return NewMulti([]string{secret}, opts...)
}

// NewMulti returns a Verifier that accepts a signature made with any of
// secrets. Use it while moving to a rotated secret: keep the old one until
// the operator's grace period ends.
func NewMulti(secrets []string, opts ...Option) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("verify: no secret given")
	}
	c := config{
		tolerance: DefaultTolerance,
		prefix:    DefaultHeaderPrefix,
		now:       time.Now,
		maxBody:   DefaultMaxBody,
	}
	for _, o := range opts {
		o(&c)
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, fmt.Errorf("verify: invalid option: %w", err)
	}
	v := &Verifier{
		keys:             make([]key, 0, len(secrets)),
		tolerance:        c.tolerance,
		now:              c.now,
		maxBody:          c.maxBody,
		brandedSigHeader: textproto.CanonicalMIMEHeaderKey(c.prefix + "Signature"),
	}
	for i, s := range secrets {
		k, err := parseSecret(s)
		if err != nil {
			// The index, not the value: errors get logged and the value
			// is a secret.
			return nil, fmt.Errorf("verify: secret %d: %w", i, err)
		}
		v.keys = append(v.keys, k)
	}
	return v, nil
}

func parseSecret(s string) (key, error) {
	enc, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return key{}, fmt.Errorf("must start with %q (copy the whole secret)", secretPrefix)
	}
	// Padded or not: a trailing "=" is easily lost when pasting.
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		var rawErr error
		if raw, rawErr = base64.RawStdEncoding.DecodeString(enc); rawErr != nil {
			return key{}, fmt.Errorf("part after %q is not base64: %v", secretPrefix, err)
		}
	}
	if len(raw) < minKeyBytes || len(raw) > maxKeyBytes {
		return key{}, fmt.Errorf("decodes to %d bytes, want %d to %d", len(raw), minKeyBytes, maxKeyBytes)
	}
	return key{branded: []byte(s), standard: raw}, nil
}

// Verify checks body and headers with the Standard Webhooks scheme when a
// webhook-signature header is present, and with the branded scheme
// otherwise. A present but failing webhook-signature is an error even if a
// valid branded signature is there too.
//
// The branded fallback has no replay protection (see VerifyBranded): someone
// who captured a delivery can strip its webhook-* headers and send it again
// through this fallback. hookrelay always sends both schemes, so a receiver
// that only talks to hookrelay should prefer VerifyStandard, or de-duplicate
// on the delivery id.
func (v *Verifier) Verify(body []byte, h http.Header) error {
	if len(h.Values(HeaderWebhookSignature)) > 0 {
		return v.VerifyStandard(body, h)
	}
	if len(h.Values(v.brandedSigHeader)) == 0 {
		return fmt.Errorf("verify: neither %s nor %s present: %w", HeaderWebhookSignature, v.brandedSigHeader, ErrMissingHeaders)
	}
	return v.VerifyBranded(body, h)
}

// VerifyStandard checks the Standard Webhooks signature: HMAC-SHA256 of
// "webhook-id.webhook-timestamp.body" keyed with the decoded secret. Any
// "v1," signature in webhook-signature matching any secret passes; other
// versions are ignored. webhook-timestamp must be within the tolerance of
// the clock in both directions; it is checked after the signature, so
// ErrTimestampOutOfTolerance is only reported for authentic requests.
func (v *Verifier) VerifyStandard(body []byte, h http.Header) error {
	id := h.Get(HeaderWebhookID)
	ts := h.Get(HeaderWebhookTimestamp)
	sigs := h.Values(HeaderWebhookSignature)
	if missing := missingNames(id == "", ts == "", !hasValue(sigs)); missing != "" {
		return fmt.Errorf("verify: standard webhooks: %s absent: %w", missing, ErrMissingHeaders)
	}
	unix, err := parseUnix(ts)
	if err != nil {
		return fmt.Errorf("verify: standard webhooks: %s %.32q: %w", HeaderWebhookTimestamp, ts, err)
	}

	// The signed content uses the header text as received, as the
	// specification defines it; parseUnix admits only plain digits, so
	// this equals the official libraries' re-formatted integer.
	prefix := make([]byte, 0, len(id)+len(ts)+2)
	prefix = append(prefix, id...)
	prefix = append(prefix, '.')
	prefix = append(prefix, ts...)
	prefix = append(prefix, '.')
	expected := make([][base64Len]byte, len(v.keys))
	for i, k := range v.keys {
		mac := hmac.New(sha256.New, k.standard)
		mac.Write(prefix)
		mac.Write(body)
		base64.StdEncoding.Encode(expected[i][:], mac.Sum(nil))
	}

	seenV1 := false
	matched := false
	for _, line := range sigs {
		for _, sig := range strings.Fields(line) {
			version, value, ok := strings.Cut(sig, ",")
			if !ok || version != "v1" {
				continue // other versions are allowed to coexist
			}
			seenV1 = true
			if matchAny(expected, value) {
				matched = true
				break
			}
		}
		if matched {
			break
		}
	}
	if !matched {
		if !seenV1 {
			return fmt.Errorf("verify: standard webhooks: no v1 signature in %s: %w", HeaderWebhookSignature, ErrInvalidSignature)
		}
		return fmt.Errorf("verify: standard webhooks: no v1 signature matches %d secret(s): %w", len(v.keys), ErrInvalidSignature)
	}

	now := v.now()
	sent := time.Unix(unix, 0)
	if d := now.Sub(sent); d > v.tolerance {
		return fmt.Errorf("verify: standard webhooks: %s is %s old, tolerance %s: %w", HeaderWebhookTimestamp, d.Round(time.Second), v.tolerance, ErrTimestampOutOfTolerance)
	}
	if d := sent.Sub(now); d > v.tolerance {
		return fmt.Errorf("verify: standard webhooks: %s is %s in the future, tolerance %s: %w", HeaderWebhookTimestamp, d.Round(time.Second), v.tolerance, ErrTimestampOutOfTolerance)
	}
	return nil
}

const base64Len = (sha256.Size + 2) / 3 * 4

func matchAny(expected [][base64Len]byte, value string) bool {
	if len(value) != base64Len {
		return false
	}
	got := []byte(value)
	for i := range expected {
		if hmac.Equal(expected[i][:], got) {
			return true
		}
	}
	return false
}

// parseUnix accepts only plain decimal digits: strconv would also take a
// sign, and a looser parse would let two header texts name one time.
func parseUnix(s string) (int64, error) {
	if len(s) > maxTimestampDigits {
		return 0, fmt.Errorf("too long: %w", ErrInvalidTimestamp)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("not unix seconds: %w", ErrInvalidTimestamp)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%v: %w", err, ErrInvalidTimestamp)
	}
	return n, nil
}

// VerifyBranded checks the branded signature: "sha256=" and the hex
// HMAC-SHA256 of the body, keyed with the whole secret string. Several
// space-separated signatures may be present (during a secret rotation); any
// one matching any secret passes.
//
// No time tolerance is applied. The branded timestamp header is the time
// the event was published, which stays the same on retries hours later and
// on replays days later, so rejecting old values would reject legitimate
// deliveries. The consequence is that a captured request can be replayed:
// de-duplicate on the delivery id, or use VerifyStandard, whose timestamp
// is the time of each attempt.
func (v *Verifier) VerifyBranded(body []byte, h http.Header) error {
	sigs := h.Values(v.brandedSigHeader)
	if !hasValue(sigs) {
		return fmt.Errorf("verify: branded: %s absent: %w", v.brandedSigHeader, ErrMissingHeaders)
	}
	expected := make([][sha256.Size]byte, len(v.keys))
	for i, k := range v.keys {
		mac := hmac.New(sha256.New, k.branded)
		mac.Write(body)
		mac.Sum(expected[i][:0])
	}

	seen := false
	for _, line := range sigs {
		for _, sig := range strings.Fields(line) {
			value, ok := strings.CutPrefix(sig, "sha256=")
			if !ok {
				continue
			}
			seen = true
			var got [sha256.Size]byte
			if len(value) != hex.EncodedLen(sha256.Size) {
				continue
			}
			if _, err := hex.Decode(got[:], []byte(value)); err != nil {
				continue
			}
			for i := range expected {
				if hmac.Equal(expected[i][:], got[:]) {
					return nil
				}
			}
		}
	}
	if !seen {
		return fmt.Errorf("verify: branded: no sha256= signature in %s: %w", v.brandedSigHeader, ErrInvalidSignature)
	}
	return fmt.Errorf("verify: branded: no signature matches %d secret(s): %w", len(v.keys), ErrInvalidSignature)
}

// VerifyRequest reads r's body (at most the WithMaxBody limit, 1 MiB by
// default), verifies it with Verify and returns it. It replaces r.Body with
// a reader over the same bytes, so later handlers can read it again. A body
// over the limit fails with ErrBodyTooLarge before any verification.
func (v *Verifier) VerifyRequest(r *http.Request) ([]byte, error) {
	if r.ContentLength > v.maxBody {
		return nil, fmt.Errorf("verify: body of %d bytes exceeds limit of %d: %w", r.ContentLength, v.maxBody, ErrBodyTooLarge)
	}
	var body []byte
	if r.Body != nil {
		var err error
		// One byte over the limit tells "exactly at the limit" from "over".
		limit := v.maxBody
		if limit < math.MaxInt64 {
			limit++
		}
		body, err = io.ReadAll(io.LimitReader(r.Body, limit))
		if err != nil {
			return nil, fmt.Errorf("verify: read body: %w", err)
		}
		if int64(len(body)) > v.maxBody {
			return nil, fmt.Errorf("verify: body exceeds limit of %d bytes: %w", v.maxBody, ErrBodyTooLarge)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if err := v.Verify(body, r.Header); err != nil {
		return nil, err
	}
	return body, nil
}

func hasValue(vals []string) bool {
	for _, s := range vals {
		if strings.TrimSpace(s) != "" {
			return true
		}
	}
	return false
}

func missingNames(id, ts, sig bool) string {
	var names []string
	if id {
		names = append(names, HeaderWebhookID)
	}
	if ts {
		names = append(names, HeaderWebhookTimestamp)
	}
	if sig {
		names = append(names, HeaderWebhookSignature)
	}
	return strings.Join(names, ", ")
}
