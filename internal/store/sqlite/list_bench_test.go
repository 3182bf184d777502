package sqlite

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// BenchmarkDeliveryList measures the delivery log's filters on one endpoint
// with a long log: HOOKRELAY_BENCH_DELIVERIES rows (default 200,000; the
// figures in docs/performance.md use 1,000,000). One event in 1,000 is of
// a rare type, one delivery in 1,000 failed, every event has its own
// subject id, and events are one second apart.
func BenchmarkDeliveryList(b *testing.B) {
	n := 200_000
	if v := os.Getenv("HOOKRELAY_BENCH_DELIVERIES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	s, err := Open(b.TempDir() + "/list.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.AccountCreate(ctx, store.AccountCreateParams{ID: "acc_b", Name: "b", Now: t0}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.EndpointCreate(ctx, store.EndpointCreateParams{ID: "wh_b", AccountID: "acc_b", URL: "https://example.com/",
		Events: []string{"*"}, Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"}, Now: t0}); err != nil {
		b.Fatal(err)
	}
	// Rows are generated in SQL: the point is reading a long log, and
	// publishing a million events through the API takes minutes.
	start := time.Now()
	err = s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO events (id, account_id, event_type, subject_id, data, deliveries, created_at)
			SELECT 'evt_' || i, 'acc_b', CASE WHEN i % 1000 = 0 THEN 'bench.rare' ELSE 'bench.e' || (i % 9) END,
			       'gen_' || i, '{"n":1}', 1, ? + i * 1000 FROM n`, n, ms(t0)); err != nil {
			return err
		}
		_, err := tx.tx.ExecContext(ctx, `INSERT INTO deliveries (id, account_id, endpoint_seq, event_seq, event_type, subject_id, status,
			attempt_count, created_at, updated_at)
			SELECT 'dlv_' || seq, 'acc_b', (SELECT seq FROM endpoints WHERE id = 'wh_b'), seq, event_type, subject_id,
			       CASE WHEN seq % 1000 = 7 THEN 'failed' ELSE 'delivered' END, 1, created_at, created_at FROM events`)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d deliveries written in %v", n, time.Since(start).Round(time.Millisecond))
	if os.Getenv("HOOKRELAY_BENCH_ANALYZE") != "" {
		if _, err := s.w.ExecContext(ctx, `ANALYZE`); err != nil {
			b.Fatal(err)
		}
	}

	mid := t0.Add(time.Duration(n/2) * time.Second)
	midEnd := mid.Add(time.Hour)
	deep, err := s.DeliveryList(ctx, store.DeliveryListParams{AccountID: "acc_b", EndpointID: "wh_b", Limit: 250})
	if err != nil {
		b.Fatal(err)
	}
	// A cursor half-way down the log.
	deepCursor := store.EncodeCursor(int64(n / 2))
	_ = deep
	for _, c := range []struct {
		name string
		p    store.DeliveryListParams
		min  int // the page must hold at least this many, or the filter is broken
	}{
		{"newest page", store.DeliveryListParams{}, 50},
		{"page half-way down (cursor)", store.DeliveryListParams{Cursor: deepCursor}, 50},
		{"status=failed (0.1%)", store.DeliveryListParams{Status: webhook.StatusFailed}, 50},
		{"status=delivered", store.DeliveryListParams{Status: webhook.StatusDelivered}, 50},
		{"status=pending (none)", store.DeliveryListParams{Status: webhook.StatusPending}, 0},
		{"event_type rare (0.1%)", store.DeliveryListParams{EventType: "bench.rare"}, 50},
		{"event_type common", store.DeliveryListParams{EventType: "bench.e3"}, 50},
		{"subject_id (one match)", store.DeliveryListParams{SubjectID: "gen_" + strconv.Itoa(n/3)}, 1},
		{"since/until: one hour half-way back", store.DeliveryListParams{Since: &mid, Until: &midEnd}, 50},
		{"failed in that hour", store.DeliveryListParams{Status: webhook.StatusFailed, Since: &mid, Until: &midEnd}, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := c.p
			p.AccountID, p.EndpointID, p.Limit = "acc_b", "wh_b", 50
			for b.Loop() {
				page, err := s.DeliveryList(ctx, p)
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Items) < c.min {
					b.Fatalf("%d deliveries, want at least %d", len(page.Items), c.min)
				}
			}
		})
	}
}

// TestPendingListWithABacklog covers the plan for a pending filter when
// more deliveries are pending than are worth sorting.
func TestPendingListWithABacklog(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir() + "/backlog.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.AccountCreate(ctx, store.AccountCreateParams{ID: "acc_b", Name: "b", Now: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.EndpointCreate(ctx, store.EndpointCreateParams{ID: "wh_b", AccountID: "acc_b", URL: "https://example.com/",
		Events: []string{"*"}, Secret: webhook.EndpointSecret{Ciphertext: []byte("x"), Prefix: "p"}, Now: t0}); err != nil {
		t.Fatal(err)
	}
	n := pendingSortLimit + 500
	err = s.tx(ctx, func(tx *wtx) error {
		if _, err := tx.tx.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO events (id, account_id, event_type, data, deliveries, created_at)
			SELECT 'evt_' || i, 'acc_b', 'x.y', '{}', 1, ? + i FROM n`, n, ms(t0)); err != nil {
			return err
		}
		_, err := tx.tx.ExecContext(ctx, `INSERT INTO deliveries (id, account_id, endpoint_seq, event_seq, event_type, status,
			next_attempt_at, created_at, updated_at)
			SELECT 'dlv_' || seq, 'acc_b', (SELECT seq FROM endpoints WHERE id = 'wh_b'), seq, event_type,
			       CASE WHEN seq % 2 = 0 THEN 'pending' ELSE 'delivered' END, created_at, created_at, created_at FROM events`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.DeliveryList(ctx, store.DeliveryListParams{AccountID: "acc_b", EndpointID: "wh_b", Status: webhook.StatusPending, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"dlv_" + strconv.Itoa(n), "dlv_" + strconv.Itoa(n-2), "dlv_" + strconv.Itoa(n-4)}
	if n%2 == 1 {
		want = []string{"dlv_" + strconv.Itoa(n-1), "dlv_" + strconv.Itoa(n-3), "dlv_" + strconv.Itoa(n-5)}
	}
	for i, d := range page.Items {
		if d.ID != want[i] || d.Status != webhook.StatusPending {
			t.Fatalf("pending page = %v, want %v newest first", page.Items, want)
		}
	}
}
