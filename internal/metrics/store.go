package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookrelay/hookrelay/internal/store"
)

// StatsSource answers the database gauges (the store).
type StatsSource interface {
	StatsGet(ctx context.Context, p store.StatsGetParams) (store.Stats, error)
}

// StoreCollector reads the database's state when Prometheus scrapes, so
// the gauges are true for every process sharing the database and cost
// nothing between scrapes. A query that fails or outlasts its timeout
// sets hookrelay_store_stats_up to 0 and leaves the other gauges out,
// rather than failing the whole scrape.
type StoreCollector struct {
	src     StatsSource
	now     func() time.Time
	timeout time.Duration
	topN    int

	up, took, pending, oldestAge, queued *prometheus.Desc
	endpoints, failing                   *prometheus.Desc
}

// NewStoreCollector returns a collector over src naming at most topN
// failing endpoints; each scrape's queries get timeout.
func NewStoreCollector(src StatsSource, now func() time.Time, timeout time.Duration, topN int) *StoreCollector {
	return &StoreCollector{
		src: src, now: now, timeout: timeout, topN: topN,
		up: prometheus.NewDesc("hookrelay_store_stats_up",
			"1 when the scrape-time database queries answered, 0 when they failed or timed out.", nil, nil),
		took: prometheus.NewDesc("hookrelay_store_stats_duration_seconds",
			"Time the scrape-time database queries took.", nil, nil),
		pending: prometheus.NewDesc("hookrelay_deliveries_pending",
			"Deliveries waiting for their first or next attempt.", nil, nil),
		oldestAge: prometheus.NewDesc("hookrelay_oldest_due_delivery_age_seconds",
			"How long the longest-waiting due delivery has been due (0 when none is); endpoints paused by their circuit breaker are left out.", nil, nil),
		queued: prometheus.NewDesc("hookrelay_deliveries_queued",
			"Deliveries held for disabled endpoints.", nil, nil),
		endpoints: prometheus.NewDesc("hookrelay_endpoints",
			"Endpoints by state: active, breaker_open (active, paused by the circuit breaker) or disabled.", []string{"state"}, nil),
		failing: prometheus.NewDesc("hookrelay_endpoint_consecutive_failures",
			"Failed attempts in a row of the active endpoints failing most (at most a fixed number of them).", []string{"webhook_id", "account_id"}, nil),
	}
}

// Describe sends the descriptors.
func (c *StoreCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.took, c.pending, c.oldestAge, c.queued, c.endpoints, c.failing} {
		ch <- d
	}
}

// Collect queries the store and sends the gauges.
func (c *StoreCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	start := time.Now()
	now := c.now()
	st, err := c.src.StatsGet(ctx, store.StatsGetParams{Now: now, TopFailing: c.topN})
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.took, time.Since(start).Seconds())
	if err != nil {
		gauge(c.up, 0)
		return
	}
	gauge(c.up, 1)
	gauge(c.pending, float64(st.DeliveriesPending))
	age := 0.0
	if st.OldestDueAt != nil && now.After(*st.OldestDueAt) {
		age = now.Sub(*st.OldestDueAt).Seconds()
	}
	gauge(c.oldestAge, age)
	gauge(c.queued, float64(st.DeliveriesQueued))
	gauge(c.endpoints, float64(st.EndpointsActive), "active")
	gauge(c.endpoints, float64(st.EndpointsBreakerOpen), "breaker_open")
	gauge(c.endpoints, float64(st.EndpointsDisabled), "disabled")
	for _, f := range st.TopFailing {
		gauge(c.failing, float64(f.ConsecutiveFailures), f.ID, f.AccountID)
	}
}
