package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// earlyWindow is the start of a phase, when the bad endpoints' breakers
// have not opened yet (the dead one's first attempts are still waiting for
// --delivery-timeout); its healthy latency is reported apart.
const earlyWindow = 5 * time.Second

// isolation runs the phase "healthy only" and then "with bad endpoints",
// each on a fresh database with its own serve, and compares the healthy
// endpoints' publish → first attempt latency.
func (r *runner) isolation(ctx context.Context) error {
	res := &IsolationResult{
		Healthy: r.cfg.Endpoints, HealthyRate: r.cfg.Rate, Duration: r.cfg.Duration.String(),
		PublishMode: "POST /v1/events, one event per request; a bad endpoint's event goes in its own request on a healthy tick",
		Goal:        isolationGoal,
	}
	res.DeliveryTimeout, _ = flagValue(r.cfg.ServeArgs, "delivery-timeout")
	r.report.Isolation = res
	for i, withBad := range []bool{false, true} {
		if i > 0 {
			if r.cfg.Database == "" {
				r.database = filepath.Join(r.dir, "bench-with-bad.db")
			}
			if err := r.bootstrap(ctx); err != nil {
				return err
			}
		}
		ph, err := r.isolationPhase(ctx, withBad)
		if ph != nil {
			res.Phases = append(res.Phases, *ph)
		}
		if err != nil {
			return fmt.Errorf("isolation, %s: %w", phaseName(withBad), err)
		}
	}
	if base := res.Phases[0].Delivery.FirstAttempt.P99; base > 0 {
		res.P99Ratio = res.Phases[1].Delivery.FirstAttempt.P99 / base
		res.GoalMet = res.P99Ratio <= isolationGoal
	}
	return nil
}

// isolationGoal is the requirement: the healthy p99 with the bad endpoints
// within 20 % of the healthy p99 without them.
const isolationGoal = 1.2

func phaseName(withBad bool) string {
	if withBad {
		return "with bad endpoints"
	}
	return "healthy only"
}

// isolationPhase starts serve on r.database, creates the healthy endpoints
// (and, withBad, the dead and refused ones), publishes the plan and waits
// for every healthy delivery.
func (r *runner) isolationPhase(ctx context.Context, withBad bool) (ph *IsolationPhase, err error) {
	ph = &IsolationPhase{Name: phaseName(withBad)}
	plan := newIsolationPlan(r.cfg.Endpoints, r.cfg.Rate, r.cfg.Duration, withBad)
	s, err := r.startServe(ctx, false)
	if err != nil {
		return ph, err
	}
	var dead *DeadReceiver
	defer func() {
		r.stopServe(s) // before the dead receiver, so serve never sees it close
		if dead != nil {
			shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if cerr := dead.Close(shutCtx); cerr != nil {
				err = errors.Join(err, fmt.Errorf("close dead receiver: %w", cerr))
			}
		}
	}()
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go s.SampleEvery(sampleCtx, 250*time.Millisecond)

	api := NewAPI(s.BaseURL, r.key, 64)
	defer api.Close()
	if err := r.createEndpoints(ctx, api); err != nil {
		return ph, err
	}
	if withBad {
		if dead, err = StartDeadReceiver(); err != nil {
			return ph, err
		}
		refURL, err := refusedURL()
		if err != nil {
			return ph, err
		}
		ph.Dead, ph.Refused = &BadEndpoint{URL: dead.URL}, &BadEndpoint{URL: refURL}
		for i, b := range []*BadEndpoint{ph.Dead, ph.Refused} {
			if b.WebhookID, err = api.CreateWebhook(ctx, b.URL, []string{EventType(plan.dead() + i)}); err != nil {
				return ph, err
			}
		}
	}

	tr := NewTracker(time.Now(), plan.Len())
	r.recv.Track(tr)
	defer r.recv.Track(nil)
	pl := r.payloads
	pl.Route = plan.Endpoint
	r.logf("%s: publishing %d events over %s", ph.Name, plan.Len(), r.cfg.Duration)
	stop := r.progress(func() string {
		msg := fmt.Sprintf("healthy delivered %d, serve RSS %s", tr.Unique(), rssMiB(s))
		if dead != nil {
			msg += fmt.Sprintf(", dead receiver got %d requests", dead.Stats().Requests)
		}
		return msg
	})
	pubs := publishIsolation(ctx, api, pl, tr, plan)
	ph.Publish = pubs[classHealthy]
	if withBad {
		ph.Dead.Publish, ph.Refused.Publish = pubs[classDead], pubs[classRefused]
	}
	r.logf("%s: published %d healthy events, %.0f/s, %d errors", ph.Name, ph.Publish.Accepted, ph.Publish.EventsPerSec, ph.Publish.Errors)
	want := ph.Publish.Accepted - ph.Publish.NoDelivery
	stalled := r.waitDeliveries(ctx, tr, want, s)
	stop()
	ph.Delivery = *r.deliveryResult(tr, want, stalled)
	ph.Early = Summarize(tr.FirstAttemptLatenciesOf(func(seq int) bool {
		return plan.Healthy(seq) && plan.Due(seq) < earlyWindow
	}))

	if trips, err := api.Metric(ctx, "hookrelay_breaker_trips_total"); err == nil {
		ph.BreakerTrips = &trips
	} else {
		r.report.Errors = append(r.report.Errors, err.Error())
	}
	if withBad {
		st := dead.Stats()
		ph.Dead.Receiver = &st
		ph.Refused.StillRefused = refused(ph.Refused.URL)
		for _, b := range []*BadEndpoint{ph.Dead, ph.Refused} {
			if b.Log, err = api.TallyDeliveries(ctx, b.WebhookID); err != nil {
				return ph, err
			}
			if b.State, err = api.GetWebhook(ctx, b.WebhookID); err != nil {
				return ph, err
			}
		}
	}
	u, err := s.Usage()
	if err != nil {
		return ph, err
	}
	var accepted int64
	for _, p := range pubs {
		accepted += p.Accepted
	}
	ph.Serve = *serveResult(u, accepted)
	if stalled != "" {
		return ph, fmt.Errorf("deliveries: %s (serve log: %s)", stalled, s.logPath)
	}
	for _, p := range pubs {
		if p.Errors > 0 {
			return ph, fmt.Errorf("publish: %d failed requests; first: %s", p.Errors, p.FirstError)
		}
	}
	return ph, nil
}

// Endpoint classes of the isolation scenario.
const (
	classHealthy = iota
	classDead
	classRefused
	classes
)

func (p isolationPlan) class(endpoint int) int {
	switch endpoint {
	case p.dead():
		return classDead
	case p.refused():
		return classRefused
	}
	return classHealthy
}

// publishIsolation publishes plan's events open loop, one per request, and
// returns the healthy, dead and refused endpoints' publishes apart.
func publishIsolation(ctx context.Context, api *API, pl Payloads, tr *Tracker, plan isolationPlan) [classes]PublishResult {
	var tallies [classes]publishTally
	var pubs [classes]*publisher
	for c := range pubs {
		pubs[c] = &publisher{api: api, payloads: pl, tracker: tr, tally: &tallies[c]}
	}
	elapsed, maxLag := openLoop(ctx, plan.Len(), plan.Due, func(seq int) {
		pubs[plan.class(plan.Endpoint(seq))].send(ctx, nil, seq, seq+1)
	})
	var out [classes]PublishResult
	for c := range out {
		n := plan.Count(func(e int) bool { return plan.class(e) == c })
		out[c] = tallies[c].result(n, elapsed)
		out[c].OfferedRate = float64(n) / plan.Span().Seconds()
		out[c].MaxLagMs = ms(maxLag)
	}
	return out
}
