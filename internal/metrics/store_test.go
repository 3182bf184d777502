package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookrelay/hookrelay/internal/store"
)

// slowSource answers after the scrape's timeout, like a database stuck
// behind a lock.
type slowSource struct{}

func (slowSource) StatsGet(ctx context.Context, _ store.StatsGetParams) (store.Stats, error) {
	<-ctx.Done()
	return store.Stats{}, errors.New("stats: " + ctx.Err().Error())
}

// TestStoreCollectorTimeout: a scrape whose queries time out still
// succeeds, reporting hookrelay_store_stats_up 0 and no stale gauges.
func TestStoreCollectorTimeout(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewStoreCollector(slowSource{}, time.Now, 50*time.Millisecond, 10))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("the scrape failed: %v", err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
	}
	if len(got) != 2 || got["hookrelay_store_stats_up"] != 0 || got["hookrelay_store_stats_duration_seconds"] < 0.05 {
		t.Fatalf("gathered %v, want only store_stats_up 0 and the time it took", got)
	}
}
