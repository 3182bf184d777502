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
	if r.cfg.SigtermAfter > 0 {
		s, err := r.sigtermUnderLoad(ctx, nodes[0], tr, want)
		if err != nil {
			stop()
			return err
		}
		// The deferred stopNodes stops the restarted process instead.
		nodes[0] = s
	}
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

// SigtermResult is a SIGTERM sent while deliveries were in flight.
type SigtermResult struct {
	AfterPublishSeconds float64 `json:"after_publish_seconds"`
	DeliveredBefore     int64   `json:"delivered_before"`
	Expected            int64   `json:"expected"`
	ExitSeconds         float64 `json:"exit_seconds"`
	ShutdownTimeout     float64 `json:"shutdown_timeout_seconds"`
	RestartSeconds      float64 `json:"restart_seconds"` // until the new process was ready
}

// sigtermUnderLoad waits --sigterm-after, SIGTERMs s while deliveries are
// still due, fails unless it exits within its --shutdown-timeout (a second
// of margin for process exit), and starts serve again on the same
// database, which must deliver the rest. Usage figures are then the new
// process's.
func (r *runner) sigtermUnderLoad(ctx context.Context, s *Serve, tr *Tracker, want int64) (*Serve, error) {
	limit, err := r.cfg.ShutdownTimeout()
	if err != nil {
		return nil, err
	}
	published := time.Now()
	for time.Since(published) < r.cfg.SigtermAfter && tr.Counts().Unique < want {
		time.Sleep(10 * time.Millisecond)
	}
	res := &SigtermResult{AfterPublishSeconds: time.Since(published).Seconds(), DeliveredBefore: tr.Counts().Unique,
		Expected: want, ShutdownTimeout: limit.Seconds()}
	r.report.Sigterm = res
	if res.DeliveredBefore >= want {
		return nil, fmt.Errorf("--sigterm-after %s: everything was delivered before the signal; signal sooner or publish more", r.cfg.SigtermAfter)
	}
	r.logf("SIGTERM to serve (pid %d) with %d of %d delivered", s.Pid, res.DeliveredBefore, want)
	start := time.Now()
	if err := s.Stop(max(stopGrace, 2*limit)); err != nil {
		return nil, err
	}
	res.ExitSeconds = time.Since(start).Seconds()
	r.logf("serve exited in %.2f s (--shutdown-timeout %s)", res.ExitSeconds, limit)
	if time.Since(start) > limit+time.Second {
		return nil, fmt.Errorf("SIGTERM: serve took %.2f s to exit, more than --shutdown-timeout %s (log: %s)", res.ExitSeconds, limit, s.logPath)
	}
	start = time.Now()
	next, err := r.startServe(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("restart after SIGTERM: %w", err)
	}
	res.RestartSeconds = time.Since(start).Seconds()
	go next.SampleEvery(ctx, 250*time.Millisecond)
	return next, nil
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
