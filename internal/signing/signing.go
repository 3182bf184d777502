// Package signing creates endpoint secrets and puts the signature headers of
// SPEC §2 on every outgoing delivery.
//
// Each request carries two independent signatures made from one secret:
//
//   - the branded scheme, <prefix>Signature: sha256=<hex HMAC-SHA256(body)>,
//     keyed with the secret string exactly as the customer copied it
//     ("whsec_…"), so a receiver can verify it with a few lines of code;
//   - the Standard Webhooks scheme, webhook-signature: v1,<base64 HMAC-SHA256
//     of "id.timestamp.body">, keyed with the base64-decoded secret, so the
//     official standardwebhooks libraries verify it unchanged.
//
// Apply runs once per attempt at thousands of deliveries per second, so
// secrets are decoded once by ParseSecret and HMAC states are pooled per
// secret instead of being rebuilt for every request.
package signing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SecretPrefix starts every endpoint secret, as with Svix and Standard Webhooks.
const SecretPrefix = "whsec_"

// Defaults used when a Signer field is left empty.
const (
	DefaultHeaderPrefix = "X-Hookrelay-"
	DefaultUserAgent    = "hookrelay"
)

const (
	// newSecretBytes is the entropy of secrets we generate (SPEC §2).
	newSecretBytes = 32
	// Decoded key bounds accepted by ParseSecret. 24 bytes admits the
	// Standard Webhooks test secret and secrets imported from other
	// providers; 64 is the HMAC-SHA256 block size, beyond which HMAC hashes
	// the key first and nothing is gained.
	minKeyBytes = 24
	maxKeyBytes = 64
)

// ErrInvalidSecret is returned (wrapped) by ParseSecret so callers can answer
// a validation error without matching on message text.
var ErrInvalidSecret = errors.New("invalid webhook secret")

// NewSecret returns a fresh secret: SecretPrefix followed by the padded
// standard base64 of 32 random bytes.
func NewSecret() (string, error) {
	var b [newSecretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("signing: generate secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

// DisplayPrefix returns the part of a secret that may be shown after creation,
// e.g. "whsec_AbC1…". It never reveals more than four characters of the
// random part, whatever the input looks like, because it is meant for pages
// and logs.
func DisplayPrefix(secret string) string {
	rest := strings.TrimPrefix(secret, SecretPrefix)
	n := 0
	for i := range rest {
		if n == 4 {
			rest = rest[:i]
			break
		}
		n++
	}
	return SecretPrefix + rest + "…"
}

// Secret is a parsed endpoint secret, ready to sign with. Build it with
// ParseSecret; the zero Secret signs nothing (Apply skips it), so a missing
// secret can never produce a signature made with an empty key.
//
// A Secret is safe for concurrent use and cheap to copy. It formats as its
// DisplayPrefix, so logging one by mistake does not leak it.
type Secret struct {
	branded  *keyedMAC // key: the whole "whsec_…" string's bytes
	standard *keyedMAC // key: the base64-decoded part
	display  string
}

// ParseSecret checks s and prepares both signing keys. s must start with
// SecretPrefix and continue with standard base64 (padded or not) of 24 to 64
// bytes. Errors wrap ErrInvalidSecret and never contain the secret.
func ParseSecret(s string) (Secret, error) {
	enc, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return Secret{}, fmt.Errorf("signing: parse secret: %w: missing %q prefix", ErrInvalidSecret, SecretPrefix)
	}
	key, err := decodeKey(enc)
	if err != nil {
		return Secret{}, fmt.Errorf("signing: parse secret: %w: %v", ErrInvalidSecret, err)
	}
	return Secret{
		branded:  newKeyedMAC([]byte(s)),
		standard: newKeyedMAC(key),
		display:  DisplayPrefix(s),
	}, nil
}

// decodeKey accepts padded and unpadded base64 because secrets pasted from
// other tools sometimes lose their trailing "=".
func decodeKey(enc string) ([]byte, error) {
	if enc == "" {
		return nil, errors.New("empty key")
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		var rawErr error
		key, rawErr = base64.RawStdEncoding.DecodeString(enc)
		if rawErr != nil {
			// The padded error is the more useful one for a secret that
			// looks like ours; its offset does not reveal key material.
			return nil, fmt.Errorf("key is not base64: %v", err)
		}
	}
	if len(key) < minKeyBytes || len(key) > maxKeyBytes {
		return nil, fmt.Errorf("key decodes to %d bytes, want %d to %d", len(key), minKeyBytes, maxKeyBytes)
	}
	return key, nil
}

// String returns the display prefix only.
func (s Secret) String() string {
	if s.branded == nil {
		return "signing.Secret{}"
	}
	return s.display
}

// GoString keeps %#v from printing key bytes.
func (s Secret) GoString() string { return s.String() }

// keyedMAC pools HMAC states for one key. hmac.New costs several allocations
// and a key schedule; a reset state from the pool costs neither.
type keyedMAC struct {
	key  []byte
	pool sync.Pool // of *macState
}

type macState struct {
	h hash.Hash
	// sum receives h.Sum; it lives here rather than on the stack because
	// passing a stack buffer through the hash.Hash interface escapes it.
	sum [sha256.Size]byte
	// prefix holds "id.timestamp." for the Standard Webhooks content; it
	// grows to the longest delivery id seen and is then reused.
	prefix []byte
}

func newKeyedMAC(key []byte) *keyedMAC {
	return &keyedMAC{key: key}
}

func (k *keyedMAC) get() *macState {
	if st, ok := k.pool.Get().(*macState); ok {
		st.h.Reset()
		return st
	}
	return &macState{h: hmac.New(sha256.New, k.key)}
}

func (k *keyedMAC) put(st *macState) { k.pool.Put(st) }

// Message is what Apply signs and describes for one delivery.
type Message struct {
	DeliveryID string // webhook_delivery_id; also the Standard Webhooks webhook-id
	EventType  string // webhook_event
	Timestamp  string // webhook_timestamp of the body: publish time, not attempt time
	Body       []byte // exact bytes sent
}

// Signer writes the delivery headers. Build it with NewSigner, which
// canonicalises the header names once instead of on every delivery.
type Signer struct {
	keys headerKeys
	ua   string
}

// NewSigner returns a Signer. headerPrefix starts the branded headers, e.g.
// "X-Hookrelay-" (configuration validates it); userAgent is sent as
// User-Agent, e.g. "hookrelay/1.2.0". Empty values take the defaults.
func NewSigner(headerPrefix, userAgent string) *Signer {
	if userAgent == "" {
		userAgent = DefaultUserAgent
	}
	return &Signer{keys: headerKeysFor(headerPrefix), ua: userAgent}
}

// Apply sets every header of SPEC §2 on h, replacing any values already
// there. attemptAt is the time of this attempt: webhook-timestamp uses it so
// receivers' tolerance holds on retries and replays, while the branded
// timestamp stays m.Timestamp (publish time, equal to the body's).
//
// secrets are the endpoint's valid secrets, newest first; each signature
// header carries one signature per secret in that order, space-separated.
// Zero Secrets are skipped. With no usable secret the signature headers are
// removed rather than sent empty, so receivers reject the request.
func (s *Signer) Apply(h http.Header, m Message, secrets []Secret, attemptAt time.Time) {
	keys, ua := &s.keys, s.ua

	var tsBuf [20]byte
	ts := strconv.AppendInt(tsBuf[:0], attemptAt.Unix(), 10)

	// One backing array for all values: net/http does the same, and capped
	// slices keep a later Add on one header from overwriting its neighbour.
	vals := make([]string, 9)
	vals[0] = "application/json"
	vals[1] = ua
	vals[2] = m.EventType
	vals[3] = m.DeliveryID
	vals[4] = m.Timestamp
	vals[5] = m.DeliveryID
	vals[6] = string(ts)
	set := func(key string, i int) { h[key] = vals[i : i+1 : i+1] }
	set("Content-Type", 0)
	set("User-Agent", 1)
	set(keys.event, 2)
	set(keys.deliveryID, 3)
	set(keys.timestamp, 4)
	set("Webhook-Id", 5)
	set("Webhook-Timestamp", 6)

	branded, standard := signatures(m, secrets, ts)
	if branded == "" {
		delete(h, keys.signature)
		delete(h, "Webhook-Signature")
		return
	}
	vals[7] = branded
	vals[8] = standard
	set(keys.signature, 7)
	set("Webhook-Signature", 8)
}

const (
	hexMACLen      = 2 * sha256.Size           // hex.EncodedLen(sha256.Size)
	b64MACLen      = (sha256.Size + 2) / 3 * 4 // base64.StdEncoding.EncodedLen(sha256.Size)
	brandedSigLen  = len("sha256=") + hexMACLen
	standardSigLen = len("v1,") + b64MACLen
)

// signatures builds both header values in one pass over the secrets. ts is
// the decimal attempt time as it appears in webhook-timestamp.
func signatures(m Message, secrets []Secret, ts []byte) (branded, standard string) {
	n := 0
	for _, sec := range secrets {
		if sec.branded != nil {
			n++
		}
	}
	if n == 0 {
		return "", ""
	}
	var b, w strings.Builder
	b.Grow(n*(brandedSigLen+1) - 1)
	w.Grow(n*(standardSigLen+1) - 1)

	var enc [64]byte
	for _, sec := range secrets {
		if sec.branded == nil {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
			w.WriteByte(' ')
		}

		st := sec.branded.get()
		st.h.Write(m.Body)
		sum := st.h.Sum(st.sum[:0])
		hex.Encode(enc[:], sum)
		sec.branded.put(st)
		b.WriteString("sha256=")
		b.Write(enc[:hexMACLen])

		// Written piecewise so "id.timestamp.body" is never concatenated
		// into a copy of the body.
		st = sec.standard.get()
		st.prefix = append(st.prefix[:0], m.DeliveryID...)
		st.prefix = append(st.prefix, '.')
		st.prefix = append(st.prefix, ts...)
		st.prefix = append(st.prefix, '.')
		st.h.Write(st.prefix)
		st.h.Write(m.Body)
		sum = st.h.Sum(st.sum[:0])
		base64.StdEncoding.Encode(enc[:], sum)
		sec.standard.put(st)
		w.WriteString("v1,")
		w.Write(enc[:b64MACLen])
	}
	return b.String(), w.String()
}

// headerKeys are the canonical branded header names for one prefix.
type headerKeys struct {
	prefix, signature, event, deliveryID, timestamp string
}

func headerKeysFor(prefix string) headerKeys {
	if prefix == "" {
		prefix = DefaultHeaderPrefix
	}
	return headerKeys{
		prefix:     prefix,
		signature:  textproto.CanonicalMIMEHeaderKey(prefix + "Signature"),
		event:      textproto.CanonicalMIMEHeaderKey(prefix + "Event"),
		deliveryID: textproto.CanonicalMIMEHeaderKey(prefix + "Delivery-Id"),
		timestamp:  textproto.CanonicalMIMEHeaderKey(prefix + "Timestamp"),
	}
}

// SignatureHeaders names the headers that carry signatures, which Apply
// leaves out when given no secret: the dashboard shows a past request's
// headers without re-signing it.
func (s *Signer) SignatureHeaders() []string {
	return []string{s.keys.signature, "Webhook-Signature"}
}
