package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// fetchCPUProfile asks serve's pprof listener (--pprof-addr) for a CPU
// profile over d and writes it to path. It blocks for about d.
func fetchCPUProfile(ctx context.Context, pprofAddr string, d time.Duration, path string) error {
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, max(int(d.Seconds()), 1))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("CPU profile: %s answered %s: %s", url, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("CPU profile: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("CPU profile: write %s: %w", path, err)
	}
	return nil
}

// profile starts a CPU profile of s in the background when --cpuprofile is
// set; the returned wait blocks until it is written (call it before
// stopping s) and records a failure as a report error.
func (r *runner) profile(ctx context.Context, s *Serve) (wait func()) {
	if r.cfg.CPUProfile == "" || s.PprofAddr == "" {
		return func() {}
	}
	r.logf("CPU profile of serve for %s → %s", r.cfg.CPUProfileSeconds, r.cfg.CPUProfile)
	done := make(chan error, 1)
	go func() { done <- fetchCPUProfile(ctx, s.PprofAddr, r.cfg.CPUProfileSeconds, r.cfg.CPUProfile) }()
	return func() {
		if err := <-done; err != nil {
			r.report.Errors = append(r.report.Errors, err.Error())
			return
		}
		r.report.CPUProfile = r.cfg.CPUProfile
	}
}
