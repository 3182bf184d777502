package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Receivers are the loopback webhook receivers: one listener per endpoint
// (so that, as with real customers, every endpoint is its own host:port
// and gets its own keep-alive pool in the sender), all feeding the current
// Tracker. They answer 200 with an empty body, after Latency if set.
type Receivers struct {
	URLs    []string
	latency time.Duration
	servers []*http.Server
	tracker atomic.Pointer[Tracker]
	bufs    sync.Pool
	wg      sync.WaitGroup

	mu       sync.Mutex
	serveErr []error // listeners that failed other than by Close
}

// maxReceiverBody bounds what one request may make the receiver buffer.
const maxReceiverBody = 1 << 20

// StartReceivers listens on n free ports of 127.0.0.1.
func StartReceivers(n int, latency time.Duration) (*Receivers, error) {
	r := &Receivers{latency: latency, bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }}}
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			_ = r.Close(context.Background())
			return nil, fmt.Errorf("receiver %d: listen: %w", i, err)
		}
		slot := i
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				r.serve(w, req, slot)
			}),
			ReadHeaderTimeout: 10 * time.Second,
			// Longer than the sender's 90 s idle timeout, so that the
			// sender, not the receiver, closes idle connections.
			IdleTimeout: 120 * time.Second,
		}
		r.servers = append(r.servers, srv)
		r.URLs = append(r.URLs, fmt.Sprintf("http://%s/hook/%d", ln.Addr(), i))
		r.wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				r.mu.Lock()
				r.serveErr = append(r.serveErr, fmt.Errorf("receiver %d: %w", i, err))
				r.mu.Unlock()
			}
		})
	}
	return r, nil
}

// Track sends what arrives from now on to t (nil stops tracking).
func (r *Receivers) Track(t *Tracker) { r.tracker.Store(t) }

// serve records the request's arrival at receiver slot, then answers 200.
func (r *Receivers) serve(w http.ResponseWriter, req *http.Request, slot int) {
	buf := r.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(io.LimitReader(req.Body, maxReceiverBody))
	if err != nil {
		r.bufs.Put(buf)
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if t := r.tracker.Load(); t != nil {
		t.Arrive(SeqOf(buf.Bytes()), slot, req.Header.Get("Webhook-Id"))
	}
	r.bufs.Put(buf)
	if r.latency > 0 {
		time.Sleep(r.latency)
	}
	w.WriteHeader(http.StatusOK)
}

// Close shuts every receiver down and reports any listener that had
// failed on its own.
func (r *Receivers) Close(ctx context.Context) error {
	var errs []error
	for _, s := range r.servers {
		if err := s.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(append(errs, r.serveErr...)...)
}
