package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

func benchStore(b *testing.B, endpoints, events int) (store.Store, []string) {
	b.Helper()
	s, err := openPath(b.TempDir() + "/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.AccountCreate(ctx, store.AccountCreateParams{ID: "acc_b", Name: "b", Now: t0}); err != nil {
		b.Fatal(err)
	}
	var ids []string
	for i := range endpoints {
		typ := fmt.Sprintf("bench.e%d", i)
		if _, err := s.EventTypeCreate(ctx, store.EventTypeCreateParams{Name: typ, Description: "b", Now: t0}); err != nil {
			b.Fatal(err)
		}
		id := fmt.Sprintf("wh_%d", i)
		if _, err := s.EndpointCreate(ctx, store.EndpointCreateParams{ID: id, AccountID: "acc_b", URL: "https://example.com/",
			Events: []string{typ}, Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"}, Now: t0}); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	for done := 0; done < events; {
		var batch []store.PublishEvent
		for j := 0; j < 500 && done < events; j++ {
			batch = append(batch, store.PublishEvent{AccountID: "acc_b", Type: fmt.Sprintf("bench.e%d", done%endpoints),
				Data: json.RawMessage(`{"generation_id":"gen_123","status":"succeeded"}`)})
			done++
		}
		if _, err := s.EventsPublish(ctx, store.EventsPublishParams{Events: batch, Now: t0.Add(time.Duration(done) * time.Millisecond)}); err != nil {
			b.Fatal(err)
		}
	}
	return s, ids
}

// BenchmarkDeliveriesDue is the dispatcher's refill read: the next 10 due
// deliveries of one endpoint after a position.
func BenchmarkDeliveriesDue(b *testing.B) {
	s, ids := benchStore(b, 10, 20000)
	ctx := context.Background()
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	var pos *store.DuePosition
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		due, err := s.DeliveriesDue(ctx, store.DeliveriesDueParams{EndpointID: ids[i%len(ids)], Now: now, Limit: 10, After: pos})
		if err != nil {
			b.Fatal(err)
		}
		if len(due) == 10 && i%len(ids) == 0 {
			pos = &due[9].Position
		}
	}
}

// BenchmarkPublish commits batches of 32 events to one endpoint each:
// the group-commit shape of 32 concurrent publishers.
func BenchmarkPublish(b *testing.B) {
	s, _ := benchStore(b, 100, 0)
	ctx := context.Background()
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch := make([]store.PublishEvent, 32)
		for j := range batch {
			batch[j] = store.PublishEvent{AccountID: "acc_b", Type: fmt.Sprintf("bench.e%d", (i*32+j)%100),
				Data: json.RawMessage(`{"generation_id":"gen_123","status":"succeeded"}`)}
		}
		if _, err := s.EventsPublish(ctx, store.EventsPublishParams{Events: batch, Now: now}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*32)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPublishFanout commits batches of 10 events, each to all of 100
// endpoints: 1,000 deliveries per transaction.
func BenchmarkPublishFanout(b *testing.B) {
	s, _ := benchStore(b, 0, 0)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		if _, err := s.EndpointCreate(ctx, store.EndpointCreateParams{ID: fmt.Sprintf("wh_f%d", i), AccountID: "acc_b",
			URL: "https://example.com/", Events: []string{"*"}, Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"},
			Now: t0}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.EventTypeCreate(ctx, store.EventTypeCreateParams{Name: "bench.fan", Description: "b", Now: t0}); err != nil {
		b.Fatal(err)
	}
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for range b.N {
		batch := make([]store.PublishEvent, 10)
		for j := range batch {
			batch[j] = store.PublishEvent{AccountID: "acc_b", Type: "bench.fan", Data: json.RawMessage(`{"generation_id":"gen_123"}`)}
		}
		if _, err := s.EventsPublish(ctx, store.EventsPublishParams{Events: batch, Now: now}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkRecord writes results of 500 deliveries per transaction, the
// completer's shape under load.
func BenchmarkRecord(b *testing.B) {
	s, ids := benchStore(b, 10, 0)
	ctx := context.Background()
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	b.StopTimer()
	for i := range b.N {
		batch := make([]store.PublishEvent, 500)
		for j := range batch {
			batch[j] = store.PublishEvent{AccountID: "acc_b", Type: fmt.Sprintf("bench.e%d", j%10), Data: json.RawMessage(`{"n":1}`)}
		}
		if _, err := s.EventsPublish(ctx, store.EventsPublishParams{Events: batch, Now: now}); err != nil {
			b.Fatal(err)
		}
		var results []store.AttemptResult
		for _, id := range ids {
			due, err := s.DeliveriesDue(ctx, store.DeliveriesDueParams{EndpointID: id, Now: now, Limit: 50})
			if err != nil {
				b.Fatal(err)
			}
			for _, d := range due {
				results = append(results, store.AttemptResult{DeliveryID: d.ID, Status: webhook.StatusDelivered, ScheduleAttempt: 1,
					Attempt: webhook.Attempt{AttemptedAt: now, Duration: time.Millisecond, StatusCode: 200,
						ResponseHeaders: map[string][]string{"Content-Type": {"text/plain"}}, ResponseBody: "ok"}})
			}
		}
		b.StartTimer()
		if err := s.DeliveriesRecord(ctx, results); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = i
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "results/s")
}
