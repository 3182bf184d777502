package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/webhook"
)

// requestIDHeader carries a request's id both ways: a caller's own id is
// kept (so one id follows a request through the caller's logs and ours),
// otherwise one is made; the response always names it.
const requestIDHeader = "X-Request-Id"

// requestInfo is what the log line of a request says beyond the request
// itself; authenticate fills in who made it.
type requestInfo struct {
	id        string
	account   string
	keyPrefix string
}

type requestInfoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	if ri, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// requestID returns the caller's id when it is short and plain (so it
// cannot forge log lines or carry a secret of any length), else a new one.
func requestID(given string, now time.Time) string {
	if n := len(given); n > 0 && n <= 128 && strings.IndexFunc(given, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c))
	}) < 0 {
		return given
	}
	return webhook.NewID("req", now)
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequest writes the request's one log line and counts it. API routes
// log at info; probes and scrapes (/healthz, /readyz, /metrics), which
// arrive every few seconds, at debug.
func (s *Server) logRequest(r *http.Request, route string, status int, took time.Duration, ri *requestInfo) {
	if s.HTTPMetrics != nil {
		s.HTTPMetrics.Observe(route, status, took)
	}
	level := slog.LevelInfo
	if !strings.HasPrefix(r.URL.Path, "/v1/") && route != "unmatched" {
		level = slog.LevelDebug
	}
	ctx := context.Background()
	if !s.Log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", took),
		slog.String("request_id", ri.id),
	}
	if ri.account != "" {
		attrs = append(attrs, slog.String("account", ri.account))
	}
	if ri.keyPrefix != "" {
		attrs = append(attrs, slog.String("key_prefix", ri.keyPrefix))
	}
	s.Log.LogAttrs(ctx, level, "request", attrs...)
}
