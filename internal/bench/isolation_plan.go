package bench

import "time"

// isolationPlan is the isolation scenario's open-loop schedule. Tick k
// (every 1/rate) publishes one event to healthy endpoint k % healthy. With
// the bad endpoints, tick k also publishes one event to the dead endpoint
// when k % healthy == 0 and one to the refused endpoint when
// k % healthy == healthy/2, each in its own request at the same instant:
// every bad endpoint gets the share of one healthy endpoint, and the
// healthy endpoints get the same events at the same times in both phases.
//
// Endpoint indexes: 0..healthy-1 are healthy, healthy is the dead one,
// healthy+1 the refused one. Events (sequence numbers) are numbered in due
// order, round by round (a round is healthy ticks).
type isolationPlan struct {
	healthy  int
	rounds   int
	interval float64    // nanoseconds between ticks
	slots    []planSlot // one round, in due order
}

type planSlot struct {
	endpoint int
	tick     int // within the round
}

// newIsolationPlan schedules ticks = rate × d healthy events, rounded down
// to whole rounds (at least one).
func newIsolationPlan(healthy int, rate float64, d time.Duration, withBad bool) isolationPlan {
	p := isolationPlan{healthy: healthy, interval: float64(time.Second) / rate}
	p.rounds = max(int(rate*d.Seconds())/healthy, 1)
	for t := range healthy {
		p.slots = append(p.slots, planSlot{endpoint: t, tick: t})
		if withBad && t == 0 {
			p.slots = append(p.slots, planSlot{endpoint: p.dead(), tick: t})
		}
		if withBad && t == healthy/2 {
			p.slots = append(p.slots, planSlot{endpoint: p.refused(), tick: t})
		}
	}
	return p
}

func (p isolationPlan) dead() int    { return p.healthy }
func (p isolationPlan) refused() int { return p.healthy + 1 }

// Len is the number of events.
func (p isolationPlan) Len() int { return p.rounds * len(p.slots) }

// Endpoint is the endpoint of event seq.
func (p isolationPlan) Endpoint(seq int) int { return p.slots[seq%len(p.slots)].endpoint }

// Healthy reports whether event seq goes to a healthy endpoint.
func (p isolationPlan) Healthy(seq int) bool { return p.Endpoint(seq) < p.healthy }

// Due is when event seq is published, from the start of publishing.
func (p isolationPlan) Due(seq int) time.Duration {
	tick := seq/len(p.slots)*p.healthy + p.slots[seq%len(p.slots)].tick
	return time.Duration(float64(tick) * p.interval)
}

// Span is how long publishing lasts: every tick's interval.
func (p isolationPlan) Span() time.Duration {
	return time.Duration(float64(p.rounds*p.healthy) * p.interval)
}

// Count is how many events go to endpoints for which keep is true.
func (p isolationPlan) Count(keep func(endpoint int) bool) int {
	n := 0
	for _, s := range p.slots {
		if keep(s.endpoint) {
			n++
		}
	}
	return n * p.rounds
}
