package bench

import (
	"bytes"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"
)

// Tracker matches what was published (or sent, for the ceiling) with what
// the receivers saw. Every request carries a bench sequence number in its
// data; the tracker keeps, per sequence number, when it was sent, and per
// delivery (the event's sequence number and, with fan-out, the receiver
// it reached) when it first arrived, and counts repeated arrivals by
// delivery id (webhook-id). Times are nanoseconds since base plus one, so
// that zero means "never".
type Tracker struct {
	base time.Time
	fan  int // deliveries per event: 1, or every endpoint with fan-out
	sent []atomic.Int64

	stripes [64]sync.Mutex // guards arrived and idHash of seq%64
	arrived []int64
	idHash  []uint64

	unique     atomic.Int64 // sequence numbers seen at least once
	total      atomic.Int64 // requests received
	duplicates atomic.Int64 // repeats of a delivery id already seen
	extra      atomic.Int64 // a second, different delivery id for one event
	unknown    atomic.Int64 // requests without a valid sequence number
	first      atomic.Int64 // first arrival
	last       atomic.Int64 // last first-arrival (last unique delivery)
}

// NewTracker tracks sequence numbers 0..n-1, one delivery each, with
// times relative to base.
func NewTracker(base time.Time, n int) *Tracker { return NewFanTracker(base, n, 1) }

// NewFanTracker tracks sequence numbers 0..n-1 with fan deliveries each:
// event seq's delivery to receiver i is delivery seq*fan + i.
func NewFanTracker(base time.Time, n, fan int) *Tracker {
	return &Tracker{
		base:    base,
		fan:     fan,
		sent:    make([]atomic.Int64, n),
		arrived: make([]int64, n*fan),
		idHash:  make([]uint64, n*fan),
	}
}

// Len is how many sequence numbers (events) the tracker holds.
func (t *Tracker) Len() int { return len(t.sent) }

// Deliveries is how many deliveries the tracker expects at most.
func (t *Tracker) Deliveries() int { return len(t.arrived) }

func (t *Tracker) now() int64 { return int64(time.Since(t.base)) + 1 }

// Sent records that seq is being sent now.
func (t *Tracker) Sent(seq int) { t.sent[seq].Store(t.now()) }

// SentAt is when seq was sent (zero if never).
func (t *Tracker) SentAt(seq int) time.Duration { return time.Duration(t.sent[seq].Load() - 1) }

// Arrive records a request for seq at receiver slot with delivery id id;
// seq < 0 means the body had no sequence number. slot only counts with
// fan-out.
func (t *Tracker) Arrive(seq, slot int, id string) {
	now := t.now()
	t.total.Add(1)
	if seq < 0 || seq >= len(t.sent) {
		t.unknown.Add(1)
		return
	}
	seq = seq*t.fan + slot%t.fan
	h := fnv.New64a()
	h.Write([]byte(id))
	sum := h.Sum64() | 1 // never zero, so zero means "unset"

	mu := &t.stripes[seq%len(t.stripes)]
	mu.Lock()
	prev := t.idHash[seq]
	if prev == 0 {
		t.arrived[seq], t.idHash[seq] = now, sum
	}
	mu.Unlock()
	switch {
	case prev == sum:
		t.duplicates.Add(1)
		return
	case prev != 0:
		t.extra.Add(1)
		return
	}
	t.unique.Add(1)
	t.first.CompareAndSwap(0, now)
	for {
		l := t.last.Load()
		if l >= now || t.last.CompareAndSwap(l, now) {
			break
		}
	}
}

// ArrivedAt is when delivery d first arrived (zero if never).
func (t *Tracker) ArrivedAt(d int) time.Duration {
	seq := d
	mu := &t.stripes[seq%len(t.stripes)]
	mu.Lock()
	defer mu.Unlock()
	return time.Duration(t.arrived[seq] - 1)
}

// Counts is a snapshot of the tracker's counters.
type Counts struct {
	Unique     int64 `json:"unique"`
	Total      int64 `json:"total_requests"`
	Duplicates int64 `json:"duplicates"`
	Extra      int64 `json:"extra_delivery_ids"`
	Unknown    int64 `json:"unknown"`
}

// Counts returns the counters now.
func (t *Tracker) Counts() Counts {
	return Counts{
		Unique: t.unique.Load(), Total: t.total.Load(), Duplicates: t.duplicates.Load(),
		Extra: t.extra.Load(), Unknown: t.unknown.Load(),
	}
}

// Unique is how many sequence numbers have arrived.
func (t *Tracker) Unique() int64 { return t.unique.Load() }

// LastArrival is the time of the last first-arrival, relative to base
// (zero if nothing arrived).
func (t *Tracker) LastArrival() time.Duration { return time.Duration(t.last.Load() - 1) }

// FirstAttemptLatencies returns, for every delivery both sent and
// arrived, arrival minus send.
func (t *Tracker) FirstAttemptLatencies() []time.Duration { return t.FirstAttemptLatenciesOf(nil) }

// FirstAttemptLatenciesOf is FirstAttemptLatencies for the deliveries of
// the sequence numbers keep accepts (all when keep is nil).
func (t *Tracker) FirstAttemptLatenciesOf(keep func(seq int) bool) []time.Duration {
	out := make([]time.Duration, 0, len(t.arrived))
	for seq := range t.sent {
		if keep != nil && !keep(seq) {
			continue
		}
		s := t.sent[seq].Load()
		if s == 0 {
			continue
		}
		for d := seq * t.fan; d < (seq+1)*t.fan; d++ {
			if a := t.ArrivedAt(d) + 1; a != 0 {
				out = append(out, time.Duration(int64(a)-s))
			}
		}
	}
	return out
}

var seqKey = []byte(`"bench_seq":`)

// SeqOf finds the bench sequence number in a body; -1 if there is none.
// It scans instead of decoding JSON so that the receiver stays cheap and
// does the same work for hookrelay's deliveries and the ceiling's requests.
func SeqOf(body []byte) int {
	i := bytes.Index(body, seqKey)
	if i < 0 {
		return -1
	}
	n, digits := 0, 0
	for _, c := range body[i+len(seqKey):] {
		if c < '0' || c > '9' {
			break
		}
		if digits++; digits > 12 {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	if digits == 0 {
		return -1
	}
	return n
}
