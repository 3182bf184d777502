package api

import (
	"math"
	"net/http"
	"strconv"

	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/store"
)

// maxThresholds bounds an account's credit alert thresholds.
const maxThresholds = 20

type creditThresholdView struct {
	Threshold float64 `json:"threshold"`
	Armed     bool    `json:"armed"`
}

type creditAlertsView struct {
	AccountID  string                `json:"account_id"`
	Thresholds []creditThresholdView `json:"thresholds"` // highest first
	Balance    *float64              `json:"balance"`    // the last reported, null before the first
}

type balanceView struct {
	Balance           float64   `json:"balance"`
	PreviousBalance   *float64  `json:"previous_balance"`
	ThresholdsCrossed []float64 `json:"thresholds_crossed"`
	EventID           *string   `json:"event_id"`
}

// setCreditAlerts replaces an account's thresholds (SPEC §8). New ones
// start armed, so a first report below one counts; ones kept keep their
// state, so replacing the set never re-sends an alert already sent.
func (s *Server) setCreditAlerts(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		Thresholds []float64 `json:"thresholds"`
	}
	acc, err := s.pathAccount(r)
	if err != nil {
		return err
	}
	if err := decode(w, r, operatorBodyBytes, creditAlertsShape, &req); err != nil {
		return err
	}
	if req.Thresholds == nil {
		return invalid("thresholds", "is required: an array of numbers ([] removes every alert)")
	}
	if len(req.Thresholds) > maxThresholds {
		return invalid("thresholds", "at most %d thresholds, got %d", maxThresholds, len(req.Thresholds))
	}
	for i, v := range req.Thresholds {
		field := "thresholds[" + strconv.Itoa(i) + "]"
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return invalid(field, "must be a finite number")
		}
		for j := range i {
			if req.Thresholds[j] == v {
				return invalid(field, "%g is listed twice", v)
			}
		}
	}
	a, err := s.Store.CreditAlertsSet(r.Context(), store.CreditAlertsSetParams{AccountID: acc.ID, Thresholds: req.Thresholds, Now: s.Clock.Now()})
	if err != nil {
		return err
	}
	if len(req.Thresholds) > 0 {
		s.Catalog.Invalidate() // credits.low_balance may have been added
	}
	v := creditAlertsView{AccountID: a.AccountID, Thresholds: make([]creditThresholdView, len(a.Thresholds)), Balance: a.Balance}
	for i, t := range a.Thresholds {
		v.Thresholds[i] = creditThresholdView{Threshold: t.Threshold, Armed: t.Armed}
	}
	writeData(w, http.StatusOK, v)
	return nil
}

// reportBalance records an account's balance. Crossing armed thresholds
// downward publishes one credits.low_balance event into the account, in the
// transaction that records the balance, so racing reports never publish
// twice for one crossing.
func (s *Server) reportBalance(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		Balance *float64 `json:"balance"`
	}
	acc, err := s.pathAccount(r)
	if err != nil {
		return err
	}
	if err := decode(w, r, operatorBodyBytes, balanceShape, &req); err != nil {
		return err
	}
	if req.Balance == nil {
		return invalid("balance", "is required: a number")
	}
	if math.IsNaN(*req.Balance) || math.IsInf(*req.Balance, 0) {
		return invalid("balance", "must be a finite number")
	}
	res, err := s.Store.BalanceReport(r.Context(), store.BalanceReportParams{QueueMax: s.QueueMax, AccountID: acc.ID, Balance: *req.Balance, Now: s.Clock.Now()})
	if err != nil {
		return err
	}
	v := balanceView{Balance: res.Balance, PreviousBalance: res.PreviousBalance, ThresholdsCrossed: res.ThresholdsCrossed}
	if v.ThresholdsCrossed == nil {
		v.ThresholdsCrossed = []float64{}
	}
	if res.Published != nil {
		s.DeliveryMetrics.DeliveriesDropped(metrics.DropQueueLimit, res.Published.Dropped)
		v.EventID = &res.Published.Event.ID
		if len(res.Published.EndpointIDs) > 0 {
			s.Wake(res.Published.EndpointIDs)
		}
	}
	writeData(w, http.StatusOK, v)
	return nil
}
