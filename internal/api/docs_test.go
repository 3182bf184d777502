package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// docsPath is the API guide whose examples these tests run.
const docsPath = "../../docs/api.md"

// fencedBlocks returns the bodies of the blocks fenced with ```lang.
func fencedBlocks(t *testing.T, lang string) []string {
	t.Helper()
	raw, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?ms)^```"+regexp.QuoteMeta(lang)+"\n(.*?)^```$").FindAllStringSubmatch(string(raw), -1) {
		out = append(out, m[1])
	}
	return out
}

// TestDocsCurlExamples runs every ```sh block of docs/api.md, in order,
// against the real service (without a dispatcher, so nothing is sent
// anywhere): each must exit 0 and print a success envelope, never an
// error one.
func TestDocsCurlExamples(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is needed to run the documentation's examples", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	blocks := fencedBlocks(t, "sh")
	if len(blocks) < 10 {
		t.Fatalf("found only %d sh blocks in %s", len(blocks), docsPath)
	}

	// The examples' URLs (https://api.example.com/…) resolve through this
	// resolver only; with the dispatcher off nothing connects to them.
	public := []netip.Addr{netip.MustParseAddr("93.184.215.14")}
	l := startApp(t, fixedResolver{"api.example.com.": public, "api.example.com": public}, "--dispatcher=false", "--rate-limit", "0")
	env := docsFixture(t, l)

	for i, block := range blocks {
		if !strings.Contains(block, "$HOOKRELAY") {
			t.Errorf("block %d does not talk to $HOOKRELAY:\n%s", i+1, block)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", block)
		cmd.Env = append(os.Environ(), env...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		switch {
		case err != nil:
			t.Errorf("block %d failed: %v\n%s\noutput:\n%s", i+1, err, block, out.String())
		case !strings.Contains(out.String(), `"success":true`) || strings.Contains(out.String(), `"success":false`):
			t.Errorf("block %d does not answer a success envelope:\n%s\noutput:\n%s", i+1, block, out.String())
		}
	}
}

// docsFixture makes what the examples' variables name: an operator key,
// an account with a key holding every scope, an endpoint and a delivery.
func docsFixture(t *testing.T, l *liveApp) []string {
	t.Helper()
	op := l.operatorKey(t)
	call := func(method, path, key, body string, want int) map[string]any {
		t.Helper()
		req, err := http.NewRequest(method, l.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var env struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.NewDecoder(res.Body).Decode(&env); err != nil || res.StatusCode != want {
			t.Fatalf("%s %s: %d %v %s", method, path, res.StatusCode, err, env.Data)
		}
		var data map[string]any
		if bytes.HasPrefix(env.Data, []byte("[")) {
			var list []map[string]any
			_ = json.Unmarshal(env.Data, &list)
			if len(list) == 0 {
				t.Fatalf("%s %s: empty list", method, path)
			}
			data = list[0]
		} else {
			_ = json.Unmarshal(env.Data, &data)
		}
		return data
	}
	acc := call("POST", "/v1/accounts", op, `{"name":"Docs"}`, 201)["account_id"].(string)
	key := call("POST", "/v1/accounts/"+acc+"/api-keys", op,
		`{"name":"docs","scopes":["webhooks:read","webhooks:manage","events:publish"]}`, 201)["key"].(string)
	call("POST", "/v1/event-types", op, `{"name":"generation.completed","description":"A generation finished."}`, 201)
	wh := call("POST", "/v1/webhooks", key, `{"url":"https://api.example.com/webhooks/docs","events":["generation.completed"]}`, 201)["webhook_id"].(string)
	call("POST", "/v1/events", key, `{"event_type":"generation.completed","data":{"generation_id":"gen_0"}}`, 202)
	dlv := call("GET", "/v1/webhooks/"+wh+"/deliveries", key, "", 200)["delivery_id"].(string)
	return []string{"HOOKRELAY=" + l.URL, "KEY=" + key, "OPERATOR_KEY=" + op, "ACCOUNT_ID=" + acc, "WEBHOOK_ID=" + wh, "DELIVERY_ID=" + dlv}
}

// TestDocsGoExample compiles the Go receiver of docs/api.md against this
// module's verify package, so that the example cannot drift from its API.
func TestDocsGoExample(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a program")
	}
	blocks := fencedBlocks(t, "go")
	if len(blocks) == 0 {
		t.Fatalf("no go block in %s", docsPath)
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command")
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for i, src := range blocks {
		if !strings.HasPrefix(src, "package main\n") {
			t.Errorf("go block %d is not a whole program (package main)", i+1)
			continue
		}
		// The program is laid, through an overlay, in a package of this
		// module that exists only for the build.
		dir := t.TempDir()
		file := filepath.Join(dir, "main.go")
		virtual := filepath.Join(root, "internal", "api", "docsexample"+string(rune('a'+i)), "main.go")
		overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{virtual: file}})
		if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "overlay.json"), overlay, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(goTool, "build", "-overlay", filepath.Join(dir, "overlay.json"), "-o", os.DevNull, "./"+filepath.Base(filepath.Dir(virtual)))
		cmd.Dir = filepath.Join(root, "internal", "api")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go block %d does not build: %v\n%s", i+1, err, out)
		}
	}
}
