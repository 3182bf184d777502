package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/internal/config"
)

// runCLI runs the command line in-process as main does: the output and
// the exit status.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	code = exitCode(err, &errb)
	return out.String(), errb.String(), code
}

var flagLine = regexp.MustCompile(`(?m)^  --([a-z-]+)`)

// listedFlags are the flags a help text lists.
func listedFlags(help string) []string {
	var out []string
	for _, m := range flagLine.FindAllStringSubmatch(help, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return out
}

func serveFlags() []string {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	config.Register(fs)
	var out []string
	fs.VisitAll(func(f *flag.Flag) { out = append(out, f.Name) })
	return out
}

// TestHelpForEveryCommand: --help of every command and subcommand goes to
// stdout with exit 0, lists exactly that command's flags in the one style
// (--flag VALUE, then what it does), and promises only what exists: every
// flag its synopsis names is among them.
func TestHelpForEveryCommand(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"serve":                     serveFlags(),
		"migrate":                   {"database", "from"},
		"demo":                      {"addr", "once", "verbose"},
		"listen":                    {"addr", "header-prefix", "secret", "tolerance"},
		"ready":                     {"addr", "wait"},
		"version":                   nil,
		"admin operator-key create": {"database", "name"},
		"admin operator-key list":   {"database", "quiet"},
		"admin operator-key revoke": {"database", "id"},
		"admin account create":      {"database", "name", "quiet"},
		"admin account list":        {"database", "quiet", "search"},
		"admin account delete":      {"database", "id"},
		"admin api-key create":      {"account", "database", "name", "scopes"},
		"admin api-key list":        {"account", "database", "quiet"},
		"admin api-key revoke":      {"account", "database", "id"},
		"admin member create":       {"account", "database", "email", "password-stdin", "quiet", "role"},
		"admin member list":         {"account", "database", "quiet"},
		"admin member delete":       {"account", "database", "id"},
		"admin event-type create":   {"database", "description", "example", "name", "quiet"},
		"admin event-type list":     {"database", "quiet"},
		"admin event-type delete":   {"database", "name"},
	}
	if len(adminCmds)+6 != len(want) {
		t.Fatalf("%d admin commands, %d expected here: add the new one", len(adminCmds), len(want)-6)
	}
	for command, flags := range want {
		for _, help := range []string{"--help", "-h"} {
			stdout, stderr, code := runCLI(t, "", append(strings.Fields(command), help)...)
			if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "Usage: hookrelay "+command) {
				t.Fatalf("%s %s: exit %d, stderr %q, stdout %q", command, help, code, stderr, stdout)
			}
			sort.Strings(flags)
			if got := listedFlags(stdout); !slices.Equal(got, flags) {
				t.Errorf("%s --help lists %v, want %v", command, got, flags)
			}
			synopsis, _, _ := strings.Cut(stdout, "\n")
			for _, m := range regexp.MustCompile(`--([a-z-]+)`).FindAllStringSubmatch(synopsis, -1) {
				if !slices.Contains(flags, m[1]) {
					t.Errorf("%s: the synopsis names --%s, which it does not have", command, m[1])
				}
			}
		}
	}
	// The group helps and the top level, whose every command exists.
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}, {"admin", "--help"}, {"admin", "api-key", "--help"}, {"help", "serve"}} {
		stdout, stderr, code := runCLI(t, "", args...)
		if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "Usage: hookrelay") {
			t.Fatalf("%v: exit %d, stderr %q, stdout %q", args, code, stderr, stdout)
		}
	}
	top, _, _ := runCLI(t, "", "--help")
	for _, m := range regexp.MustCompile(`(?m)^  ([a-z]+)  `).FindAllStringSubmatch(top, -1) {
		if _, _, code := runCLI(t, "", m[1], "--help"); code != 0 {
			t.Errorf("the usage lists %q, which has no help", m[1])
		}
	}
	adminHelpText, _, _ := runCLI(t, "", "admin", "--help")
	for _, m := range regexp.MustCompile(`(?m)^  hookrelay (admin [a-z-]+ [a-z]+)`).FindAllStringSubmatch(adminHelpText, -1) {
		if _, ok := want[m[1]]; !ok {
			t.Errorf("admin --help lists %q, which is not a command", m[1])
		}
	}
}

// TestHelpOfTheBinary: the real process answers --help on stdout with
// exit 0, and a wrong flag with one line and a hint on stderr, exit 2.
func TestHelpOfTheBinary(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary, "admin", "api-key", "create", "--help")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() != 0 || !strings.Contains(stdout.String(), "--scopes") {
		t.Fatalf("--help: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
	for _, args := range [][]string{{"serve", "--no-such-flag"}, {"admin", "account", "list", "--nope"}, {"listen", "--secret"}, {"frobnicate"}} {
		stdout.Reset()
		stderr.Reset()
		cmd := exec.Command(binary, args...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("%v: %v, want exit status 2", args, err)
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if stdout.Len() != 0 || len(lines) != 2 || !strings.HasPrefix(lines[1], "Run 'hookrelay") {
			t.Errorf("%v: stdout %q, stderr %q: want one line and a hint", args, stdout.String(), stderr.String())
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		stdout, stderr, code := runCLI(t, "", args...)
		if code != 0 || stderr != "" || !regexp.MustCompile(`^hookrelay \d+\.\d+\.\d+ .*go1\.\d+`).MatchString(stdout) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
}

// TestErrorsSayWhatToDo: a setting that cannot work says how to fix it.
func TestErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "hints.db")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		args []string
		code int
		hint string
	}{
		{[]string{"serve", "--database", db, "--encryption-key", "not-a-key"}, 2, "head -c 32 /dev/urandom | base64"},
		{[]string{"serve", "--database", db, "--dev-allow-localhost=yes"}, 2, "use true or false"},
		{[]string{"serve", "--database", db, "--api", "maybe"}, 2, "unexpected argument"},
		{[]string{"serve", "--database", db, "--delivery-timeout", "30"}, 2, "such as 30s"},
		{[]string{"serve", "--database", db, "--addr", busy.Addr().String()}, 1, "--addr"},
		{[]string{"listen", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--addr", busy.Addr().String()}, 1, "--addr"},
		{[]string{"admin", "api-key", "create", "--database", db, "--account", "acc_nope", "--scopes", "webhooks:read"}, 1, "hookrelay admin account list"},
		{[]string{"admin", "api-key", "create", "--database", db, "--account", "acc_nope", "--scopes", "webhooks:write"}, 2, "webhooks:read"},
		{[]string{"admin", "member", "create", "--database", db, "--account", "acc_x", "--email", "a@example.com", "--role", "owner"}, 2, "--password-stdin"},
		{[]string{"admin", "accounts", "list"}, 2, "operator-key, account, api-key, member, event-type"},
		{[]string{"admin", "account", "remove"}, 2, "create, list, delete"},
		{[]string{"ready", "--addr", "127.0.0.1"}, 2, "--addr"},
	} {
		stdout, stderr, code := runCLI(t, "", tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.hint) || stdout != "" {
			t.Errorf("%v: exit %d (want %d), stderr %q (want mention of %q), stdout %q", tc.args, code, tc.code, stderr, tc.hint, stdout)
		}
	}
}

// TestBadBooleanVariable: a setting given by its variable names it.
func TestBadBooleanVariable(t *testing.T) {
	db := filepath.Join(t.TempDir(), "hints.db")
	t.Setenv("HOOKRELAY_DISPATCHER", "nope")
	if _, stderr, code := runCLI(t, "", "serve", "--database", db); code != 2 || !strings.Contains(stderr, `HOOKRELAY_DISPATCHER="nope": not a boolean: use true or false`) {
		t.Errorf("bad boolean variable: exit %d, %q", code, stderr)
	}
}

// TestMigrateSaysWhatItApplied: the first run names each migration, the
// next says there was nothing to do.
func TestMigrateSaysWhatItApplied(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "m.db")
	stdout, stderr, code := runCLI(t, "", "migrate", "--database", db)
	if code != 0 || !strings.Contains(stdout, "created database "+db+"\n") || !strings.Contains(stdout, "applied 00001_initial.sql\n") ||
		!strings.Contains(stdout, "applied 00002_processes.sql\n") || !strings.Contains(stdout, "applied 00003_sessions.sql\n") ||
		!strings.Contains(stdout, "applied 00004_publish_clock.sql\n") ||
		!strings.Contains(stdout, "4 migration(s) applied") {
		t.Fatalf("first migrate: exit %d, %q %q", code, stdout, stderr)
	}
	stdout, _, code = runCLI(t, "", "migrate", "--database", db)
	if code != 0 || strings.Contains(stdout, "applied 0") || strings.Contains(stdout, "created") || !strings.Contains(stdout, "nothing to apply") {
		t.Fatalf("second migrate: exit %d, %q", code, stdout)
	}
}

// TestReady: the probe behind the image's HEALTHCHECK.
func TestReady(t *testing.T) {
	t.Parallel()
	var status int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"success":false,"error":{"code":"not_ready","message":"database schema is not current: run hookrelay migrate"}}`))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	status = 200
	if stdout, stderr, code := runCLI(t, "", "ready", "--addr", "0.0.0.0:"+port); code != 0 || stdout != "ready\n" {
		t.Fatalf("ready server: exit %d, %q %q", code, stdout, stderr)
	}
	status = 503
	if _, stderr, code := runCLI(t, "", "ready", "--addr", srv.Listener.Addr().String()); code != 1 || !strings.Contains(stderr, "run hookrelay migrate") {
		t.Fatalf("unready server: exit %d, %q", code, stderr)
	}
	srv.Close()
	if _, stderr, code := runCLI(t, "", "ready", "--addr", srv.Listener.Addr().String()); code != 1 || !strings.Contains(stderr, "is hookrelay serve running") {
		t.Fatalf("no server: exit %d, %q", code, stderr)
	}
}
