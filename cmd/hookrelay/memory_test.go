package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// peakRSS reads a process's peak resident memory (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc status for the server (%v): cannot measure its memory here", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestLargeBatchesStayUnderAMemoryCeiling sends eight ~31 MB batches at
// once, as one publish key could. Before the body budget the server grew
// by ~165 MB per batch (1.3 GB for eight); now the bodies in flight are
// bounded by --max-body-memory, the rest are told 503 with Retry-After,
// and the server's peak memory stays under a ceiling.
func TestLargeBatchesStayUnderAMemoryCeiling(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes and moves 250 MB")
	}
	n := node{t: t, database: filepath.Join(t.TempDir(), "mem.db")}
	_, key := n.bootstrap("mem", "events:publish,webhooks:read", "mem.test")
	in := n.start(freePort(t), "--max-body-memory", "64MiB")
	defer in.kill(t)
	base := peakRSS(t, in.cmd.Process.Pid)

	var body bytes.Buffer
	body.WriteString(`{"events":[`)
	pad := strings.Repeat("x", 31<<10)
	for i := range 1000 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"event_type":"mem.test","data":{"i":%d,"pad":"%s"}}`, i, pad)
	}
	body.WriteString(`]}`)
	var mu sync.Mutex
	answers := map[int]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", in.base+"/v1/events/batch", bytes.NewReader(body.Bytes()))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				// The server may close a connection whose body it stopped
				// reading once it answered 503.
				mu.Lock()
				answers[0]++
				mu.Unlock()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			mu.Lock()
			answers[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	peak := peakRSS(t, in.cmd.Process.Pid)
	t.Logf("8 × %d MB batches: answers %v; peak RSS %d MB (%d MB at start)", body.Len()>>20, answers, peak>>20, base>>20)
	if answers[http.StatusAccepted] == 0 {
		t.Fatalf("no batch was accepted: %v\n%s", answers, in.logs)
	}
	if answers[http.StatusServiceUnavailable] == 0 {
		t.Fatalf("no batch was told 503: the budget bounds nothing (answers %v)", answers)
	}
	for st := range answers {
		if st != http.StatusAccepted && st != http.StatusServiceUnavailable && st != 0 {
			t.Fatalf("answers %v", answers)
		}
	}
	// Unbounded, eight batches took 1.3 GB; streamed but unbounded, 525
	// MB; with a 64 MiB budget about 220 MB.
	const ceiling = 400 << 20
	if peak > ceiling {
		t.Fatalf("peak RSS %d MB, over the %d MB ceiling", peak>>20, ceiling>>20)
	}
}
