package dashboard_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// TestEventsTableFiltersPagesAndRecovers: the Webhook events table filters
// by status and event type, pages by cursor, and Recover re-sends the
// failed deliveries since the time the form gives.
func TestEventsTableFiltersPagesAndRecovers(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	var events []store.PublishEvent
	for i := range 60 {
		events = append(events, store.PublishEvent{AccountID: e.A.ID, Type: "generation.completed",
			SubjectID: "gen_" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), Data: json.RawMessage(`{"n":1}`)})
	}
	if _, err := e.Store.EventsPublish(ctx, store.EventsPublishParams{Events: events, Now: e.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	all, err := e.Store.DeliveryList(ctx, store.DeliveryListParams{AccountID: e.A.ID, EndpointID: e.EpA.ID, Limit: 250})
	if err != nil || len(all.Items) != 60 {
		t.Fatalf("%d deliveries, %v", len(all.Items), err)
	}
	var results []store.AttemptResult
	for i, d := range all.Items {
		r := store.AttemptResult{DeliveryID: d.ID, Status: webhook.StatusDelivered,
			Attempt: webhook.Attempt{AttemptedAt: e.Clock.Now(), StatusCode: 200}}
		if i%10 == 0 {
			r.Status, r.ScheduleAttempt, r.Attempt.StatusCode = webhook.StatusFailed, 5, 503
		}
		results = append(results, r)
	}
	if err := e.Store.DeliveriesRecord(ctx, results); err != nil {
		t.Fatal(err)
	}

	b := e.browser(t)
	token := b.signIn(e.Owner)
	page := "/webhooks/" + e.EpA.ID
	rows := regexp.MustCompile(`<tr>\s*<td><a href="` + regexp.QuoteMeta(page) + `/deliveries/`)
	first := b.get(page)
	if n := len(rows.FindAllString(first.Body, -1)); n != 50 {
		t.Fatalf("first page: %d rows, want 50", n)
	}
	next := regexpFind(t, first.Body, `href="(`+regexp.QuoteMeta(page)+`\?[^"]*cursor=[^"]+)" rel="next"`)
	second := b.get(strings.ReplaceAll(next, "&amp;", "&"))
	if n := len(rows.FindAllString(second.Body, -1)); n != 10 || strings.Contains(second.Body, `rel="next"`) {
		t.Fatalf("second page: %d rows (want 10), next link %v", n, strings.Contains(second.Body, `rel="next"`))
	}
	// The link's cursor is sealed to this endpoint: another endpoint's
	// list refuses it, and nothing in it reads as a position.
	cursor := regexpFind(t, next, `cursor=([^"&]+)`)
	if _, err := strconv.Atoi(cursor); err == nil || strings.Contains(second.Body, "cursor=50") {
		t.Fatalf("the next-page link carries a plain position: %s", next)
	}
	if p := b.get("/webhooks/" + e.EpA.ID + "x?cursor=" + cursor); p.Status != http.StatusNotFound {
		t.Fatalf("another endpoint's id with the cursor: HTTP %d, want 404", p.Status)
	}
	other, _, err := e.Ops.EndpointCreate(ctx, e.A.ID, operations.EndpointInput{URL: ptr("http://127.0.0.1:9/other"), Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := b.get("/webhooks/" + other.ID + "?cursor=" + cursor); p.Status != http.StatusBadRequest ||
		!strings.Contains(p.Body, "this link&#39;s page is not one of this list") {
		t.Fatalf("the cursor on another endpoint's list: HTTP %d", p.Status)
	}
	failed := b.get(page + "?status=failed")
	if n := len(rows.FindAllString(failed.Body, -1)); n != 6 || strings.Contains(failed.Body, ">delivered</span>") {
		t.Fatalf("status=failed: %d rows, want the 6 failed only", n)
	}
	if p := b.get(page + "?event_type=webhook.test"); len(rows.FindAllString(p.Body, -1)) != 0 || !strings.Contains(p.Body, "No events match these filters.") {
		t.Fatal("event_type=webhook.test shows rows of another type")
	}
	if p := b.get(page + "?status=lost"); p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "status: must be one of pending") {
		t.Fatalf("status=lost: HTTP %d", p.Status)
	}

	since := e.Clock.Now().Add(-time.Hour).Format("2006-01-02T15:04")
	p := b.post(page+"/recover", url.Values{"csrf": {token}, "since": {since}})
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != page+"?done=recovered&n=6" {
		t.Fatalf("recover: HTTP %d to %q", p.Status, p.Header.Get("Location"))
	}
	if notice := b.get(p.Header.Get("Location")); !strings.Contains(notice.Body, "6 failed deliveries sent again.") {
		t.Fatal("the recover notice is missing")
	}
	pending, _ := e.Store.DeliveryList(ctx, store.DeliveryListParams{AccountID: e.A.ID, EndpointID: e.EpA.ID, Status: webhook.StatusPending, Limit: 250})
	if len(pending.Items) != 6 {
		t.Fatalf("after recover: %d pending, want the 6 failed", len(pending.Items))
	}
	if p := b.post(page+"/recover", url.Values{"csrf": {token}, "since": {"yesterday"}}); p.Status != http.StatusBadRequest ||
		!strings.Contains(p.Body, "since: must be an RFC 3339 time") {
		t.Fatalf("recover since=yesterday: HTTP %d", p.Status)
	}
}
