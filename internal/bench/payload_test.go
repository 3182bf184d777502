package bench

import (
	"encoding/json"
	"testing"
	"time"
)

func TestPayloadsAreValidAndCarryTheSeq(t *testing.T) {
	p := Payloads{Endpoints: 3, DataBytes: 200}
	if d := p.Data(nil, 12345); len(d) != 200 || SeqOf(d) != 12345 || !json.Valid(d) {
		t.Errorf("Data = %d bytes, seq %d, valid %v: %s", len(d), SeqOf(d), json.Valid(d), d)
	}
	var ev struct {
		EventType string          `json:"event_type"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(p.Event(nil, 7), &ev); err != nil || ev.EventType != "bench.e1" || SeqOf(ev.Data) != 7 {
		t.Errorf("Event: %v %+v", err, ev)
	}
	var batch struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(p.Batch(nil, 10, 15), &batch); err != nil || len(batch.Events) != 5 || SeqOf(batch.Events[4]) != 14 {
		t.Errorf("Batch: %v, %d events", err, len(batch.Events))
	}
}

func TestSeqOf(t *testing.T) {
	for body, want := range map[string]int{
		`{"webhook_data":{"bench_seq":0,"pad":""}}`: 0,
		`{"bench_seq":42}`:                          42,
		`{"bench_seq":"42"}`:                        -1,
		`{"other":1}`:                               -1,
		`{"bench_seq":1234567890123}`:               -1,
	} {
		if got := SeqOf([]byte(body)); got != want {
			t.Errorf("SeqOf(%s) = %d, want %d", body, got, want)
		}
	}
}

func TestTrackerCountsDuplicatesByDeliveryID(t *testing.T) {
	tr := NewTracker(time.Now(), 3)
	tr.Sent(0)
	tr.Arrive(0, 0, "dlv_a")
	tr.Arrive(0, 0, "dlv_a") // a retry of the same delivery
	tr.Arrive(0, 0, "dlv_b") // a second delivery for the same event
	tr.Arrive(-1, 0, "x")
	tr.Arrive(9, 0, "y")
	want := Counts{Unique: 1, Total: 5, Duplicates: 1, Extra: 1, Unknown: 2}
	if got := tr.Counts(); got != want {
		t.Errorf("Counts = %+v, want %+v", got, want)
	}
	if l := tr.FirstAttemptLatencies(); len(l) != 1 || l[0] < 0 {
		t.Errorf("FirstAttemptLatencies = %v", l)
	}
}

// TestFanTrackerCountsEachEndpoint: with fan-out, one event is one
// delivery per receiver, each counted and timed on its own.
func TestFanTrackerCountsEachEndpoint(t *testing.T) {
	tr := NewFanTracker(time.Now(), 2, 3)
	tr.Sent(1)
	for slot := range 3 {
		tr.Arrive(1, slot, "dlv_"+string(rune('a'+slot)))
	}
	tr.Arrive(1, 2, "dlv_c") // a retry at the third receiver
	want := Counts{Unique: 3, Total: 4, Duplicates: 1}
	if got := tr.Counts(); got != want {
		t.Errorf("Counts = %+v, want %+v", got, want)
	}
	if l := tr.FirstAttemptLatencies(); len(l) != 3 {
		t.Errorf("%d latencies, want one per delivery (3)", len(l))
	}
	if tr.Len() != 2 || tr.Deliveries() != 6 {
		t.Errorf("Len %d, Deliveries %d; want 2 events, 6 deliveries", tr.Len(), tr.Deliveries())
	}
}

func TestFlagValue(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
		ok   bool
	}{
		{[]string{"--max-in-flight-per-endpoint", "20"}, "20", true},
		{[]string{"-max-in-flight-per-endpoint=5", "--log-level", "warn"}, "5", true},
		{[]string{"--max-in-flight-per-endpoint=5", "--max-in-flight-per-endpoint", "7"}, "7", true},
		{[]string{"--max-in-flight-per-endpoint"}, "", false},
		{[]string{"--log-level", "warn"}, "", false},
	} {
		got, ok := flagValue(tc.args, "max-in-flight-per-endpoint")
		if got != tc.want || ok != tc.ok {
			t.Errorf("flagValue(%q) = %q, %v; want %q, %v", tc.args, got, ok, tc.want, tc.ok)
		}
	}
}
