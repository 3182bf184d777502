package bench

import (
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value such that at least p % of the
// values are less than or equal to it. It returns 0 for an empty slice.
// sorted must be in ascending order.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	// rank = ceil(p/100 * n), computed without floating-point surprises
	// for the common integral percentiles (p*n is exact for them).
	x := p * float64(n) / 100
	rank := int(x)
	if float64(rank) < x {
		rank++
	}
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// Latency summarises a set of durations, in milliseconds for JSON.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

// Summarize sorts d in place and returns its percentiles.
func Summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	return Latency{
		Count: len(d),
		P50:   ms(Percentile(d, 50)),
		P95:   ms(Percentile(d, 95)),
		P99:   ms(Percentile(d, 99)),
		Max:   ms(d[len(d)-1]),
		Mean:  ms(sum / time.Duration(len(d))),
	}
}

func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
