package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
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
	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/secretbox"
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
			"an API key and a dashboard URL and login to try it yourself. It serves until Ctrl-C, or exits\n" +
			"after the delivery with --once."}
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
	login, err := demoSetup(ctx, a.Ops)
	if err != nil {
		return err
	}
	key := login.key
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

	fmt.Fprintf(stdout, "\nDashboard: %s/login\n  email:    %s\n  password: %s\n", base, login.email, login.password)
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

// demoSetup creates what an operator would with `hookrelay admin`, through
// the same operations: the catalog, an account, an account API key with
// every scope and a primary owner who signs in to the dashboard.
func demoSetup(ctx context.Context, ops *operations.Ops) (demoLogin, error) {
	for _, t := range demoTypes {
		if _, err := ops.EventTypeCreate(ctx, operations.EventTypeInput{Name: &t.name, Description: &t.description,
			Example: json.RawMessage(t.example)}); err != nil {
			return demoLogin{}, err
		}
	}
	name := "Demo"
	acc, err := ops.AccountCreate(ctx, &name)
	if err != nil {
		return demoLogin{}, err
	}
	keyName := "demo"
	key, err := ops.APIKeyCreate(ctx, operations.Operator, acc.ID, &keyName, auth.Scopes)
	if err != nil {
		return demoLogin{}, err
	}
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	login := demoLogin{key: key.Key, email: "owner@demo.example", password: base64.RawURLEncoding.EncodeToString(b)}
	role := webhook.RolePrimaryOwner
	if _, err := ops.MemberCreate(ctx, operations.Operator, acc.ID, operations.MemberInput{
		Email: &login.email, Role: &role, Password: &login.password}); err != nil {
		return demoLogin{}, err
	}
	return login, nil
}

// demoLogin is what the demo prints for a person to try it: an API key
// and a dashboard login, both made for this run.
type demoLogin struct {
	key, email, password string
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
