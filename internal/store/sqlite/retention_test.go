package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// TestRetentionBoundsFileSize runs a steady load on a fake clock well past
// the retention period — every five minutes, publishes (one in ten with an
// Idempotency-Key record), a delivery per endpoint and event with its attempt, and the
// janitor's prune — and checks that the database file stops growing once
// the retention period is full: pruned rows' pages go to the freelist and
// later inserts reuse them. It also checks that nothing is left behind
// (attempts without their delivery, stats of pruned hours).
//
// HOOKRELAY_RETENTION_EVENTS_PER_MINUTE (default 10) and
// HOOKRELAY_RETENTION_PERIODS (default 2) scale it; docs/operations.md
// quotes a larger run.
func TestRetentionBoundsFileSize(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a few thousand transactions")
	}
	t.Parallel()
	perMinute, periods := envInt(t, "HOOKRELAY_RETENTION_EVENTS_PER_MINUTE", 10), envInt(t, "HOOKRELAY_RETENTION_PERIODS", 2)
	const (
		retention   = 2 * time.Hour // of the fake clock
		idempotency = 30 * time.Minute
		endpoints   = 4
	)
	path := t.TempDir() + "/retention.db"
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if _, err := s.AccountCreate(ctx, store.AccountCreateParams{ID: "acc_r", Name: "r", Now: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EventTypeCreate(ctx, store.EventTypeCreateParams{Name: "load.e", Description: "d", Now: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range endpoints {
		ep, err := s.EndpointCreate(ctx, store.EndpointCreateParams{ID: "wh_" + strconv.Itoa(i), AccountID: "acc_r",
			URL: "https://example.com/" + strconv.Itoa(i), Events: []string{"*"},
			Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"}, Now: clk.Now()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ep.ID)
	}
	data := json.RawMessage(`{"generation_id":"gen_0123456789","model":"image-v2","status":"succeeded","output":["https://cdn.example.com/` +
		strings.Repeat("x", 200) + `.png"]}`)
	body := `{"ok":true,"received":"` + strings.Repeat("y", 100) + `"}`

	minutes := periods * int(retention/time.Minute)
	type sample struct {
		minute       int
		db, wal      int64
		pages, freed int64
		deliveries   int64
	}
	var samples []sample
	seq := 0
	const step = 5 // minutes of load per round: one publish batch, one record batch, one sweep
	for m := step; m <= minutes; m += step {
		clk.Advance(step * time.Minute)
		now := clk.Now()
		events := make([]store.PublishEvent, perMinute*step)
		for i := range events {
			seq++
			events[i] = store.PublishEvent{AccountID: "acc_r", EventID: fmt.Sprintf("evt_%d", seq), Type: "load.e", SubjectID: fmt.Sprintf("gen_%d", seq), Data: data}
			if seq%10 != 0 {
				continue // one publish in ten carries an Idempotency-Key
			}
			k := store.IdempotencyKey{Scope: "key_r", Key: fmt.Sprintf("idem-%d", seq)}
			if _, err := s.IdempotencyBegin(ctx, store.IdempotencyBeginParams{IdempotencyKey: k, Fingerprint: []byte("f"), Now: now, StaleAfter: time.Minute}); err != nil {
				t.Fatal(err)
			}
			if err := s.IdempotencyComplete(ctx, store.IdempotencyCompleteParams{IdempotencyKey: k, Status: 202, Body: []byte(`{"success":true}`), Now: now}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.EventsPublish(ctx, store.EventsPublishParams{Events: events, Now: now}); err != nil {
			t.Fatal(err)
		}
		var results []store.AttemptResult
		for _, id := range ids {
			due, err := s.DeliveriesDue(ctx, store.DeliveriesDueParams{EndpointID: id, Now: now, Limit: perMinute*step + 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range due {
				results = append(results, store.AttemptResult{DeliveryID: d.ID, Status: webhook.StatusDelivered, ScheduleAttempt: 1,
					Attempt: webhook.Attempt{AttemptedAt: now, Duration: 40 * time.Millisecond, StatusCode: 200,
						ResponseHeaders: http.Header{"Content-Type": {"application/json"}}, ResponseBody: body}})
			}
		}
		if err := s.DeliveriesRecord(ctx, results); err != nil {
			t.Fatal(err)
		}
		// The janitor: batches of 1,000 until a call deletes less.
		for {
			n, err := s.Prune(ctx, store.PruneParams{Before: now.Add(-retention), Limit: 1000, IdempotencyBefore: now.Add(-idempotency)})
			if err != nil {
				t.Fatal(err)
			}
			if n < 1000 {
				break
			}
		}
		if m%20 == 0 {
			smp := sample{minute: m, db: fileSize(t, path), wal: fileSize(t, path+"-wal")}
			row := s.r.QueryRowContext(ctx, `SELECT (SELECT page_count FROM pragma_page_count), (SELECT freelist_count FROM pragma_freelist_count),
				(SELECT count(*) FROM deliveries)`)
			if err := row.Scan(&smp.pages, &smp.freed, &smp.deliveries); err != nil {
				t.Fatal(err)
			}
			samples = append(samples, smp)
		}
	}
	t.Logf("%d events/min to %d endpoints, retention %s, %d periods:", perMinute, endpoints, retention, periods)
	t.Logf("%8s %12s %10s %8s %8s %11s", "minute", "db bytes", "wal bytes", "pages", "free", "deliveries")
	for _, smp := range samples {
		t.Logf("%8d %12d %10d %8d %8d %11d", smp.minute, smp.db, smp.wal, smp.pages, smp.freed, smp.deliveries)
	}

	// Once a full retention period (plus an hour of stats) is in the file,
	// it may not grow by more than a little: a few pages as the B-trees
	// settle, never in proportion to the rows written since.
	full := int(retention/time.Minute) + 60
	var atFull sample
	for _, smp := range samples {
		if smp.minute >= full && atFull.minute == 0 {
			atFull = smp
		}
	}
	last := samples[len(samples)-1]
	if atFull.minute == 0 || last.minute-atFull.minute < int(retention/time.Minute)/2 {
		t.Fatalf("the run is too short to show a plateau (periods %d)", periods)
	}
	if grown := float64(last.pages-atFull.pages) / float64(atFull.pages); grown > 0.05 {
		t.Errorf("the database grew %.1f%% (%d → %d pages) between minute %d and %d, after the retention period was full",
			100*grown, atFull.pages, last.pages, atFull.minute, last.minute)
	}
	if want := int64(perMinute * endpoints * int(retention/time.Minute)); last.deliveries > want+int64(perMinute*endpoints*step) {
		t.Errorf("%d deliveries kept, want about %d (one retention period)", last.deliveries, want)
	}
	var orphans, staleStats, staleEvents int64
	row := s.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM attempts a WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = a.delivery_seq)),
		(SELECT count(*) FROM endpoint_stats WHERE hour < ?),
		(SELECT count(*) FROM events WHERE created_at < ?)`, ms(clk.Now().Add(-retention)), ms(clk.Now().Add(-retention)))
	if err := row.Scan(&orphans, &staleStats, &staleEvents); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 || staleStats != 0 || staleEvents != 0 {
		t.Errorf("left behind: %d attempts without a delivery, %d hourly stats and %d events older than retention", orphans, staleStats, staleEvents)
	}
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
