package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DeadReceiver is a receiver that never answers: it reads each request and
// then holds it, sending nothing, until the client gives up (closes the
// connection, as hookrelay does at --delivery-timeout) or the receiver is
// closed. Either way the connection is dropped without a response, so no
// request ever succeeds.
type DeadReceiver struct {
	URL  string
	srv  *http.Server
	quit chan struct{}
	wg   sync.WaitGroup

	requests atomic.Int64
	mu       sync.Mutex
	ids      map[string]bool // distinct webhook-id headers
	held     []time.Duration // arrival → client gone, per request
	serveErr error
}

// StartDeadReceiver listens on a free port of 127.0.0.1.
func StartDeadReceiver() (*DeadReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dead receiver: listen: %w", err)
	}
	d := &DeadReceiver{URL: fmt.Sprintf("http://%s/hook/dead", ln.Addr()), quit: make(chan struct{}), ids: map[string]bool{}}
	d.srv = &http.Server{Handler: d, ReadHeaderTimeout: 10 * time.Second}
	d.wg.Go(func() {
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.mu.Lock()
			d.serveErr = err
			d.mu.Unlock()
		}
	})
	return d, nil
}

// ServeHTTP counts the request and holds it without answering.
func (d *DeadReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	arrived := time.Now()
	d.requests.Add(1)
	d.mu.Lock()
	d.ids[req.Header.Get("Webhook-Id")] = true
	d.mu.Unlock()
	// Reading the whole body lets the server notice the client hanging up,
	// which cancels the request's context.
	_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, maxReceiverBody))
	select {
	case <-req.Context().Done():
		d.mu.Lock()
		d.held = append(d.held, time.Since(arrived))
		d.mu.Unlock()
	case <-d.quit:
	}
	// Drop the connection without a status line: returning normally would
	// send 200.
	panic(http.ErrAbortHandler)
}

// DeadStats is what the dead receiver saw.
type DeadStats struct {
	Requests    int64 `json:"requests"`
	DeliveryIDs int   `json:"delivery_ids"` // distinct deliveries among them
	// Held is, for requests the client gave up on, how long they were held:
	// the sender's timeout as the receiver saw it.
	Held Latency `json:"held"`
}

// Stats returns the counters now.
func (d *DeadReceiver) Stats() DeadStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	held := append([]time.Duration(nil), d.held...)
	return DeadStats{Requests: d.requests.Load(), DeliveryIDs: len(d.ids), Held: Summarize(held)}
}

// Close releases held requests (dropping their connections) and stops.
func (d *DeadReceiver) Close(ctx context.Context) error {
	close(d.quit)
	err := d.srv.Shutdown(ctx)
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	return errors.Join(err, d.serveErr)
}

// refusedURL returns a URL on 127.0.0.1 whose port nothing listens on:
// connections to it are refused. The port was free a moment ago; refused
// checks it still is.
func refusedURL() (string, error) {
	addr, err := FreeAddr()
	if err != nil {
		return "", err
	}
	return "http://" + addr + "/hook/refused", nil
}

// refused reports whether a connection to the URL's address is refused now.
func refused(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	c, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
