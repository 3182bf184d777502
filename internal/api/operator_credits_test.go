package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/store/storetest"
)

type thresholdJSON struct {
	Threshold float64 `json:"threshold"`
	Armed     bool    `json:"armed"`
}

type creditAlertsJSON struct {
	AccountID  string          `json:"account_id"`
	Thresholds []thresholdJSON `json:"thresholds"`
	Balance    *float64        `json:"balance"`
}

type balanceJSON struct {
	Balance           float64   `json:"balance"`
	PreviousBalance   *float64  `json:"previous_balance"`
	ThresholdsCrossed []float64 `json:"thresholds_crossed"`
	EventID           *string   `json:"event_id"`
}

type lowBalanceData struct {
	Balance           *float64  `json:"balance"`
	PreviousBalance   *float64  `json:"previous_balance"`
	ThresholdsCrossed []float64 `json:"thresholds_crossed"`
}

func (b *bundle) setThresholds(t *testing.T, account string, thresholds ...float64) creditAlertsJSON {
	t.Helper()
	if thresholds == nil {
		thresholds = []float64{}
	}
	st, env := b.do(t, "PUT", "/v1/accounts/"+account+"/credit-alerts", b.Operator, map[string]any{"thresholds": thresholds})
	return decodeAs[creditAlertsJSON](t, ok(t, st, env, http.StatusOK))
}

func (b *bundle) reportBalance(t *testing.T, account string, balance float64) balanceJSON {
	t.Helper()
	st, env := b.do(t, "POST", "/v1/accounts/"+account+"/balance", b.Operator, map[string]any{"balance": balance})
	data := ok(t, st, env, http.StatusOK)
	if k := keys(t, data); !slices.Equal(k, sorted("balance", "previous_balance", "thresholds_crossed", "event_id")) {
		t.Fatalf("balance answered keys %v", k)
	}
	return decodeAs[balanceJSON](t, data)
}

// lowBalanceEvents returns the data of each credits.low_balance delivery
// of a webhook, oldest first, by event id.
func (b *bundle) lowBalanceEvents(t *testing.T, key, webhookID string) ([]string, map[string]lowBalanceData) {
	t.Helper()
	dl := b.deliveries(t, key, webhookID, "&event_type=credits.low_balance")
	slices.Reverse(dl)
	ids := make([]string, len(dl))
	data := map[string]lowBalanceData{}
	for i, d := range dl {
		ids[i] = d.EventID
		st, env := b.do(t, "GET", "/v1/webhooks/"+webhookID+"/deliveries/"+d.DeliveryID, key, nil)
		full := decodeAs[deliveryJSON](t, ok(t, st, env, http.StatusOK))
		var body struct {
			Event string          `json:"webhook_event"`
			Data  json.RawMessage `json:"webhook_data"`
		}
		if err := json.Unmarshal(full.Payload, &body); err != nil || body.Event != "credits.low_balance" {
			t.Fatalf("payload %s: %v", full.Payload, err)
		}
		if !strings.Contains(string(body.Data), `"previous_balance":`) {
			t.Fatalf("data lacks previous_balance: %s", body.Data)
		}
		data[d.EventID] = decodeAs[lowBalanceData](t, body.Data)
	}
	return ids, data
}

func TestCreditAlerts(t *testing.T) { storetest.OnBothDrivers(t, testCreditAlerts) }

func testCreditAlerts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	st, env := b.do(t, "GET", "/v1/event-types", b.A.Read, nil)
	if strings.Contains(string(env.Raw), "credits.low_balance") {
		t.Fatal("a fresh catalog has credits.low_balance")
	}
	ok(t, st, env, http.StatusOK)

	a := b.setThresholds(t, b.A.ID, 10, 100, 50)
	want := []thresholdJSON{{100, true}, {50, true}, {10, true}}
	if a.AccountID != b.A.ID || !slices.Equal(a.Thresholds, want) || a.Balance != nil {
		t.Fatalf("PUT answered %+v", a)
	}
	// Configuring alerts added the type, so the account can subscribe to it.
	st, env = b.do(t, "GET", "/v1/event-types", b.A.Read, nil)
	var lowBalance *eventTypeJSON
	for _, et := range decodeAs[[]eventTypeJSON](t, ok(t, st, env, http.StatusOK)) {
		if et.Name == "credits.low_balance" {
			lowBalance = &et
		}
	}
	if lowBalance == nil || lowBalance.Reserved || lowBalance.Deprecated || lowBalance.Description == "" || lowBalance.Example == nil {
		t.Fatalf("catalog entry %+v", lowBalance)
	}
	wh := b.createWebhook(t, b.A.Full, "credits.low_balance")
	other := b.createWebhook(t, b.B.Full, "*") // another account hears nothing
	var events []string
	check := func(balance float64, crossed ...float64) balanceJSON {
		t.Helper()
		r := b.reportBalance(t, b.A.ID, balance)
		if crossed == nil {
			crossed = []float64{}
		}
		if r.Balance != balance || !slices.Equal(r.ThresholdsCrossed, crossed) || (r.EventID != nil) != (len(crossed) > 0) {
			t.Fatalf("balance %g: %+v, want crossed %v", balance, r, crossed)
		}
		if r.EventID != nil {
			events = append(events, *r.EventID)
		}
		return r
	}
	// A first report below thresholds counts; several crossed at once make one event.
	if r := check(40, 100, 50); r.PreviousBalance != nil {
		t.Fatalf("first report: previous_balance %v", *r.PreviousBalance)
	}
	check(30) // still below: nothing again
	check(45)
	check(50) // equal to a threshold re-arms nothing
	if r := check(60); *r.PreviousBalance != 50 {
		t.Fatalf("previous_balance %v", *r.PreviousBalance)
	}
	check(49.5, 50) // re-armed by 60, fires again
	check(10)       // not below 10
	check(9.99, 10)
	check(1000)                            // re-arms every threshold
	check(-20, 100, 50, 10)                // negative balances are balances too
	check(-20)                             // nothing new
	b.setThresholds(t, b.A.ID, 100, 0, 50) // 100 and 50 stay disarmed; 0 is new and armed
	check(-21, 0)

	ids, data := b.lowBalanceEvents(t, b.A.Read, wh)
	if !slices.Equal(ids, events) {
		t.Fatalf("the subscriber got events %v, want %v", ids, events)
	}
	first := data[events[0]]
	if *first.Balance != 40 || first.PreviousBalance != nil || !slices.Equal(first.ThresholdsCrossed, []float64{100, 50}) {
		t.Fatalf("first event data %+v", first)
	}
	if d := data[events[1]]; *d.Balance != 49.5 || *d.PreviousBalance != 60 || !slices.Equal(d.ThresholdsCrossed, []float64{50}) {
		t.Fatalf("second event data %+v", d)
	}
	if d := data[events[3]]; *d.Balance != -20 || *d.PreviousBalance != 1000 || !slices.Equal(d.ThresholdsCrossed, []float64{100, 50, 10}) {
		t.Fatalf("fourth event data %+v", d)
	}
	if n := len(b.deliveries(t, b.B.Read, other, "")); n != 0 {
		t.Fatalf("another account's endpoint got %d deliveries", n)
	}

	// PUT answers the armed state; [] removes every alert, keeping the balance.
	a = b.setThresholds(t, b.A.ID, 0, -30)
	if !slices.Equal(a.Thresholds, []thresholdJSON{{0, false}, {-30, true}}) || a.Balance == nil || *a.Balance != -21 {
		t.Fatalf("PUT answered %+v", a)
	}
	if a = b.setThresholds(t, b.A.ID); len(a.Thresholds) != 0 || a.Thresholds == nil {
		t.Fatalf("PUT [] answered %+v", a)
	}
	check(-100)
}

// TestCreditAlertDropsAreCounted: the API publishes credits.low_balance
// itself, not through the intake, so it counts what that publish drops by
// the queue's size limit; deleting the endpoint counts what it cancels.
func TestCreditAlertDropsAreCounted(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	b := setupWith(t, options{queueMax: 1, deliveries: metrics.New(reg, false)})
	b.setThresholds(t, b.A.ID, 100, 50, 10)
	wh := b.createWebhook(t, b.A.Full, "credits.low_balance")
	st, env := b.do(t, "POST", "/v1/webhooks/"+wh+"/disable", b.A.Full, nil)
	ok(t, st, env, http.StatusOK)
	for _, balance := range []float64{90, 40, 5} { // one crossing each: 3 events for a queue of 1
		if r := b.reportBalance(t, b.A.ID, balance); r.EventID == nil {
			t.Fatalf("balance %g published nothing", balance)
		}
	}
	if got := dropped(t, reg, "queue_limit"); got != 2 {
		t.Fatalf("dropped by the queue limit = %v, want 2", got)
	}
	st, env = b.do(t, "DELETE", "/v1/webhooks/"+wh, b.A.Full, nil)
	ok(t, st, env, http.StatusOK)
	if got := dropped(t, reg, "endpoint_deleted"); got != 1 {
		t.Fatalf("dropped by the delete = %v, want the 1 still queued", got)
	}
}

// dropped reads hookrelay_deliveries_dropped_total for reason from reg.
func dropped(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "hookrelay_deliveries_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no hookrelay_deliveries_dropped_total{reason=%q}", reason)
	return 0
}

func TestCreditAlertsValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.setThresholds(t, b.A.ID, 10)
	b.reportBalance(t, b.A.ID, 50)
	alerts := "/v1/accounts/" + b.A.ID + "/credit-alerts"
	balance := "/v1/accounts/" + b.A.ID + "/balance"
	many := make([]string, 21)
	for i := range many {
		many[i] = fmt.Sprint(i)
	}
	for _, c := range []struct {
		method, path, body string
		want               int
		words              []string
	}{
		{"PUT", alerts, `{}`, 400, []string{"thresholds", "required"}},
		{"PUT", alerts, `{"thresholds":null}`, 400, []string{"thresholds", "required"}},
		{"PUT", alerts, `{"thresholds":5}`, 400, []string{"thresholds"}},
		{"PUT", alerts, `{"thresholds":["5"]}`, 400, []string{"thresholds"}},
		{"PUT", alerts, `{"thresholds":[1,2,1]}`, 400, []string{"thresholds[2]", "twice"}},
		{"PUT", alerts, `{"thresholds":[1,1.0]}`, 400, []string{"thresholds[1]", "twice"}},
		{"PUT", alerts, `{"thresholds":[1e999]}`, 400, []string{"thresholds[0]", "range"}},
		{"PUT", alerts, `{"thresholds":[` + strings.Join(many, ",") + `]}`, 400, []string{"thresholds", "20"}},
		{"PUT", alerts, `{"thresholds":[1],"armed":true}`, 400, []string{"armed", "unknown field"}},
		{"PUT", "/v1/accounts/acc_missing/credit-alerts", `{"thresholds":[1]}`, 404, []string{"account"}},
		{"POST", balance, `{}`, 400, []string{"balance", "required"}},
		{"POST", balance, `{"balance":null}`, 400, []string{"balance", "required"}},
		{"POST", balance, `{"balance":"5"}`, 400, []string{"balance"}},
		{"POST", balance, `{"balance":-1e400}`, 400, []string{"balance", "range"}},
		{"POST", balance, `{"balance":5,"currency":"usd"}`, 400, []string{"currency", "unknown field"}},
		{"POST", "/v1/accounts/acc_missing/balance", `{"balance":1}`, 404, []string{"account"}},
	} {
		before := b.snapshot(t)
		st, env := b.do(t, c.method, c.path, b.Operator, c.body)
		wantError(t, st, env, c.want, c.words...)
		if after := b.snapshot(t); after != before {
			t.Fatalf("%s %s changed state", c.method, c.body)
		}
	}
	// Nothing above changed the thresholds or the balance.
	if a := b.setThresholds(t, b.A.ID, 10); !slices.Equal(a.Thresholds, []thresholdJSON{{10, true}}) || *a.Balance != 50 {
		t.Fatalf("after refused requests: %+v", a)
	}
	// 20 distinct thresholds are fine.
	twenty := make([]float64, 20)
	for i := range twenty {
		twenty[i] = float64(i) / 4
	}
	if a := b.setThresholds(t, b.A.ID, twenty...); len(a.Thresholds) != 20 {
		t.Fatalf("20 thresholds: %+v", a)
	}
}

// TestBalanceRace: concurrent reports through the API publish exactly one
// event per crossing.
func TestBalanceRace(t *testing.T) { storetest.OnBothDrivers(t, testBalanceRace) }

func testBalanceRace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.setThresholds(t, b.A.ID, 100, 50, 10)
	wh := b.createWebhook(t, b.A.Full, "credits.low_balance")

	race := func(balances ...float64) []balanceJSON {
		t.Helper()
		var mu sync.Mutex
		var out []balanceJSON
		var wg sync.WaitGroup
		for g := range 20 {
			wg.Go(func() {
				body := fmt.Appendf(nil, `{"balance":%g}`, balances[g%len(balances)])
				req, _ := http.NewRequest("POST", b.URL+"/v1/accounts/"+b.A.ID+"/balance", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+b.Operator)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer res.Body.Close()
				raw, _ := io.ReadAll(res.Body)
				var env struct {
					Data balanceJSON `json:"data"`
				}
				if res.StatusCode != http.StatusOK || json.Unmarshal(raw, &env) != nil {
					t.Errorf("status %d: %s", res.StatusCode, raw)
					return
				}
				mu.Lock()
				out = append(out, env.Data)
				mu.Unlock()
			})
		}
		wg.Wait()
		if len(out) != 20 {
			t.Fatalf("%d of 20 reports answered", len(out))
		}
		return out
	}
	published := func(rs []balanceJSON) []balanceJSON {
		var out []balanceJSON
		for _, r := range rs {
			if r.EventID != nil {
				out = append(out, r)
			}
		}
		return out
	}
	count := func() int { ids, _ := b.lowBalanceEvents(t, b.A.Read, wh); return len(ids) }

	// One crossing raced by 20 identical reports: one event naming both.
	p := published(race(40))
	if len(p) != 1 || !slices.Equal(p[0].ThresholdsCrossed, []float64{100, 50}) {
		t.Fatalf("20 reports of one crossing published %+v", p)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
	if p := published(race(30, 45, 20)); len(p) != 0 {
		t.Fatalf("reports staying below published %+v", p)
	}
	if p := published(race(300)); len(p) != 0 {
		t.Fatalf("re-arming published %+v", p)
	}
	p = published(race(75))
	if len(p) != 1 || !slices.Equal(p[0].ThresholdsCrossed, []float64{100}) {
		t.Fatalf("re-crossing 100 published %+v", p)
	}
	// Reports going up and down at once: whatever order they commit in,
	// each event reported is one delivered, and every crossing named once
	// between two re-arms.
	rs := race(200, 5)
	p = published(rs)
	if n := count(); n != 2+len(p) {
		t.Fatalf("%d events, want %d", n, 2+len(p))
	}
	ids, data := b.lowBalanceEvents(t, b.A.Read, wh)
	seen := map[string]bool{}
	for _, r := range p {
		if seen[*r.EventID] || !slices.Contains(ids, *r.EventID) {
			t.Fatalf("event %s answered twice or not delivered", *r.EventID)
		}
		seen[*r.EventID] = true
		if d := data[*r.EventID]; !slices.Equal(d.ThresholdsCrossed, r.ThresholdsCrossed) || *d.Balance != 5 {
			t.Fatalf("event data %+v, answer %+v", d, r)
		}
	}
	if p := published(race(5)); len(p) != 0 && len(p) != 1 {
		t.Fatalf("%d events for one crossing", len(p))
	}
}
