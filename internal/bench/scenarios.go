package bench

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// measured is serve ready for a run: its processes sampled for memory,
// its endpoints created, a client per node, and a tracker counting what
// the receivers see.
type measured struct {
	apis         []*API // one per node; publishers take turns
	tr           *Tracker
	stopSampling func()
	close        func()
}

func (r *runner) prepare(ctx context.Context, nodes []*Serve) (*measured, error) {
	sampleCtx, stopSampling := context.WithCancel(ctx)
	for _, s := range nodes {
		go s.SampleEvery(sampleCtx, 250*time.Millisecond)
	}
	var apis []*API
	for _, s := range nodes {
		apis = append(apis, NewAPI(s.BaseURL, r.key, max(r.cfg.Publishers, 64)))
	}
	closeAPIs := func() {
		for _, a := range apis {
			a.Close()
		}
	}
	if err := r.createEndpoints(ctx, apis[0]); err != nil {
		closeAPIs()
		stopSampling()
		return nil, err
	}
	tr := NewFanTracker(time.Now(), r.cfg.Events, r.cfg.fan())
	r.recv.Track(tr)
	return &measured{apis: apis, tr: tr, stopSampling: stopSampling, close: func() {
		r.recv.Track(nil)
		closeAPIs()
		stopSampling()
	}}, nil
}

// deliveryScenario is throughput and latency: start serve (on --nodes
// processes), publish with publish, wait for every delivery, and measure.
func (r *runner) deliveryScenario(ctx context.Context, publish func([]*API, *Tracker) PublishResult) error {
	nodes, err := r.startNodes(ctx)
	if err != nil {
		return err
	}
	defer r.stopNodes(nodes)
	m, err := r.prepare(ctx, nodes)
	if err != nil {
		return err
	}
	defer m.close()
	tr := m.tr
	r.logf("publishing %d events (%d deliveries each)", r.cfg.Events, r.cfg.fan())
	waitProfile := r.profile(ctx, nodes[0])
	stop := r.progress(func() string {
		c := tr.Counts()
		return fmt.Sprintf("delivered %d (dup %d), serve RSS %s", c.Unique, c.Duplicates, rssMiB(nodes...))
	})
	pub := publish(m.apis, tr)
	r.report.Publish = &pub
	r.logf("published: %d accepted, %.0f events/s, %d errors", pub.Accepted, pub.EventsPerSec, pub.Errors)
	want := (pub.Accepted - pub.NoDelivery) * int64(r.cfg.fan())
	stalled := r.waitDeliveries(ctx, tr, want, nodes...)
	stop()
	waitProfile()

	r.report.Delivery = r.deliveryResult(tr, want, stalled)
	u, err := usageOf(nodes)
	if err != nil {
		return err
	}
	r.report.Serve = serveResult(u, pub.Accepted)
	if stalled != "" {
		return fmt.Errorf("deliveries: %s (serve logs: %s)", stalled, logPaths(nodes))
	}
	if pub.Errors > 0 {
		return fmt.Errorf("publish: %d failed requests; first: %s", pub.Errors, pub.FirstError)
	}
	return nil
}

// usageOf adds up the nodes' usage: CPU and memory of the whole service.
func usageOf(nodes []*Serve) (Usage, error) {
	var sum Usage
	for _, s := range nodes {
		u, err := s.Usage()
		if err != nil {
			return sum, err
		}
		sum.RSSBytes += u.RSSBytes
		sum.PeakRSSBytes += u.PeakRSSBytes
		sum.SampledPeakRSS += u.SampledPeakRSS
		sum.CPUSeconds += u.CPUSeconds
	}
	return sum, nil
}

func logPaths(nodes []*Serve) string {
	var paths []string
	for _, s := range nodes {
		paths = append(paths, s.logPath)
	}
	return strings.Join(paths, ", ")
}

func (r *runner) deliveryResult(tr *Tracker, want int64, stalled string) *DeliveryResult {
	c := tr.Counts()
	d := &DeliveryResult{Expected: want, Counts: c, Missing: max(want-c.Unique, 0), Stalled: stalled,
		FirstAttempt: Summarize(tr.FirstAttemptLatencies())}
	if last := tr.LastArrival(); last > 0 {
		d.Seconds = last.Seconds()
		d.DeliveriesPerSec = float64(c.Unique) / d.Seconds
	}
	// Under an offered rate (latency) deliveries/s is the rate, not a capacity.
	if r.cfg.Scenario == ScenarioThroughput && r.report.Ceiling != nil && r.report.Ceiling.RequestsPerSec > 0 {
		d.RatioToCeiling = d.DeliveriesPerSec / r.report.Ceiling.RequestsPerSec
	}
	return d
}

func serveResult(u Usage, events int64) *ServeResult {
	s := &ServeResult{Usage: u}
	if events > 0 {
		s.CPUMicrosPerEvent = u.CPUSeconds * 1e6 / float64(events)
	}
	return s
}

// backlog publishes with the dispatcher off, measures memory with
// everything pending, then (with Drain) restarts serve with the
// dispatcher on and measures the drain.
func (r *runner) backlog(ctx context.Context) error {
	s, err := r.startServe(ctx, !r.cfg.Drain, "--dispatcher=false")
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			r.stopServe(s)
		}
	}()
	m, err := r.prepare(ctx, []*Serve{s})
	if err != nil {
		return err
	}
	defer m.close()
	api, tr := m.apis[0], m.tr

	r.logf("publishing %d events with the dispatcher off (batch %d)", r.cfg.Events, r.cfg.Batch)
	waitProfile := r.profile(ctx, s)
	stop := r.progress(func() string { return "publishing, serve RSS " + rssMiB(s) })
	pub := PublishClosed(ctx, []*API{api}, r.payloads, tr, r.cfg.Events, r.cfg.Publishers, r.cfg.Batch)
	stop()
	waitProfile()
	r.report.Publish = &pub
	r.logf("published: %d accepted, %.0f events/s, %d errors", pub.Accepted, pub.EventsPerSec, pub.Errors)
	if err := ctx.Err(); err != nil {
		return err
	}

	r.logf("sampling RSS for %s with %d pending", r.cfg.Settle, pub.Accepted)
	var last Mem
	for end := time.Now().Add(r.cfg.Settle); time.Now().Before(end); {
		if last, err = s.Sample(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	u, err := s.Usage()
	if err != nil {
		return err
	}
	if last.RSS == 0 {
		last.RSS = u.RSSBytes
	}
	pending := pub.Accepted - pub.NoDelivery - tr.Unique()
	r.report.Backlog = &BacklogResult{Pending: pending, RSSWithPendingBytes: last.RSS, PeakRSSBytes: u.PeakRSSBytes}
	r.report.Serve = serveResult(u, pub.Accepted)
	if pub.Errors > 0 {
		return fmt.Errorf("publish: %d failed requests; first: %s", pub.Errors, pub.FirstError)
	}
	if !r.cfg.Drain {
		return nil
	}

	m.stopSampling()
	stopped = true
	r.stopServe(s)
	return r.drain(ctx, tr, pub.Accepted-pub.NoDelivery)
}

// drain restarts serve with the dispatcher on and waits for the backlog.
func (r *runner) drain(ctx context.Context, tr *Tracker, want int64) error {
	before := tr.Counts()
	started := time.Since(tr.base)
	s, err := r.startServe(ctx, true)
	if err != nil {
		return err
	}
	defer r.stopServe(s)
	ready := time.Since(tr.base)
	waitProfile := r.profile(ctx, s)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go s.SampleEvery(sampleCtx, 250*time.Millisecond)

	r.logf("draining %d deliveries", want-before.Unique)
	stop := r.progress(func() string {
		return fmt.Sprintf("drained %d of %d, serve RSS %s", tr.Unique()-before.Unique, want-before.Unique, rssMiB(s))
	})
	stalled := r.waitDeliveries(ctx, tr, want, s)
	stop()
	waitProfile()
	after := tr.Counts()
	u, err := s.Usage()
	if err != nil {
		return err
	}
	d := &DrainResult{
		StartupSeconds: (ready - started).Seconds(), Delivered: after.Unique - before.Unique,
		Duplicates: after.Duplicates - before.Duplicates, Stalled: stalled, Usage: u,
	}
	if d.Delivered > 0 {
		d.CPUMicrosPerDelivery = u.CPUSeconds * 1e6 / float64(d.Delivered)
	}
	if last := tr.LastArrival(); last > started {
		d.Seconds = (last - started).Seconds()
		d.DeliveriesPerSec = float64(d.Delivered) / d.Seconds
	}
	if c := r.report.Ceiling; c != nil && c.RequestsPerSec > 0 {
		d.RatioToCeiling = d.DeliveriesPerSec / c.RequestsPerSec
	}
	r.report.Backlog.Drain = d
	if stalled != "" {
		return fmt.Errorf("drain: %s (serve log: %s)", stalled, s.logPath)
	}
	return nil
}
