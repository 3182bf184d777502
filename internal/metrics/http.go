package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTP counts API requests by route pattern and status. The route is the
// pattern the request matched ("GET /v1/webhooks/{webhook_id}"), never the
// raw path, so the label takes one value per route however many ids exist;
// requests matching no route share "unmatched".
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTP registers the API's request metrics on reg.
func NewHTTP(reg prometheus.Registerer) *HTTP {
	h := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookrelay_http_requests_total", Help: "API requests by route pattern and status code."},
			[]string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookrelay_http_request_duration_seconds", Help: "API request duration by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"route"}),
	}
	reg.MustRegister(h.requests, h.duration)
	return h
}

// Observe records one finished request.
func (h *HTTP) Observe(route string, status int, d time.Duration) {
	if h == nil {
		return
	}
	h.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	h.duration.WithLabelValues(route).Observe(d.Seconds())
}
