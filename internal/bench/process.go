package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BuildBinary builds cmd/hookrelay into dir and returns its path. It must
// run inside the module (go run ./cmd/hookrelay-bench does).
func BuildBinary(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "hookrelay")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/hookrelay/hookrelay/cmd/hookrelay")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/hookrelay: %w\n%s", err, b)
	}
	return out, nil
}

// Admin runs `hookrelay admin … create` commands against a database.
type Admin struct {
	Binary   string
	Database string
	Env      []string
}

func (a Admin) run(ctx context.Context, args ...string) (string, error) {
	args = append(args, "--database", a.Database)
	cmd := exec.CommandContext(ctx, a.Binary, args...)
	cmd.Env = a.Env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hookrelay %s: %w: %s", strings.Join(args[:min(3, len(args))], " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Migrate creates the database (only serve and migrate create one).
func (a Admin) Migrate(ctx context.Context) error {
	_, err := a.run(ctx, "migrate")
	return err
}

// CreateAccount returns the new account's id.
func (a Admin) CreateAccount(ctx context.Context, name string) (string, error) {
	out, err := a.run(ctx, "admin", "account", "create", "--name", name)
	if err != nil {
		return "", err
	}
	var v struct {
		AccountID string `json:"account_id"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.AccountID == "" {
		return "", fmt.Errorf("admin account create: unexpected output %q", out)
	}
	return v.AccountID, nil
}

// CreateAPIKey returns a new key of account with scopes.
func (a Admin) CreateAPIKey(ctx context.Context, account, scopes string) (string, error) {
	key, err := a.run(ctx, "admin", "api-key", "create", "--account", account, "--scopes", scopes, "--name", "bench")
	if err != nil {
		return "", err
	}
	if key == "" || strings.ContainsAny(key, " \n") {
		return "", fmt.Errorf("admin api-key create: unexpected output %q", key)
	}
	return key, nil
}

// CreateOperatorKey returns a new operator key (it creates event types
// through the API: one process per type is too slow for 1,000).
func (a Admin) CreateOperatorKey(ctx context.Context) (string, error) {
	key, err := a.run(ctx, "admin", "operator-key", "create", "--name", "bench")
	if err != nil {
		return "", err
	}
	if key == "" || strings.ContainsAny(key, " \n") {
		return "", fmt.Errorf("admin operator-key create: unexpected output %q", key)
	}
	return key, nil
}

// Serve is a running `hookrelay serve` subprocess.
type Serve struct {
	BaseURL   string
	Pid       int
	Args      []string
	PprofAddr string // --pprof-addr, when the bench set one
	logPath   string
	cmd       *exec.Cmd
	done      chan struct{}
	waitErr   error

	mu      sync.Mutex
	peakRSS uint64 // highest VmRSS sampled
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// StartServe starts `binary serve args…` with its output in logPath. args
// must contain --addr; addr is the same address.
func StartServe(binary, addr string, args, env []string, logPath string) (*Serve, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("serve log: %w", err)
	}
	cmd := exec.Command(binary, append([]string{"serve"}, args...)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start hookrelay serve: %w", err)
	}
	s := &Serve{BaseURL: "http://" + addr, Pid: cmd.Process.Pid, Args: cmd.Args, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	return s, nil
}

// Exited is closed when the process has exited.
func (s *Serve) Exited() <-chan struct{} { return s.done }

// ExitError describes how the process ended, with the end of its log.
func (s *Serve) ExitError() error {
	return fmt.Errorf("hookrelay serve (pid %d) exited: %v\n--- end of %s ---\n%s", s.Pid, s.waitErr, s.logPath, s.LogTail(20))
}

// WaitReady polls GET /readyz until it answers 200.
func (s *Serve) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.BaseURL+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz answered %s", resp.Status)
		}
		last = err
		select {
		case <-s.done:
			return s.ExitError()
		case <-ctx.Done():
			return fmt.Errorf("hookrelay serve not ready after %s: %v", timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Sample reads the process's memory now and keeps the highest VmRSS.
func (s *Serve) Sample() (Mem, error) {
	m, err := ReadMem(s.Pid)
	if err != nil {
		return Mem{}, err
	}
	s.mu.Lock()
	s.peakRSS = max(s.peakRSS, m.RSS)
	s.mu.Unlock()
	return m, nil
}

// SampleEvery samples memory every d until ctx ends.
func (s *Serve) SampleEvery(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-t.C:
			_, _ = s.Sample()
		}
	}
}

// Usage is the process's resources at one moment.
type Usage struct {
	RSSBytes       uint64  `json:"rss_bytes"`        // VmRSS now
	PeakRSSBytes   uint64  `json:"peak_rss_bytes"`   // VmHWM: the kernel's high-water mark
	SampledPeakRSS uint64  `json:"sampled_peak_rss"` // highest VmRSS the bench sampled
	CPUSeconds     float64 `json:"cpu_seconds"`      // utime + stime since start
}

// Usage reads memory and CPU time now.
func (s *Serve) Usage() (Usage, error) {
	m, err := s.Sample()
	if err != nil {
		return Usage{}, err
	}
	cpu, err := ReadCPU(s.Pid)
	if err != nil {
		return Usage{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return Usage{RSSBytes: m.RSS, PeakRSSBytes: m.HWM, SampledPeakRSS: s.peakRSS, CPUSeconds: cpu.Seconds()}, nil
}

// Stop sends SIGTERM, then SIGKILL if the process has not exited after grace.
func (s *Serve) Stop(grace time.Duration) error {
	select {
	case <-s.done:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM hookrelay serve: %w", err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(grace):
	}
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL hookrelay serve: %w", err)
	}
	<-s.done
	return fmt.Errorf("hookrelay serve (pid %d) ignored SIGTERM for %s and was killed", s.Pid, grace)
}

// LogTail returns the last n lines of the process's log.
func (s *Serve) LogTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
