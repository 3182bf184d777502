package main

import (
	"encoding/json"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSplitRolesAndAdmin: `migrate` and the admin commands bootstrap a
// database, then one process serves only the API (--dispatcher=false) and
// another only dispatches (--api=false); an event published to the first
// is delivered by the second, found through the shared database.
func TestSplitRolesAndAdmin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	n := node{t: t, database: filepath.Join(t.TempDir(), "roles.db")}
	out, err := exec.Command(binary, "migrate", "--database", n.database).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "up to date") {
		t.Fatalf("migrate: %v %s", err, out)
	}
	operator := n.admin("operator-key", "create")
	if !strings.HasPrefix(operator, "hrop_") {
		t.Fatalf("operator key %q", operator)
	}
	var acc struct {
		AccountID string `json:"account_id"`
	}
	if err := json.Unmarshal([]byte(n.admin("account", "create", "--name", "roles")), &acc); err != nil {
		t.Fatal(err)
	}
	n.admin("event-type", "create", "--name", "roles.test", "--description", "split roles", "--example", `{"n":1}`)
	member := func(email, role string) ([]byte, error) {
		cmd := exec.Command(binary, "admin", "member", "create", "--account", acc.AccountID, "--email", email,
			"--role", role, "--password-stdin", "--database", n.database)
		cmd.Stdin = strings.NewReader("correct horse battery staple\n")
		return cmd.CombinedOutput()
	}
	if out, err := member("Owner@Example.com", "primary-owner"); err != nil || !strings.Contains(string(out), `"owner@example.com"`) {
		t.Fatalf("member create: %v %s", err, out)
	}
	if out, err := member("second@example.com", "primary-owner"); err == nil {
		t.Fatalf("a second primary owner was created: %s", out)
	}

	rc := &receiver{byEvent: map[int]int{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	api := n.start(freePort(t), "--dispatcher=false")
	defer api.kill(t)
	disp := n.start(freePort(t), "--api=false")
	defer disp.kill(t)
	// The dispatcher-only node answers its orchestrator and scraper (start
	// waited for its /readyz), and nothing else.
	if st, _, err := call(disp.base, operator, "GET", "/v1/webhooks?account_id="+acc.AccountID, nil); err != nil || st != 404 {
		t.Fatalf("the dispatcher-only node answered the API: %d %v", st, err)
	}
	if st, body, err := call(disp.base, "", "GET", "/metrics", nil); err != nil || st != 200 || !strings.Contains(string(body), "hookrelay_dispatcher_stalled 0") {
		t.Fatalf("the dispatcher-only node's /metrics: %d %v", st, err)
	}

	// The operator key bootstrapped by the admin command works on the API.
	q := "?account_id=" + acc.AccountID
	if st, body, err := call(api.base, operator, "POST", "/v1/webhooks"+q, map[string]any{"url": srv.URL, "events": []string{"roles.test"}}); err != nil || st != 201 {
		t.Fatalf("create webhook with the operator key: %d %s %v", st, body, err)
	}
	for i := range 20 {
		if st, body, err := call(api.base, operator, "POST", "/v1/events", map[string]any{
			"account_id": acc.AccountID, "event_type": "roles.test", "data": map[string]int{"n": i}}); err != nil || st != 202 {
			t.Fatalf("publish: %d %s %v", st, body, err)
		}
	}
	acked := map[int]bool{}
	for i := range 20 {
		acked[i] = true
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(rc.missing(acked)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if m := rc.missing(acked); len(m) > 0 {
		t.Fatalf("%d events published to the API process never reached the receiver through the dispatcher process\napi log:\n%s\ndispatcher log:\n%s",
			len(m), api.logs, disp.logs)
	}
}
