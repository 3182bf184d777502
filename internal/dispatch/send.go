package dispatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/internal/ssrf"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// outcome is what one attempt produced.
type outcome struct {
	attempt    webhook.Attempt
	ok         bool
	retryAfter time.Duration // from a 429/503's Retry-After, else 0
	// abandoned: we cancelled the request ourselves (shutdown, lost lease).
	// Nothing is recorded; the delivery stays due for whoever sends next.
	abandoned bool
}

// Response headers kept per attempt: enough to debug a receiver, bounded so
// a hostile receiver cannot bloat the log.
const (
	maxRecordedHeaders     = 40
	maxRecordedHeaderValue = 256
	// maxDrain is how much of a long answer is read past the excerpt so the
	// connection can be reused; beyond it the connection is dropped.
	maxDrain = 64 << 10
)

// send makes one attempt. ctx carries cancellation by us; the attempt's
// own timeout is applied here so that a timeout can be told from a cancel.
func (d *Dispatcher) send(ctx context.Context, tgt *target, dd store.DueDelivery) outcome {
	body := webhook.Body(dd.EventType, dd.PublishedAt, dd.ID, dd.Data)
	attemptAt := d.clock.Now()
	out := outcome{attempt: webhook.Attempt{AttemptedAt: attemptAt}}

	reqCtx, cancel := context.WithTimeoutCause(ctx, d.cfg.Timeout, errAttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, tgt.url, bytes.NewReader(body))
	if err != nil {
		out.attempt.Error = "invalid endpoint url: " + err.Error()
		return out
	}
	d.signer.Apply(req.Header, signing.Message{
		DeliveryID: dd.ID,
		EventType:  dd.EventType,
		Timestamp:  webhook.FormatTimestamp(dd.PublishedAt),
		Body:       body,
	}, tgt.signingSecrets(attemptAt), attemptAt)

	start := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		out.attempt.Duration = time.Since(start)
		if ctx.Err() != nil {
			out.abandoned = true
			return out
		}
		out.attempt.Error = describeError(err, d.cfg.Timeout, reqCtx)
		return out
	}
	excerpt, readErr := io.ReadAll(io.LimitReader(resp.Body, webhook.MaxResponseExcerpt))
	if readErr == nil {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	}
	resp.Body.Close()
	out.attempt.Duration = time.Since(start)
	if ctx.Err() != nil {
		out.abandoned = true
		return out
	}
	out.attempt.StatusCode = resp.StatusCode
	out.attempt.ResponseHeaders = recordHeaders(resp.Header)
	out.attempt.ResponseBody = strings.ToValidUTF8(string(excerpt), "\uFFFD")

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		// The status line is the answer; a body cut short afterwards does
		// not undo a 2xx the receiver already committed to.
		out.ok = true
	case code >= 300 && code < 400:
		loc := resp.Header.Get("Location")
		if len(loc) > 200 {
			loc = loc[:200] + "…"
		}
		out.attempt.Error = fmt.Sprintf("redirect not followed: %d %s", code, http.StatusText(code))
		if loc != "" {
			out.attempt.Error += " to " + loc
		}
	default:
		out.attempt.Error = fmt.Sprintf("unexpected status %d %s", code, http.StatusText(code))
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			out.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		}
	}
	if !out.ok && readErr != nil && out.attempt.Error == "" {
		out.attempt.Error = describeError(readErr, d.cfg.Timeout, reqCtx)
	}
	return out
}

var errAttemptTimeout = errors.New("attempt timed out")

// describeError turns a client error into the line shown in the delivery
// log: what went wrong, without Go's "Post \"url\":" noise.
func describeError(err error, timeout time.Duration, reqCtx context.Context) string {
	if errors.Is(context.Cause(reqCtx), errAttemptTimeout) {
		return fmt.Sprintf("timeout: no complete response within %s", timeout)
	}
	// A refusal by the SSRF guard is shown as the rule that refused.
	var blocked *ssrf.Error
	if errors.As(err, &blocked) {
		return blocked.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "dns: " + dnsErr.Error()
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		msg := opErr.Err.Error() // often already "connect: …" (a syscall error)
		if !strings.HasPrefix(msg, "connect") {
			msg = "connect: " + msg
		}
		return msg
	}
	return err.Error()
}

func recordHeaders(h http.Header) http.Header {
	out := make(http.Header, min(len(h), maxRecordedHeaders))
	for k, vs := range h {
		if len(out) == maxRecordedHeaders {
			break
		}
		for _, v := range vs {
			if len(v) > maxRecordedHeaderValue {
				v = v[:maxRecordedHeaderValue] + "…"
			}
			out[k] = append(out[k], strings.ToValidUTF8(v, "\uFFFD"))
		}
	}
	return out
}

// parseRetryAfter reads seconds or an HTTP date; 0 when absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	// Seconds. Whatever is larger than a week (up to digits beyond int64)
	// counts as a week: the policy clamps it to twice the scheduled delay,
	// so an absurd value slows us down as much as allowed, no more.
	const week = 7 * 24 * time.Hour
	if n, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n > uint64(week/time.Second) {
			return week
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// logAttempt writes one line per finished attempt: failures at info, so
// an operator can follow a failing endpoint, successes at debug.
func (d *Dispatcher) logAttempt(endpointID string, dd store.DueDelivery, out outcome, r store.AttemptResult) {
	level := slog.LevelInfo
	if out.ok {
		level = slog.LevelDebug
	}
	ctx := context.Background()
	if !d.log.Enabled(ctx, level) {
		return
	}
	args := []any{"delivery", dd.ID, "endpoint", endpointID, "event_type", dd.EventType,
		"attempt", dd.AttemptCount + 1, "status", string(r.Status), "duration", out.attempt.Duration.Round(time.Microsecond).String()}
	if out.attempt.StatusCode != 0 {
		args = append(args, "status_code", out.attempt.StatusCode)
	}
	if out.attempt.Error != "" {
		args = append(args, "error", out.attempt.Error)
	}
	if r.Status == webhook.StatusPending {
		args = append(args, "next_attempt_at", r.NextAttemptAt.UTC().Format(time.RFC3339))
	}
	msg := "attempt delivered"
	if !out.ok {
		msg = "attempt failed"
	}
	d.log.Log(ctx, level, msg, args...)
}
