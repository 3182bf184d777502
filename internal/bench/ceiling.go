package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookrelay/hookrelay/internal/ssrf"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// CeilingResult is the bare ceiling: the delivery HTTP client sending
// straight to the receivers, with no hookrelay in between.
type CeilingResult struct {
	Requests       int     `json:"requests"`
	Concurrency    int     `json:"concurrency"`
	Errors         int64   `json:"errors"`
	FirstError     string  `json:"first_error,omitempty"`
	Seconds        float64 `json:"seconds"`
	RequestsPerSec float64 `json:"requests_per_sec"`
	// Latency is send → receiver arrival, the ceiling's counterpart of
	// hookrelay's publish → first attempt.
	Latency Latency `json:"latency"`
}

// Ceiling sends up to requests POSTs to the receivers, round-robin, with
// inFlight concurrent senders per receiver and at most total in all (as
// serve's --max-in-flight allows), starting none after maxDur (slow
// receivers would otherwise make it last as long as the run). The client is
// hookrelay's own delivery client (the SSRF guard's transport, as
// --dev-allow-localhost builds it: keep-alive, MaxIdleConnsPerHost =
// inFlight), and every request carries a delivery body and the nine
// delivery headers of the same sizes as hookrelay's, unsigned.
func Ceiling(ctx context.Context, recv *Receivers, p Payloads, requests, inFlight, total int, timeout, maxDur time.Duration) (CeilingResult, error) {
	client := ssrf.New(ssrf.Options{AllowLoopback: true}).Client(inFlight, total)
	defer client.CloseIdleConnections()

	endpoints := len(recv.URLs)
	start := time.Now()
	tr := NewTracker(start, requests)
	recv.Track(tr)
	defer recv.Track(nil)

	res := CeilingResult{Requests: requests, Concurrency: min(endpoints*inFlight, total)}
	slots := make(chan struct{}, res.Concurrency)
	var errCount atomic.Int64
	var firstErr sync.Once
	next := make([]atomic.Int64, endpoints) // per endpoint: next round of seqs
	var wg sync.WaitGroup
	for e := range endpoints {
		for range inFlight {
			wg.Go(func() {
				var body []byte
				for {
					k := int(next[e].Add(1) - 1)
					seq := e + k*endpoints
					if seq >= requests || ctx.Err() != nil || time.Since(start) > maxDur {
						return
					}
					body = ceilingBody(body, p, seq)
					slots <- struct{}{}
					tr.Sent(seq)
					if err := sendOne(ctx, client, recv.URLs[e], body, seq, EventType(e), timeout); err != nil {
						errCount.Add(1)
						firstErr.Do(func() { res.FirstError = err.Error() })
					}
					<-slots
				}
			})
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Errors = errCount.Load()
	last := tr.LastArrival()
	if last <= 0 {
		return res, fmt.Errorf("ceiling: no request arrived (%d errors; first: %s)", res.Errors, res.FirstError)
	}
	res.Seconds = last.Seconds()
	res.Requests = int(tr.Counts().Total)
	res.RequestsPerSec = float64(tr.Unique()) / res.Seconds
	res.Latency = Summarize(tr.FirstAttemptLatencies())
	return res, nil
}

// Stand-ins for the values hookrelay puts in its delivery headers.
var (
	fakeBrandedSig  = "sha256=" + strings.Repeat("0", 64)
	fakeStandardSig = "v1," + strings.Repeat("A", 43) + "="
	fakeTimestamp   = webhook.FormatTimestamp(time.Date(2026, 5, 12, 12, 0, 0, 0, time.UTC))
)

// ceilingBody is a delivery body of the same shape and size as
// hookrelay's for event seq.
func ceilingBody(b []byte, p Payloads, seq int) []byte {
	data := p.Data(nil, seq)
	body := webhook.Body(EventType(p.endpoint(seq)), time.Now(), fakeDeliveryID(seq), data)
	return append(b[:0], body...)
}

// fakeDeliveryID has the length of a real one: "dlv_" and 26 characters.
func fakeDeliveryID(seq int) string {
	s := strconv.Itoa(seq)
	return "dlv_" + strings.Repeat("0", max(26-len(s), 0)) + s
}

func sendOne(ctx context.Context, client *http.Client, url string, body []byte, seq int, eventType string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	id := fakeDeliveryID(seq)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h := req.Header
	h["Content-Type"] = []string{"application/json"}
	h["User-Agent"] = []string{"hookrelay/bench"}
	h["X-Hookrelay-Event"] = []string{eventType}
	h["X-Hookrelay-Delivery-Id"] = []string{id}
	h["X-Hookrelay-Timestamp"] = []string{fakeTimestamp}
	h["X-Hookrelay-Signature"] = []string{fakeBrandedSig}
	h["Webhook-Id"] = []string{id}
	h["Webhook-Timestamp"] = []string{ts}
	h["Webhook-Signature"] = []string{fakeStandardSig}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}
