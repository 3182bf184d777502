package ssrf

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// receiver is an httptest server on 127.0.0.1 that counts the requests it
// gets. Counting requests, not connections, is what "nothing was received"
// means for a webhook receiver.
type receiver struct {
	*httptest.Server
	hits atomic.Int64
}

func newReceiver(t *testing.T, h http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		if h != nil {
			h(w, req)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) port() string {
	return strconv.Itoa(r.Listener.Addr().(*net.TCPAddr).Port)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func get(ctx context.Context, c *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader([]byte(`{"webhook_event":"webhook.test"}`)))
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// wantRefused asserts that err is a policy refusal of category cat, as the
// dispatcher will see it: wrapped by the HTTP client in *url.Error and by
// the dialer in *net.OpError.
func wantRefused(t *testing.T, err error, cat Category) {
	t.Helper()
	if err == nil {
		t.Fatal("request succeeded; want a refusal")
	}
	var ue *url.Error
	var oe *net.OpError
	if !errors.As(err, &ue) || !errors.As(err, &oe) {
		t.Errorf("error %v is not wrapped in *url.Error and *net.OpError", err)
	}
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("errors.Is(%v, ErrBlocked) = false", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Category != cat {
		t.Fatalf("error %v; want category %q", err, cat)
	}
}

// TestDNSRebinding: the name answers a public address when the endpoint is
// created and 127.0.0.1 when the delivery connects.
//
// The request URL carries the receiver's random port, which CheckURL would
// refuse, so CheckURL runs on the default-port form of the same name. The
// dial-time port rule (443 only outside development) would refuse that port
// too, so the Guard's test hook anyPort turns that rule off: the address
// check is then the only thing between the request and the receiver. The
// control run with AllowLoopback proves the same request does reach it.
func TestDNSRebinding(t *testing.T) {
	t.Parallel()
	srv := newReceiver(t, nil)
	rebinding := func(call int, host string) ([]netip.Addr, error) {
		if call == 1 {
			return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	ctx := testContext(t)

	res := &fakeResolver{answer: rebinding}
	g := New(Options{Resolver: res})
	g.anyPort = true
	if err := g.CheckURL(ctx, "https://rebind.example.com/hook"); err != nil {
		t.Fatalf("CheckURL at creation: %v", err)
	}
	_, err := get(ctx, g.Client(2, 0), "http://rebind.example.com:"+srv.port()+"/hook")
	wantRefused(t, err, CategoryLoopback)
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("receiver on 127.0.0.1 got %d requests; want 0", n)
	}
	if got := res.calls(); len(got) != 2 || got[1] != "ip rebind.example.com." {
		t.Errorf("lookups = %q; want the dial to resolve again", got)
	}

	// Control: the same resolver sequence, URL and port with loopback
	// allowed reaches the receiver.
	dev := New(Options{AllowLoopback: true, Resolver: &fakeResolver{answer: rebinding}})
	if err := dev.CheckURL(ctx, "https://rebind.example.com/hook"); err != nil {
		t.Fatal(err)
	}
	if _, err := get(ctx, dev.Client(2, 0), "http://rebind.example.com:"+srv.port()+"/hook"); err != nil {
		t.Fatalf("control request: %v", err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("control: receiver got %d requests; want 1", n)
	}
}

// TestControlRefusesLiterals proves the net.Dialer Control check by itself:
// IP literals are not resolved or pre-checked by dialContext, so the
// refusal below can only come from Control, which sees the numeric socket
// address whatever the URL spelled.
func TestControlRefusesLiterals(t *testing.T) {
	t.Parallel()
	srv := newReceiver(t, nil)
	ctx := testContext(t)
	g := New(Options{Resolver: noLookups{t}})
	g.anyPort = true // see TestDNSRebinding: leave the address check alone in the way
	c := g.Client(2, 0)
	for _, host := range []string{"127.0.0.1", "[::ffff:127.0.0.1]", "127.1", "2130706433", "0x7f.1", "0177.0.0.1"} {
		_, err := get(ctx, c, "http://"+host+":"+srv.port()+"/hook")
		wantRefused(t, err, CategoryLoopback)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("receiver got %d requests; want 0", n)
	}

	// The bare dialer, without dialContext in front of it at all.
	if _, err := g.dialer.DialContext(ctx, "tcp", srv.Listener.Addr().String()); !errors.Is(err, ErrBlocked) {
		t.Fatalf("dialer.DialContext(%s) = %v; want ErrBlocked", srv.Listener.Addr(), err)
	}

	// Control: the same URL with loopback allowed is delivered.
	dev := New(Options{AllowLoopback: true, Resolver: noLookups{t}})
	if _, err := get(ctx, dev.Client(2, 0), "http://127.0.0.1:"+srv.port()+"/hook"); err != nil {
		t.Fatalf("control request: %v", err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("control: receiver got %d requests; want 1", n)
	}
}

// Outside development the dialer connects to port 443 only, so an endpoint
// stored while the development switch was on cannot reach other ports of a
// public host once it is off.
func TestControlPortRule(t *testing.T) {
	t.Parallel()
	g := New(Options{})
	// Control runs before connect(2), so nothing is sent to this address.
	_, err := g.dialer.DialContext(testContext(t), "tcp4", "93.184.216.34:8443")
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("dial 93.184.216.34:8443 = %v; want ErrBlocked", err)
	}
	if err := g.control("tcp4", "93.184.216.34:443", nil); err != nil {
		t.Errorf("control(93.184.216.34:443) = %v; want allowed", err)
	}
	if err := g.control("udp4", "93.184.216.34:443", nil); !errors.Is(err, ErrBlocked) {
		t.Errorf("control(udp4) = %v; want ErrBlocked", err)
	}
	if err := New(Options{AllowLoopback: true}).control("tcp4", "127.0.0.1:9000", nil); err != nil {
		t.Errorf("dev control(127.0.0.1:9000) = %v; want allowed", err)
	}
}

// An answer that mixes public and refused addresses is refused as a whole,
// before any connection, the same rule as CheckURL.
func TestDialRefusesMixedAnswer(t *testing.T) {
	t.Parallel()
	g := New(Options{Resolver: &fakeResolver{names: testNames()}})
	_, err := get(testContext(t), g.Client(2, 0), "https://mixed.example.com/hook")
	wantRefused(t, err, CategoryPrivate)
}

// Resolution failures at dial time are ordinary (retryable) errors.
func TestDialResolutionFailureIsNotBlocked(t *testing.T) {
	t.Parallel()
	g := New(Options{Resolver: &fakeResolver{names: testNames()}})
	_, err := get(testContext(t), g.Client(2, 0), "https://nxdomain.example.com/hook")
	var dnsErr *net.DNSError
	if err == nil || errors.Is(err, ErrBlocked) || !errors.As(err, &dnsErr) {
		t.Fatalf("error = %v; want a *net.DNSError that is not ErrBlocked", err)
	}
}

func TestDialLocalhostName(t *testing.T) {
	t.Parallel()
	srv := newReceiver(t, nil)
	ctx := testContext(t)

	g := New(Options{Resolver: noLookups{t}})
	g.anyPort = true
	_, err := get(ctx, g.Client(2, 0), "http://localhost:"+srv.port()+"/")
	wantRefused(t, err, CategoryLoopback)

	// In development localhost is 127.0.0.1 / ::1 without asking DNS.
	dev := New(Options{AllowLoopback: true, Resolver: noLookups{t}})
	if _, err := get(ctx, dev.Client(2, 0), "http://localhost:"+srv.port()+"/"); err != nil {
		t.Fatal(err)
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("receiver got %d requests; want 1", n)
	}
}

// When the first address does not answer, the next one is tried: serially
// within a family, in parallel across families.
func TestDialFallsBack(t *testing.T) {
	t.Parallel()
	srv := newReceiver(t, nil)
	for name, answer := range map[string][]string{ // subtests run in sequence: they share srv
		"same family":  {"127.0.0.2", "127.0.0.1"}, // nothing listens on 127.0.0.2
		"other family": {"::1", "127.0.0.1"},       // nor on ::1 at this port
	} {
		t.Run(name, func(t *testing.T) {
			dev := New(Options{AllowLoopback: true, Resolver: &fakeResolver{names: map[string][]string{"multi.example.com.": answer}}})
			before := srv.hits.Load()
			if _, err := get(testContext(t), dev.Client(2, 0), "http://multi.example.com:"+srv.port()+"/"); err != nil {
				t.Fatalf("request with answer %v: %v", answer, err)
			}
			if srv.hits.Load() == before {
				t.Fatal("the receiver on 127.0.0.1 did not get the request")
			}
		})
	}
}

// TestRedirectNotFollowed: the client returns the 3xx itself and never
// requests the Location, whether it points at a refused range or at another
// (allowed) receiver.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	target := newReceiver(t, nil)
	for _, loc := range []string{
		"http://10.0.0.1/",
		"http://169.254.169.254/latest/meta-data",
		target.URL + "/second",
	} {
		t.Run(loc, func(t *testing.T) {
			src := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, loc, http.StatusFound)
			})
			g := New(Options{AllowLoopback: true})
			resp, err := get(testContext(t), g.Client(2, 0), src.URL+"/hook")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != loc {
				t.Errorf("response %d Location %q; want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), loc)
			}
			if n := src.hits.Load(); n != 1 {
				t.Errorf("redirecting receiver got %d requests; want 1", n)
			}
		})
	}
	if n := target.hits.Load(); n != 0 {
		t.Errorf("redirect target got %d requests; want 0", n)
	}
}

// TestProxyEnvironmentIgnored: with every proxy variable pointing at a
// counting server, deliveries still connect directly. The destination is a
// name, not 127.0.0.1, because net/http never proxies loopback literals and
// the test would then prove nothing.
func TestProxyEnvironmentIgnored(t *testing.T) {
	proxy := newReceiver(t, nil)
	target := newReceiver(t, nil)
	for _, v := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"} {
		t.Setenv(v, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	g := New(Options{AllowLoopback: true, Resolver: &fakeResolver{names: map[string][]string{"receiver.example.com.": {"127.0.0.1"}}}})
	c := g.Client(2, 0)
	if c.Transport.(*http.Transport).Proxy != nil {
		t.Fatal("Transport.Proxy is set")
	}
	if _, err := get(testContext(t), c, "http://receiver.example.com:"+target.port()+"/hook"); err != nil {
		t.Fatal(err)
	}
	if n := proxy.hits.Load(); n != 0 {
		t.Errorf("proxy got %d requests; want 0", n)
	}
	if n := target.hits.Load(); n != 1 {
		t.Errorf("receiver got %d requests; want 1", n)
	}
}

func TestTransportSettings(t *testing.T) {
	t.Parallel()
	g := New(Options{})
	tr := g.Transport(7, 0)
	if tr.Proxy != nil {
		t.Error("Proxy is set")
	}
	if tr.DialContext == nil || tr.DialTLSContext != nil || tr.Dial != nil || tr.DialTLS != nil {
		t.Error("DialContext must be the only dial hook")
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion < tls.VersionTLS12 || tr.TLSClientConfig.InsecureSkipVerify {
		t.Errorf("TLS config %+v; want MinVersion >= TLS 1.2 and verification on", tr.TLSClientConfig)
	}
	if tr.TLSHandshakeTimeout != 10*time.Second || tr.ResponseHeaderTimeout != 0 {
		t.Errorf("TLSHandshakeTimeout %v, ResponseHeaderTimeout %v", tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout)
	}
	// The keep-alive pool is per host, shared by every endpoint on it, and
	// holds what may be in flight: bounded, never smaller than the requests.
	if tr.MaxIdleConns != defaultMaxConns || tr.MaxIdleConnsPerHost != defaultMaxConns || tr.MaxConnsPerHost != 0 {
		t.Errorf("MaxIdleConns %d MaxIdleConnsPerHost %d MaxConnsPerHost %d; want %d, %d and 0",
			tr.MaxIdleConns, tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost, defaultMaxConns, defaultMaxConns)
	}
	if tr := g.Transport(10, 2048); tr.MaxIdleConns != 2048 || tr.MaxIdleConnsPerHost != 2048 {
		t.Errorf("for 2,048 in flight: MaxIdleConns %d MaxIdleConnsPerHost %d, want 2048", tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	}
	if !tr.ForceAttemptHTTP2 || !tr.DisableCompression {
		t.Error("want ForceAttemptHTTP2 and DisableCompression")
	}
	if g.Transport(5000, 0).MaxIdleConnsPerHost != 5000 {
		t.Error("a per-endpoint cap above the pool's size must still keep its connections")
	}
	c := g.Client(1, 0)
	if c.Timeout != 0 || c.Jar != nil || c.CheckRedirect == nil {
		t.Errorf("client %+v; want no Timeout, no Jar, CheckRedirect set", c)
	}
	if g.dialer.Control == nil {
		t.Error("dialer has no Control")
	}
}

// TestHTTPSDelivery goes through the whole TLS path: the custom dialer keeps
// HTTP/2 working, the certificate is verified for the URL's name, and the
// body arrives exactly as sent (no Accept-Encoding, no transparent gunzip).
func TestHTTPSDelivery(t *testing.T) {
	t.Parallel()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, "thanks")
	zw.Close()
	var acceptEncoding atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acceptEncoding.Store(r.Header.Get("Accept-Encoding"))
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz.Bytes())
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)

	// httptest's certificate is valid for example.com.
	g := New(Options{AllowLoopback: true, Resolver: &fakeResolver{names: map[string][]string{"example.com.": {"127.0.0.1"}}}})
	c := g.Client(2, 0)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c.Transport.(*http.Transport).TLSClientConfig.RootCAs = pool

	req, _ := http.NewRequestWithContext(testContext(t), http.MethodPost, "https://example.com:"+port+"/hook", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s; want HTTP/2", resp.Proto)
	}
	if !bytes.Equal(body, gz.Bytes()) || resp.Uncompressed {
		t.Errorf("body was decoded by the transport")
	}
	if ae, _ := acceptEncoding.Load().(string); ae != "" {
		t.Errorf("request carried Accept-Encoding %q", ae)
	}
}

// TestPoolHoldsWhatIsInFlight: a transport built for n requests in flight
// never fails one because its keep-alive pool is full. net/http closes a
// connection handed back to a full pool, and the request that just used it
// can then fail with "putIdleConn: too many idle connections" after the
// receiver answered: for a webhook sender a failed attempt and a duplicate.
// The load generator saw 41 such failures and 182 duplicates with 1,000
// endpoints and 2,048 in flight against the old fixed pool of 1,024; here a
// pool of an eighth of what is in flight fails some of these 12,800.
func TestPoolHoldsWhatIsInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("opens about 500 sockets")
	}
	const inFlight, hosts, each = 256, 64, 50
	var urls []string
	for range hosts {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	c := New(Options{AllowLoopback: true}).Client(1, inFlight)
	t.Cleanup(c.CloseIdleConnections)
	ctx := testContext(t)
	var failed atomic.Int64
	var first sync.Once
	var wg sync.WaitGroup
	for g := range inFlight {
		wg.Go(func() {
			for i := range each {
				if _, err := get(ctx, c, urls[(g+i)%hosts]); err != nil {
					failed.Add(1)
					first.Do(func() { t.Errorf("first failure: %v", err) })
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed", n, inFlight*each)
	}
}
