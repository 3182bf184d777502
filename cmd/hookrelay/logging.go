package main

import (
	"io"
	"log/slog"
	"strings"

	"github.com/hookrelay/hookrelay/internal/config"
)

// newLogger builds the process's logger from --log-format and --log-level.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: readableDurations}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// readableDurations writes every time.Duration as Go's string form
// ("1.5s", "30m0s"): the JSON handler would write nanoseconds, a number no
// one reading a log line can take in.
func readableDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
