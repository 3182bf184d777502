package ssrf

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

const (
	// dialTimeout bounds a whole dial: name resolution plus every attempt.
	dialTimeout = 10 * time.Second
	// tlsHandshakeTimeout bounds the TLS handshake after the dial.
	tlsHandshakeTimeout = 10 * time.Second
	keepAlive           = 30 * time.Second
	// idleConnTimeout closes idle keep-alive connections so that the pool
	// of a service talking to thousands of endpoints stays bounded.
	idleConnTimeout = 90 * time.Second
	// fallbackDelay is how long the first address family gets before the
	// other one is tried in parallel (RFC 8305 Happy Eyeballs; net.Dialer
	// uses the same 300 ms).
	fallbackDelay = 300 * time.Millisecond
	// minAttemptTimeout keeps one slow address from starving the next ones
	// of time, and the next ones from getting too little (as net.Dialer).
	minAttemptTimeout = 2 * time.Second
	// maxResponseHeaderBytes caps what a receiver can make us buffer before
	// the body; response headers are recorded, not trusted.
	maxResponseHeaderBytes = 1 << 20
	// httpsPort is the only port deliveries dial outside development.
	httpsPort = 443
)

// defaultMaxConns sizes the keep-alive pools when the caller sets no cap.
const defaultMaxConns = 1024

// Transport returns the hardened transport for deliveries; every call
// returns a new one.
//
//   - Proxy is nil: HTTP_PROXY and friends are never used, since a proxy
//     would make the connection for us and the dial-time check would only
//     see the proxy.
//   - DialContext resolves with Options.Resolver, refuses the host if any
//     address it resolves to is refused, and dials the candidates (Happy
//     Eyeballs) with a net.Dialer whose Control checks the socket address
//     actually dialled and, outside development, that the port is 443.
//   - TLS 1.2 at least; dial 10 s and TLS handshake 10 s; no response
//     header timeout, since the caller's context carries the delivery
//     timeout.
//   - Idle connections are kept for as many requests as may be in flight
//     (maxConns), per host as well as in all: many customers' endpoints
//     share a host (one automation service, one serverless domain), and a
//     pool sized for one endpoint made every request beyond it open a new
//     connection (and a new TLS handshake) under load. A pool smaller than
//     the requests in flight is worse than slow: net/http closes the
//     connection a finished request was about to give back, and that
//     request can fail with "putIdleConn: too many idle connections" after
//     the receiver has answered — a failed attempt, a retry, a duplicate
//     (seen with 1,000 endpoints and 2,048 in flight against a pool of
//     1,024). An idle HTTP/1.1 connection holds two goroutines and two
//     buffers, about 50 KB, so the dispatcher's --max-in-flight bounds this
//     memory as it bounds that of the requests; idle connections close
//     after idleConnTimeout. MaxConnsPerHost is deliberately not set: two
//     endpoints on one host must not queue behind each other.
//   - ForceAttemptHTTP2, because a custom DialContext would otherwise turn
//     HTTP/2 off.
//   - DisableCompression: the response body excerpt recorded in the log is
//     the bytes the receiver sent, not a transparently gunzipped version.
//
// It is built for at most maxConnsPerHost requests in flight to one
// endpoint and maxConns in all (0: defaultMaxConns).
func (g *Guard) Transport(maxConnsPerHost, maxConns int) *http.Transport {
	if maxConns <= 0 {
		maxConns = defaultMaxConns
	}
	idle := max(maxConns, maxConnsPerHost)
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            g.dialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		ForceAttemptHTTP2:      true,
		DisableCompression:     true,
		MaxIdleConnsPerHost:    idle,
		MaxIdleConns:           idle,
		IdleConnTimeout:        idleConnTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
}

// Client wraps Transport in a client that never follows redirects (the
// 3xx response is returned as is; a redirect is a failed attempt, SPEC §2)
// and has no Timeout, because callers bound each attempt with a context.
func (g *Guard) Client(maxConnsPerHost, maxConns int) *http.Client {
	return &http.Client{
		Transport: g.Transport(maxConnsPerHost, maxConns),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// control is the net.Dialer Control function: it runs after the socket is
// created and before connect(2), with the numeric address about to be
// connected to. Whatever path led here (a literal, a resolved name, a
// spelling trick), this is the address the packets go to.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return refusal("destination network %q is not allowed", network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return refusal("destination %q is not a numeric address: %v", address, err)
	}
	if e := g.checkAddr(ap.Addr()); e != nil {
		return e
	}
	if !g.allowLoopback && !g.anyPort && ap.Port() != httpsPort {
		return refusal("destination port %d is not allowed (only %d)", ap.Port(), httpsPort)
	}
	return nil
}

// dialContext is the Transport's DialContext.
//
// IP literals (including inet_aton spellings such as 0x7f.1) are dialled as
// they are and judged by control alone. Names are resolved with the Guard's
// resolver, fully qualified, and the whole answer is refused if any address
// in it is refused, the same rule as CheckURL; control then checks each
// address again as it is dialled.
func (g *Guard) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	opErr := func(addr net.Addr, err error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: addr, Err: err}
	}
	var lookupNetwork string
	switch network {
	case "tcp":
		lookupNetwork = "ip"
	case "tcp4":
		lookupNetwork = "ip4"
	case "tcp6":
		lookupNetwork = "ip6"
	default:
		return nil, opErr(nil, refusal("destination network %q is not allowed", network))
	}
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, opErr(nil, fmt.Errorf("ssrf: dial address %q: %w", address, err))
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, opErr(nil, refusal("destination port %q is not valid", portText))
	}

	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()

	h, e := parseHost(host)
	if e != nil {
		return nil, opErr(nil, e)
	}
	var addrs []netip.Addr
	switch h.kind {
	case hostIP:
		if h.addr.Zone() != "" {
			// Refuse before the dialer, which would otherwise first try
			// to resolve the zone's interface name.
			return nil, opErr(nil, classify(h.addr))
		}
		addrs = []netip.Addr{h.addr}
	case hostLocalhost:
		if !g.allowLoopback {
			return nil, opErr(nil, localhostRefusal(h.name))
		}
		// RFC 6761 §6.3: localhost names are loopback by definition, so
		// they are never sent to DNS, where someone else answers.
		addrs = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}
	case hostName:
		addrs, err = g.lookup(ctx, lookupNetwork, h.name+".")
		if err != nil {
			return nil, opErr(nil, err)
		}
		if len(addrs) == 0 {
			return nil, opErr(nil, &net.DNSError{Err: errNoAddresses.Error(), Name: h.name, IsNotFound: true})
		}
		for _, a := range addrs {
			if e := g.checkAddr(a); e != nil {
				return nil, opErr(tcpAddr(a, uint16(port)), e)
			}
		}
	}
	addrs = filterFamily(addrs, network)
	if len(addrs) == 0 {
		return nil, opErr(nil, fmt.Errorf("ssrf: %s has no %s address", host, network))
	}
	return g.dialAll(ctx, addrs, uint16(port))
}

func tcpAddr(a netip.Addr, port uint16) *net.TCPAddr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, port))
}

// filterFamily unmaps IPv4-mapped addresses (they are IPv4 to the kernel)
// and keeps the addresses that network can reach.
func filterFamily(addrs []netip.Addr, network string) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap()
		if network == "tcp4" && !a.Is4() || network == "tcp6" && !a.Is6() {
			continue
		}
		out = append(out, a)
	}
	return out
}

// dialAll connects to one of addrs. Addresses of the first address's family
// are tried in order; if that has not succeeded within fallbackDelay the
// other family is tried in parallel, and the first connection wins (RFC
// 8305). net.Dialer does the same for a host name, but it would resolve the
// name itself, bypassing Options.Resolver and the answer check, so it is
// only ever given literal addresses.
func (g *Guard) dialAll(ctx context.Context, addrs []netip.Addr, port uint16) (net.Conn, error) {
	var primaries, fallbacks []netip.Addr
	for _, a := range addrs {
		if a.Is4() == addrs[0].Is4() {
			primaries = append(primaries, a)
		} else {
			fallbacks = append(fallbacks, a)
		}
	}
	if len(fallbacks) == 0 {
		return g.dialSerial(ctx, primaries, port)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		conn net.Conn
		err  error
	}
	results := make(chan result, 2) // buffered: a loser never blocks
	race := func(list []netip.Addr) {
		c, err := g.dialSerial(ctx, list, port)
		results <- result{c, err}
	}
	go race(primaries)
	timer := time.NewTimer(fallbackDelay)
	defer timer.Stop()

	running, fallbackStarted := 1, false
	startFallback := func() {
		if !fallbackStarted {
			fallbackStarted = true
			running++
			go race(fallbacks)
		}
	}
	var firstErr error
	for {
		select {
		case <-timer.C:
			startFallback()
		case r := <-results:
			running--
			if r.err == nil {
				if running > 0 {
					// The other racer may still connect before it sees
					// the cancellation; close what it returns.
					go func() {
						if o := <-results; o.conn != nil {
							o.conn.Close()
						}
					}()
				}
				return r.conn, nil
			}
			firstErr = preferBlocked(firstErr, r.err)
			startFallback()
			if running == 0 {
				return nil, firstErr
			}
		}
	}
}

// dialSerial tries addrs in order, giving each a share of the remaining
// time, and returns the first connection.
func (g *Guard) dialSerial(ctx context.Context, addrs []netip.Addr, port uint16) (net.Conn, error) {
	var firstErr error
	for i, a := range addrs {
		if err := ctx.Err(); err != nil {
			if firstErr == nil {
				firstErr = &net.OpError{Op: "dial", Net: "tcp", Addr: tcpAddr(a, port), Err: err}
			}
			break
		}
		network := "tcp6"
		if a.Is4() {
			network = "tcp4"
		}
		attemptCtx, cancel := attemptContext(ctx, len(addrs)-i)
		c, err := g.dialer.DialContext(attemptCtx, network, netip.AddrPortFrom(a, port).String())
		cancel()
		if err == nil {
			return c, nil
		}
		firstErr = preferBlocked(firstErr, err)
	}
	return nil, firstErr
}

// attemptContext gives one of remaining attempts its share of ctx's time.
func attemptContext(ctx context.Context, remaining int) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	left := time.Until(deadline)
	share := left / time.Duration(remaining)
	if share < minAttemptTimeout {
		share = min(minAttemptTimeout, left)
	}
	return context.WithTimeout(ctx, share)
}

// preferBlocked keeps the first error, unless a later one is a policy
// refusal: the dispatcher must learn that a destination is refused (which
// is permanent) rather than that another of its addresses timed out.
func preferBlocked(first, next error) error {
	if first == nil || !errors.Is(first, ErrBlocked) && errors.Is(next, ErrBlocked) {
		return next
	}
	return first
}
