// Package listen is the developer's local receiver behind `hookrelay
// listen` and `hookrelay demo`: it verifies each delivery's signatures and
// prints what arrived.
package listen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/verify"
)

// Receiver is an http.Handler that verifies and prints deliveries.
type Receiver struct {
	mu       sync.Mutex
	out      io.Writer
	verifier *verify.Verifier
	prefix   string
	received []Delivery
	notify   chan Delivery
}

// Delivery is what the receiver saw.
type Delivery struct {
	ID       string
	Event    string
	Verified bool
	Err      error
	Body     []byte
}

// New returns a receiver printing to out. The verifier may be set later
// (the demo learns the secret after creating the endpoint).
func New(out io.Writer, v *verify.Verifier, headerPrefix string) *Receiver {
	return &Receiver{out: out, verifier: v, prefix: headerPrefix, notify: make(chan Delivery, 16)}
}

// SetVerifier replaces the verifier.
func (rc *Receiver) SetVerifier(v *verify.Verifier) {
	rc.mu.Lock()
	rc.verifier = v
	rc.mu.Unlock()
}

// Deliveries signals each delivery received (dropped when nobody reads).
func (rc *Receiver) Deliveries() <-chan Delivery { return rc.notify }

// ServeHTTP answers 200 to a verified delivery and 401 otherwise, so a
// wrong secret shows up as a failed attempt in hookrelay's log.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "deliveries are POST requests", http.StatusMethodNotAllowed)
		return
	}
	rc.mu.Lock()
	v := rc.verifier
	rc.mu.Unlock()
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	switch {
	case err != nil:
	case v == nil:
		err = errors.New("no secret configured")
	default:
		// Check both schemes: a receiver may rely on either.
		if e := v.VerifyStandard(body, r.Header); e != nil {
			err = fmt.Errorf("webhook-signature: %w", e)
		} else if e := v.VerifyBranded(body, r.Header); e != nil {
			err = fmt.Errorf("%sSignature: %w", rc.prefix, e)
		}
	}
	d := Delivery{ID: r.Header.Get("webhook-id"), Event: r.Header.Get(rc.prefix + "Event"), Verified: err == nil, Err: err, Body: body}
	rc.print(r, d)
	select {
	case rc.notify <- d:
	default:
	}
	if err != nil {
		http.Error(w, "signature verification failed: "+err.Error(), http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"received":true}`)
}

func (rc *Receiver) print(r *http.Request, d Delivery) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n── %s  POST %s\n", time.Now().Format("15:04:05.000"), r.URL.Path)
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "webhook-") || strings.HasPrefix(lk, strings.ToLower(rc.prefix)) || lk == "content-type" || lk == "user-agent" {
			fmt.Fprintf(&b, "   %s: %s\n", k, strings.Join(r.Header[k], ", "))
		}
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, d.Body, "   ", "  ") == nil {
		fmt.Fprintf(&b, "   %s\n", pretty.String())
	} else {
		fmt.Fprintf(&b, "   %q\n", d.Body)
	}
	if d.Verified {
		b.WriteString("   ✔ verified: webhook-signature (Standard Webhooks) and " + rc.prefix + "Signature (sha256=)\n")
	} else {
		fmt.Fprintf(&b, "   ✘ NOT verified: %v — answered 401\n", d.Err)
	}
	rc.mu.Lock()
	fmt.Fprint(rc.out, b.String())
	rc.mu.Unlock()
}
