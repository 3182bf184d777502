package bench

import (
	"testing"
	"time"
)

func TestMatrixShapes(t *testing.T) {
	m := MatrixConfig{Endpoints: []int{1, 100}, Batches: []int{1, 100}, Latencies: []time.Duration{0, 50 * time.Millisecond},
		Deliveries: 100000, SlowSeconds: 10}
	if err := m.validate(); err != nil {
		t.Fatal(err)
	}
	shapes := m.shapes(10)
	// 2 latencies × (1 endpoint: spread only; 100: spread and fan-out) × 2 batches.
	if len(shapes) != 12 {
		t.Fatalf("%d shapes, want 12: %v", len(shapes), shapes)
	}
	for _, s := range shapes {
		deliveries := s.Events
		if s.Fanout {
			deliveries *= s.Endpoints
		}
		want := 100000
		if s.Latency > 0 && s.Endpoints == 1 {
			// 1 endpoint × 10 in flight / 50 ms = 200/s, for 10 s.
			want = 2000
		}
		if deliveries != want {
			t.Errorf("%s: %d deliveries, want %d", s, deliveries, want)
		}
		if s.Fanout && s.Endpoints == 1 {
			t.Errorf("%s: fan-out to one endpoint repeats the spread shape", s)
		}
	}
	for _, bad := range []MatrixConfig{
		{Endpoints: []int{0}}, {Shapes: []string{"star"}}, {Batches: []int{1001}}, {Repeat: -1},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}
