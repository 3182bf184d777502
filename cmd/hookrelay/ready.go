package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/internal/config"
)

// ready probes a running server's /readyz: the health check of images
// that have no curl, and a way for scripts to wait for `serve`.
func ready(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("ready")
	addr := fs.String("addr", "127.0.0.1:8080", "`host:port` the server listens on, as given to serve --addr")
	var wait time.Duration
	config.DurationVar(fs, &wait, "wait", 0, "keep trying for up to this long (0: try once)")
	s := spec{command: "ready", synopsis: "[--addr HOST:PORT] [--wait DURATION]", env: envOnly("addr"),
		about: "Exits 0 and prints \"ready\" when the server answers GET /readyz with 200; otherwise prints\n" +
			"why and exits 1. An --addr on all interfaces (0.0.0.0:8080, :8080) is probed on loopback."}
	if err := parse(s, fs, args, stdout); err != nil {
		return err
	}
	if err := fromEnv("ready", fs, "addr"); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(*addr)
	if err != nil {
		return usageErrorf("ready", "--addr %q: %v", *addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(wait)
	for {
		reason := probe(ctx, client, url)
		if reason == "" {
			fmt.Fprintln(stdout, "ready")
			return nil
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s: not ready: %s", url, reason)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// probe returns "" when url answers 200, else why not.
func probe(ctx context.Context, client *http.Client, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return err.Error() + " (is hookrelay serve running there? see --addr)"
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return ""
	}
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	if body.Error.Message != "" {
		return body.Error.Message
	}
	return resp.Status
}
