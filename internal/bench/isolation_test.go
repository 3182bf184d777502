package bench

import (
	"context"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestIsolationPlanSharesAndTimes(t *testing.T) {
	const healthy, rate = 20, 500.0
	only := newIsolationPlan(healthy, rate, 2*time.Second, false)
	bad := newIsolationPlan(healthy, rate, 2*time.Second, true)
	if only.Len() != 1000 || bad.Len() != 1100 {
		t.Fatalf("Len = %d and %d, want 1000 and 1100", only.Len(), bad.Len())
	}
	// Each bad endpoint gets exactly one healthy endpoint's share.
	for _, p := range []isolationPlan{only, bad} {
		perEndpoint := map[int]int{}
		for seq := range p.Len() {
			perEndpoint[p.Endpoint(seq)]++
			if seq > 0 && p.Due(seq) < p.Due(seq-1) {
				t.Fatalf("Due(%d) = %s is before Due(%d) = %s", seq, p.Due(seq), seq-1, p.Due(seq-1))
			}
		}
		for e, n := range perEndpoint {
			if n != 50 {
				t.Errorf("endpoint %d gets %d events, want 50", e, n)
			}
		}
	}
	if got := bad.Count(func(e int) bool { return e >= healthy }); got != 100 {
		t.Errorf("bad events = %d, want 100", got)
	}
	if only.Due(only.Len()-1) != 1998*time.Millisecond {
		t.Errorf("last tick at %s, want 1.998s", only.Due(only.Len()-1))
	}
	// The healthy endpoints get the same events at the same times in both
	// phases.
	times := func(p isolationPlan) map[int][]time.Duration {
		m := map[int][]time.Duration{}
		for seq := range p.Len() {
			if p.Healthy(seq) {
				m[p.Endpoint(seq)] = append(m[p.Endpoint(seq)], p.Due(seq))
			}
		}
		return m
	}
	a, b := times(only), times(bad)
	for e := range healthy {
		if !slices.Equal(a[e], b[e]) {
			t.Fatalf("endpoint %d: healthy-only and with-bad schedules differ", e)
		}
	}
	// A bad event goes out on the same tick as a healthy one.
	for seq := range bad.Len() {
		if e := bad.Endpoint(seq); e == bad.dead() && bad.Due(seq) != bad.Due(seq-1) {
			t.Fatalf("dead endpoint's event %d is not on a healthy tick", seq)
		}
	}
}

func TestDeadReceiverNeverAnswers(t *testing.T) {
	d, err := StartDeadReceiver()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 150 * time.Millisecond}
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, d.URL, nil)
	req.Header.Set("Webhook-Id", "dlv_1")
	resp, err := client.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.Fatalf("got %s, want no answer", resp.Status)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("gave up after %s", took)
	}
	// The receiver notices the client leaving.
	deadline := time.Now().Add(5 * time.Second)
	for d.Stats().Held.Count == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s := d.Stats()
	if s.Requests != 1 || s.DeliveryIDs != 1 || s.Held.Count != 1 || s.Held.P50 < 100 {
		t.Errorf("Stats = %+v", s)
	}

	// A request still held at Close gets no answer either.
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Post(d.URL, "application/json", nil)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for d.Stats().Requests < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Error("a held request got an answer at Close")
	}
}

func TestRefusedURL(t *testing.T) {
	u, err := refusedURL()
	if err != nil {
		t.Fatal(err)
	}
	if !refused(u) {
		t.Errorf("%s is not refused", u)
	}
	d, err := StartDeadReceiver()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	if refused(d.URL) {
		t.Errorf("%s, which listens, is refused", d.URL)
	}
}

func TestMetricValue(t *testing.T) {
	text := "# HELP hookrelay_breaker_trips_total x\n# TYPE hookrelay_breaker_trips_total counter\n" +
		"hookrelay_breaker_trips_total 3\nhookrelay_breaker_trips_total_other 9\n" +
		`hookrelay_delivery_attempts_total{outcome="failed"} 4` + "\n"
	if v, ok := metricValue(text, "hookrelay_breaker_trips_total"); !ok || v != 3 {
		t.Errorf("metricValue = %v, %v", v, ok)
	}
	if _, ok := metricValue(text, "hookrelay_missing"); ok {
		t.Error("found a missing series")
	}
}
