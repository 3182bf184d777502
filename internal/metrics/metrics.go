// Package metrics defines hookrelay's Prometheus collectors. They live on a
// registry passed in by main, never the global default one, so tests and
// several instances in one process do not collide.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is every collector the service updates.
type Metrics struct {
	EventsPublished  prometheus.Counter
	PublishBatchSize prometheus.Histogram
	// PublishWait is how long a publish waited for its group commit to
	// begin (the previous commit running); PublishCommit how long that
	// transaction took, fsync included.
	PublishWait       prometheus.Histogram
	PublishCommit     prometheus.Histogram
	Deliveries        *prometheus.CounterVec // by outcome: delivered, failed, retried
	AttemptDuration   *prometheus.HistogramVec
	EndpointsHeld     prometheus.Gauge
	InFlight          prometheus.Gauge
	RecordBatchSize   prometheus.Histogram
	PublishToFirstTry prometheus.Histogram
	BreakerTrips      prometheus.Counter
	EndpointsDisabled prometheus.Counter
	Dropped           *prometheus.CounterVec // by reason: see DeliveriesDropped
	DispatcherStalled prometheus.Gauge
	DispatcherStalls  prometheus.Counter
}

// Why a delivery was dropped: the values of the reason label of
// hookrelay_deliveries_dropped_total, few and fixed.
const (
	DropQueueLimit      = "queue_limit"      // its disabled endpoint's queue held more than --queue-max
	DropAge             = "age"              // queued longer than --queue-max-age
	DropEndpointDeleted = "endpoint_deleted" // pending or queued when its endpoint was deleted
)

var dropReasons = []string{DropQueueLimit, DropAge, DropEndpointDeleted}

// DeliveriesDropped counts n deliveries turned into dropped for reason (one
// of the Drop constants). A nil m counts nothing: processes without a
// registry (the admin CLI) share the code paths that drop.
func (m *Metrics) DeliveriesDropped(reason string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.Dropped.WithLabelValues(reason).Add(float64(n))
}

// New registers the collectors on reg (and the Go runtime collectors, when
// withRuntime is set, for a process's own registry).
func New(reg prometheus.Registerer, withRuntime bool) *Metrics {
	m := &Metrics{
		EventsPublished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookrelay_events_published_total", Help: "Events accepted by publish (duplicates excluded)."}),
		PublishBatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookrelay_publish_commit_events", Help: "Events committed per group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7)}),
		PublishWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookrelay_publish_commit_wait_seconds", Help: "Time a publish waited for its group commit to begin.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}),
		PublishCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookrelay_publish_commit_seconds", Help: "Duration of one group-commit transaction, fsync included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5}}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookrelay_delivery_attempts_total", Help: "Finished attempts by outcome: delivered, retried (failed, will retry) or failed (retries exhausted)."},
			[]string{"outcome"}),
		AttemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookrelay_attempt_duration_seconds", Help: "Duration of delivery attempts.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"result"}),
		EndpointsHeld: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookrelay_dispatcher_endpoints_leased", Help: "Endpoints this process currently leases."}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hookrelay_dispatcher_requests_in_flight", Help: "Delivery requests in flight from this process."}),
		RecordBatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookrelay_record_commit_attempts", Help: "Attempt results written per transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7)}),
		PublishToFirstTry: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookrelay_publish_to_first_attempt_seconds", Help: "Time from publish to the start of a delivery's first attempt.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30}}),
		BreakerTrips: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookrelay_breaker_trips_total", Help: "Times an endpoint's circuit breaker opened."}),
		EndpointsDisabled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookrelay_endpoints_auto_disabled_total", Help: "Endpoints disabled by the dispatcher (410 Gone or the failure rule)."}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookrelay_deliveries_dropped_total", Help: "Deliveries this process turned into dropped, by reason: " +
				"queue_limit (beyond --queue-max at publish), age (queued longer than --queue-max-age) or " +
				"endpoint_deleted (still waiting when their endpoint was deleted)."},
			[]string{"reason"}),
	}
	// Every reason shows from the start, at 0, so that an alert on an
	// increase sees the first drop rather than a series appearing.
	for _, r := range dropReasons {
		m.Dropped.WithLabelValues(r)
	}
	m.DispatcherStalled = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hookrelay_dispatcher_stalled", Help: "1 while the dispatcher's watchdog finds work waiting and nothing progressing (/readyz fails meanwhile)."})
	m.DispatcherStalls = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hookrelay_dispatcher_stalls_total", Help: "Stalls the dispatcher's watchdog detected."})
	reg.MustRegister(m.BreakerTrips, m.EndpointsDisabled, m.Dropped, m.DispatcherStalled, m.DispatcherStalls)
	reg.MustRegister(m.PublishWait, m.PublishCommit)
	reg.MustRegister(m.EventsPublished, m.PublishBatchSize, m.Deliveries, m.AttemptDuration, m.EndpointsHeld,
		m.InFlight, m.RecordBatchSize, m.PublishToFirstTry)
	if withRuntime {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}
