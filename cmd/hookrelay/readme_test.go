package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlock is one shell block of README.md.
type readmeBlock struct {
	line int    // where it starts
	code string // the commands
	skip string // why the test does not run it ("" runs it)
}

var skipMarker = regexp.MustCompile(`^<!-- readme-test: skip: (.+\S) -->$`)

// readmeBlocks returns the README's sh/bash/shell blocks. A block is run
// unless the line before it is `<!-- readme-test: skip: why -->`; any
// other readme-test marker, or one not followed by a block, is an error,
// so nothing is left out by accident.
func readmeBlocks(t *testing.T, readme string) []readmeBlock {
	t.Helper()
	var blocks []readmeBlock
	lines := strings.Split(readme, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "<!-- readme-test") {
			m := skipMarker.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("README.md:%d: marker %q: the only one is <!-- readme-test: skip: why -->", i+1, l)
			}
			if i+1 >= len(lines) || !isShellFence(lines[i+1]) {
				t.Fatalf("README.md:%d: a skip marker must be right above a shell block", i+1)
			}
			continue
		}
		if !strings.HasPrefix(l, "```") {
			continue
		}
		start := i
		var code []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			code = append(code, lines[i])
		}
		if !isShellFence(l) {
			continue
		}
		b := readmeBlock{line: start + 1, code: strings.Join(code, "\n")}
		if start > 0 {
			if m := skipMarker.FindStringSubmatch(strings.TrimSpace(lines[start-1])); m != nil {
				b.skip = m[1]
			}
		}
		blocks = append(blocks, b)
	}
	return blocks
}

func isShellFence(l string) bool {
	switch strings.TrimSpace(l) {
	case "```sh", "```bash", "```shell", "```console":
		return true
	}
	return false
}

// TestReadmeRunIt runs README.md's shell blocks, in order, in one bash
// (set -euo pipefail) in an empty directory, with the freshly built binary
// first on PATH — as a reader pasting them would. The one change made to
// them: the fixed addresses 127.0.0.1:8080 and 127.0.0.1:9000 become free
// ports (HOOKRELAY_ADDR carries the first to serve and ready), since other
// processes on this machine may hold those. It also checks that the Go
// version the README names is the one go.mod asks for.
func TestReadmeRunIt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(string(mod))
	if goVersion == nil || !strings.Contains(readme, "Go "+goVersion[1]+" or newer") {
		t.Fatalf("README.md must say \"Go %s or newer\", the version go.mod needs", goVersion[1])
	}

	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	ran := 0
	for _, b := range readmeBlocks(t, readme) {
		if b.skip != "" {
			t.Logf("README.md:%d: skipped: %s", b.line, b.skip)
			continue
		}
		ran++
		script.WriteString("# README.md:" + strconv.Itoa(b.line) + "\n" + b.code + "\n")
	}
	if ran < 4 {
		t.Fatalf("only %d README blocks run: the Run it section was not found", ran)
	}
	api, rcv := freePort(t), freePort(t)
	text := strings.NewReplacer("127.0.0.1:8080", api, "127.0.0.1:9000", rcv).Replace(script.String())

	dir := t.TempDir()
	cmd := exec.Command("bash", "-c", text)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKRELAY_") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PATH="+filepath.Dir(binary)+string(os.PathListSeparator)+os.Getenv("PATH"), "HOOKRELAY_ADDR="+api)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, nothing the script started outlives the test.
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(90 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("the README's blocks did not finish in 90s:\n%s", out.String())
	}
	serveLog, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatalf("the README's blocks failed: %v\n%s\nserve.log:\n%s", err, out.String(), serveLog)
	}
	for _, want := range []string{"ready\n", "✔ verified", `"status":"delivered"`, `"secret_prefix":"whsec_`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the README session's output lacks %q:\n%s\nserve.log:\n%s", want, out.String(), serveLog)
		}
	}
}
