package sqlite

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// TestStatsQueriesUseIndexes: the scrape-time queries never read the
// delivery log itself, only the pending-only partial index deliveries_due
// (and the endpoints table), so a scrape costs the same with a billion
// delivered rows as with none.
func TestStatsQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	s := openTestStore(t)
	for name, q := range map[string]string{"pending": statsPending, "oldest due": statsOldestDue,
		"endpoints": statsEndpoints, "top failing": statsTopFailing} {
		args := make([]any, strings.Count(q, "?"))
		for i := range args {
			args[i] = 1
		}
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			if strings.Contains(step, "deliveries") && !strings.Contains(step, "INDEX deliveries_due") {
				t.Errorf("%s: plan step %q reads deliveries without the pending-only index:\n%s", name, step, strings.Join(plan, "\n"))
			}
		}
	}
}

func openTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir() + "/stats.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// BenchmarkStatsGet times one scrape's queries on a database holding
// HOOKRELAY_BENCH_DELIVERIES deliveries (default 200,000; docs/operations.md
// quotes 1,000,000) over 1,000 endpoints, HOOKRELAY_BENCH_PENDING_PERCENT of
// them pending (default 1: a healthy service; 100: a full backlog), and 50
// endpoints failing.
func BenchmarkStatsGet(b *testing.B) {
	n, pending := 200_000, 1
	if v := os.Getenv("HOOKRELAY_BENCH_DELIVERIES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	if v := os.Getenv("HOOKRELAY_BENCH_PENDING_PERCENT"); v != "" {
		pending, _ = strconv.Atoi(v)
	}
	s := openTestStore(b)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.AccountCreate(ctx, store.AccountCreateParams{ID: "acc_b", Name: "b", Now: t0}); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if _, err := s.EndpointCreate(ctx, store.EndpointCreateParams{ID: "wh_" + strconv.Itoa(i), AccountID: "acc_b",
			URL: "https://example.com/" + strconv.Itoa(i), Events: []string{"*"},
			Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"}, Now: t0}); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	err := s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO events (id, account_id, event_type, data, deliveries, created_at)
			SELECT 'evt_' || i, 'acc_b', 'bench.e', '{"n":1}', 1, ? + i * 10 FROM n`, n, ms(t0)); err != nil {
			return err
		}
		// Endpoint seqs are 1..1000; the newest pending% of the log is pending.
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO deliveries (id, account_id, endpoint_seq, event_seq, event_type, status,
			next_attempt_at, attempt_count, created_at, updated_at)
			SELECT 'dlv_' || seq, 'acc_b', 1 + seq % 1000, seq, event_type,
			       CASE WHEN seq > ? THEN 'pending' ELSE 'delivered' END,
			       CASE WHEN seq > ? THEN created_at END, 1, created_at, created_at FROM events`,
			n-n*pending/100, n-n*pending/100); err != nil {
			return err
		}
		if _, err := tx.tx.ExecContext(ctx, `UPDATE endpoints SET next_due_at = (SELECT min(next_attempt_at) FROM deliveries
			WHERE endpoint_seq = endpoints.seq AND status = 'pending')`); err != nil {
			return err
		}
		_, err := tx.tx.ExecContext(ctx, `UPDATE endpoints SET consecutive_failures = seq WHERE seq % 20 = 0`)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d deliveries (%d%% pending) over 1,000 endpoints written in %v", n, pending, time.Since(start).Round(time.Millisecond))
	now := t0.Add(time.Duration(n) * 10 * time.Millisecond)
	for b.Loop() {
		st, err := s.StatsGet(ctx, store.StatsGetParams{Now: now, TopFailing: 10})
		if err != nil {
			b.Fatal(err)
		}
		if st.EndpointsActive != 1000 || len(st.TopFailing) != 10 || (pending > 0 && st.OldestDueAt == nil) {
			b.Fatalf("stats = %+v", st)
		}
	}
}
