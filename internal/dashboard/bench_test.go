package dashboard_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the bench writes its million rows straight into the file

	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/store"
)

// BenchmarkWebhookPage measures the server time of the details page of an
// endpoint whose delivery log holds HOOKRELAY_BENCH_DELIVERIES deliveries
// (default 1,000,000) on the real SQLite store: session, endpoint, one
// page of the log, the catalog and the hourly chart, rendered. One
// delivery in 1,000 failed and one event in 1,000 is of a rare type, so
// the filtered views scan the log's indexes, not a small table.
//
//	go test ./internal/dashboard/ -run '^$' -bench WebhookPage -benchtime 200x
func BenchmarkWebhookPage(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("HOOKRELAY_BENCH_DELIVERIES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	e := setup(b)
	db, err := sql.Open("sqlite", "file:"+e.dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := e.Clock.Now()
	first := now.Add(-time.Duration(n) * time.Second).UnixMilli()
	start := time.Now()
	endpoint := e.EpA.ID
	for _, step := range []struct {
		q    string
		args []any
	}{
		{`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		  INSERT INTO events (id, account_id, event_type, subject_id, data, deliveries, created_at)
		  SELECT 'evt_b' || i, ?, CASE WHEN i % 1000 = 0 THEN 'generation.rare' ELSE 'generation.completed' END,
		         'gen_' || i, '{"generation_id":"gen"}', 1, ? + i * 1000 FROM n`, []any{n, e.A.ID, first}},
		{`INSERT INTO deliveries (id, account_id, endpoint_seq, event_seq, event_type, subject_id, status,
		    attempt_count, last_status_code, created_at, updated_at)
		  SELECT 'dlv_b' || e.seq, e.account_id, (SELECT seq FROM endpoints WHERE id = ?), e.seq, e.event_type, e.subject_id,
		         CASE WHEN e.seq % 1000 = 7 THEN 'failed' ELSE 'delivered' END, 1,
		         CASE WHEN e.seq % 1000 = 7 THEN 500 ELSE 200 END, e.created_at, e.created_at
		  FROM events e WHERE e.id LIKE 'evt_b%'`, []any{endpoint}},
		{`INSERT INTO attempts (delivery_seq, attempted_at, duration_ms, status_code, error, response_headers, response_body)
		  SELECT seq, created_at, 12, last_status_code, '', '{"Content-Type":["application/json"]}', '{"ok":true}'
		  FROM deliveries WHERE id LIKE 'dlv_b%'`, nil},
		{`INSERT INTO endpoint_stats (endpoint_seq, hour, attempts, successes, delivered, failed)
		  SELECT (SELECT seq FROM endpoints WHERE id = ?), created_at / 3600000 * 3600000, count(*),
		         sum(status = 'delivered'), sum(status = 'delivered'), sum(status = 'failed')
		  FROM deliveries WHERE id LIKE 'dlv_b%' GROUP BY 2`, []any{endpoint}},
	} {
		if _, err := db.Exec(step.q, step.args...); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d deliveries written in %v", n, time.Since(start).Round(time.Millisecond))

	token, _, err := e.Ops.SignIn(context.Background(), e.Owner, password)
	if err != nil {
		b.Fatal(err)
	}
	rare := "generation.rare"
	desc := "A rare event."
	if _, err := e.Ops.EventTypeCreate(context.Background(), operations.EventTypeInput{Name: &rare, Description: &desc}); err != nil {
		b.Fatal(err)
	}
	page := "/webhooks/" + e.EpA.ID
	deep := e.dash.SealCursor(e.A.ID, e.EpA.ID, store.EncodeCursor(int64(n/2))) // half-way down the log
	for _, c := range []struct{ name, path string }{
		{"newest", page},
		{"7d", page + "?window=7d"},
		{"failed", page + "?status=failed"},
		{"rare_type", page + "?event_type=generation.rare"},
		{"deep_page", page + "?cursor=" + deep},
		{"delivery", page + "/deliveries/dlv_b" + strconv.Itoa(n/2+2)},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, c.path, nil)
			req.AddCookie(&http.Cookie{Name: "hookrelay_session", Value: token})
			for b.Loop() {
				w := httptest.NewRecorder()
				e.handler.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: HTTP %d: %.300s", c.path, w.Code, w.Body.String())
				}
			}
		})
	}
}
