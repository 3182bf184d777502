package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/hookrelay/hookrelay/internal/app"
	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/listen"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
	"github.com/hookrelay/hookrelay/verify"
)

// demoTypes is the seed platform's catalog, added by the demo.
var demoTypes = []struct{ name, description, example string }{
	{"generation.started", "The generation has been submitted and is processing.", `{"generation_id":"gen_123","model":"image-v2","status":"processing"}`},
	{"generation.completed", "The generation finished successfully.", `{"generation_id":"gen_123","model":"image-v2","status":"succeeded","output":["https://cdn.example.com/gen_123.png"]}`},
	{"generation.failed", "The generation finished with a failure state.", `{"generation_id":"gen_123","model":"image-v2","status":"failed","error":"content policy"}`},
	{"generation.canceled", "The generation was canceled.", `{"generation_id":"gen_123","model":"image-v2","status":"canceled"}`},
	{"credits.low_balance", "The account balance crosses one or more configured alert thresholds.", `{"balance":4.5,"previous_balance":12,"thresholds_crossed":[10,5]}`},
}

// demo runs the real service (API, intake, dispatcher, SSRF-guarded
// client) on a temporary SQLite database with a local receiver, and walks
// one event through it over HTTP as a platform would.
func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo")
	var once, verbose bool
	config.BoolVar(fs, &once, "once", false, "exit after the delivery instead of serving until Ctrl-C")
	addr := fs.String("addr", "127.0.0.1:0", "`host:port` for the demo's API (default: a free port)")
	config.BoolVar(fs, &verbose, "verbose", false, "show the service's logs")
	s := spec{command: "demo", synopsis: "[--once] [--addr HOST:PORT] [--verbose]",
		about: "Runs the real service on a temporary SQLite database with a local receiver: creates an\n" +
			"account, an endpoint and an event, shows the signed request arriving and verified, and prints\n" +
			"an API key to try it yourself. It serves until Ctrl-C, or exits after the delivery with --once."}
	if err := parse(s, fs, args, stdout); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hookrelay-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fsCfg := flag.NewFlagSet("demo", flag.ContinueOnError)
	cfg := config.Register(fsCfg)
	cfg.Database = filepath.Join(dir, "hookrelay.db")
	cfg.Addr = *addr
	cfg.DevAllowLocalhost = true // the receiver is on this machine
	// A key that dies with the temporary database: nothing to back up.
	cfg.EncryptionKey = secretbox.NewKey()
	if err := config.Load(fsCfg, cfg, func(string) (string, bool) { return "", false }); err != nil {
		return err
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: readableDurations}))

	step := func(format string, a ...any) { fmt.Fprintf(stdout, "▸ "+format+"\n", a...) }
	step("temporary database %s", cfg.Database)

	a, err := app.Open(ctx, cfg, app.Options{Log: log})
	if err != nil {
		return err
	}
	key, err := demoSetup(ctx, a.Store)
	if err != nil {
		return err
	}
	if err := a.Listen(); err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- a.Run(runCtx) }()
	base := "http://" + a.Addr()
	step("hookrelay is serving on %s (API key for account \"Demo\" created)", base)

	receiver := listen.New(stdout, nil, cfg.HeaderPrefix)
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rsrv := &http.Server{Handler: receiver, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = rsrv.Serve(rl) }()
	defer rsrv.Close()
	receiverURL := "http://" + rl.Addr().String() + "/webhooks"
	step("local receiver listening on %s", receiverURL)

	client := &demoClient{base: base, key: key}
	var created struct {
		WebhookID string `json:"webhook_id"`
		Secret    string `json:"secret"`
	}
	if err := client.do(ctx, "POST", "/v1/webhooks", map[string]any{
		"url": receiverURL, "events": []string{"generation.completed", "generation.failed"},
		"description": "demo receiver",
	}, &created); err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	step("POST /v1/webhooks → %s, secret %s (shown once)", created.WebhookID, created.Secret)
	v, err := verify.New(created.Secret, verify.WithHeaderPrefix(cfg.HeaderPrefix))
	if err != nil {
		return err
	}
	receiver.SetVerifier(v)

	var published struct {
		EventID    string `json:"event_id"`
		Deliveries int    `json:"deliveries"`
	}
	if err := client.do(ctx, "POST", "/v1/events", map[string]any{
		"event_type": "generation.completed",
		"subject_id": "gen_01demo",
		"data": map[string]any{"generation_id": "gen_01demo", "model": "image-v2", "status": "succeeded",
			"output": []string{"https://cdn.example.com/gen_01demo.png"}},
	}, &published); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	step("POST /v1/events generation.completed → %s, %d delivery, committed before this answer", published.EventID, published.Deliveries)

	select {
	case d := <-receiver.Deliveries():
		if !d.Verified {
			return fmt.Errorf("the delivery arrived but did not verify: %v", d.Err)
		}
	case <-time.After(15 * time.Second):
		return errors.New("no delivery within 15s")
	case <-ctx.Done():
		return ctx.Err()
	}

	// The log entry is written in the next batch; wait for it.
	var log0 []struct {
		DeliveryID     string `json:"delivery_id"`
		Status         string `json:"status"`
		AttemptCount   int    `json:"attempt_count"`
		LastStatusCode *int   `json:"last_status_code"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := client.do(ctx, "GET", "/v1/webhooks/"+created.WebhookID+"/deliveries", nil, &log0); err != nil {
			return err
		}
		if len(log0) > 0 && log0[0].Status == string(webhook.StatusDelivered) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(log0) == 0 || log0[0].Status != string(webhook.StatusDelivered) {
		return errors.New("the delivery log did not record the delivery")
	}
	step("GET /v1/webhooks/%s/deliveries → %s %s after %d attempt (HTTP %d)",
		created.WebhookID, log0[0].DeliveryID, log0[0].Status, log0[0].AttemptCount, *log0[0].LastStatusCode)

	fmt.Fprintf(stdout, "\nTry it yourself:\n  export KEY=%s\n", key)
	fmt.Fprintf(stdout, "  curl -s -H \"Authorization: Bearer $KEY\" -H 'Content-Type: application/json' \\\n"+
		"    -d '{\"event_type\":\"generation.failed\",\"subject_id\":\"gen_2\",\"data\":{\"generation_id\":\"gen_2\"}}' %s/v1/events\n", base)
	fmt.Fprintf(stdout, "  curl -s -H \"Authorization: Bearer $KEY\" %s/v1/webhooks/%s/deliveries\n", base, created.WebhookID)
	if once {
		stop()
		return <-ran
	}
	fmt.Fprintln(stdout, "\nServing until Ctrl-C.")
	return <-ran
}

// demoSetup creates what an operator would with `hookrelay admin`: the
// catalog, an account and an account API key with every scope.
func demoSetup(ctx context.Context, st store.Store) (string, error) {
	now := time.Now().UTC()
	for _, t := range demoTypes {
		if _, err := st.EventTypeCreate(ctx, store.EventTypeCreateParams{Name: t.name, Description: t.description,
			Example: json.RawMessage(t.example), Now: now}); err != nil {
			return "", err
		}
	}
	acc, err := st.AccountCreate(ctx, store.AccountCreateParams{ID: webhook.NewID("acc", now), Name: "Demo", Now: now})
	if err != nil {
		return "", err
	}
	key, hash := auth.NewKey(false)
	if _, err := st.APIKeyCreate(ctx, store.APIKeyCreateParams{ID: webhook.NewID("key", now), AccountID: acc.ID,
		Name: "demo", Prefix: auth.DisplayPrefix(key), Hash: hash, Scopes: auth.Scopes, Now: now}); err != nil {
		return "", err
	}
	return key, nil
}

type demoClient struct {
	base, key string
}

func (c *demoClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   *struct {
			Code, Message string
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s %s: HTTP %d: %w", method, path, resp.StatusCode, err)
	}
	if !env.Success {
		if env.Error != nil {
			return fmt.Errorf("%s %s: HTTP %d %s: %s", method, path, resp.StatusCode, env.Error.Code, env.Error.Message)
		}
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	return json.Unmarshal(env.Data, out)
}
