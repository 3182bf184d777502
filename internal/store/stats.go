package store

import (
	"context"
	"time"
)

// StatsStore answers what /metrics shows about the whole database. It is
// read at every scrape, so drivers answer it with indexed or small reads
// only, never a scan of the delivery log.
type StatsStore interface {
	StatsGet(ctx context.Context, p StatsGetParams) (Stats, error)
}

type StatsGetParams struct {
	Now time.Time
	// TopFailing is how many of the endpoints failing most to name.
	TopFailing int
}

// Stats is the database's state at one time.
type Stats struct {
	DeliveriesPending int64
	// OldestDueAt is the due time of the longest-waiting delivery that is
	// due now on an endpoint whose circuit breaker is closed (a tripped
	// endpoint's deliveries wait on purpose); nil when nothing is due.
	OldestDueAt *time.Time
	// Endpoints by state; each endpoint (deleted ones excluded) is in one.
	EndpointsActive      int64 // active, breaker closed
	EndpointsBreakerOpen int64 // active, paused by the breaker
	EndpointsDisabled    int64
	DeliveriesQueued     int64 // held for disabled endpoints
	// TopFailing are the active endpoints with the most failed attempts in
	// a row, most first; endpoints with none are left out.
	TopFailing []FailingEndpoint
}

// FailingEndpoint is one endpoint of Stats.TopFailing.
type FailingEndpoint struct {
	ID                  string
	AccountID           string
	ConsecutiveFailures int
}
