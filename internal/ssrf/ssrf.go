// Package ssrf owns every outbound connection of a delivery, so that a URL
// typed in by a customer cannot reach into the network hookrelay runs in.
//
// There are two checks, and only the second one is the guard:
//
//   - CheckURL is the friendly early check when an endpoint is created or
//     updated: it enforces the URL rules (https, default port, no userinfo,
//     no fragment, at most 2048 characters) and refuses hosts that are, or
//     resolve to, refused addresses, with a message the user can act on.
//   - The Transport re-resolves the host on every connection, refuses the
//     whole answer if any address in it is refused, and its net.Dialer's
//     Control function checks the address and port actually being
//     connected to. DNS rebinding (a name that was public at creation and
//     answers 127.0.0.1 later), redirects (never followed anyway) and numeric
//     spellings of addresses cannot get past it, because it looks at the
//     socket address, not at a string.
//
// What is refused is the table in ranges.go, built from the IANA
// special-purpose address registries: deny by default for IPv6, the listed
// special blocks for IPv4, and IPv4 addresses embedded in IPv6 forms
// (IPv4-mapped, -compatible, -translated, NAT64, 6to4, Teredo) are unwrapped
// and checked.
package ssrf

import (
	"context"
	"net"
	"net/netip"
)

// Resolver looks up the addresses of a host. *net.Resolver satisfies it.
// The host is always passed fully qualified, with a trailing dot, so that the
// system's search domains (Kubernetes' "svc.cluster.local", a corporate
// domain) never turn a customer's name into an internal one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configures a Guard.
type Options struct {
	// AllowLoopback is the development switch --dev-allow-localhost: it
	// allows http:// URLs, any port, and loopback destinations (127.0.0.0/8,
	// ::1, and the names localhost and *.localhost). No other range becomes
	// allowed.
	AllowLoopback bool
	// Resolver is used by CheckURL and by the Transport's dialer; nil means
	// net.DefaultResolver.
	Resolver Resolver
}

// Guard checks destinations and builds the hardened HTTP transport. It is
// immutable after New and safe for concurrent use.
type Guard struct {
	allowLoopback bool
	resolver      Resolver
	dialer        *net.Dialer

	// anyPort turns off the dial-time port rule (443 only unless
	// AllowLoopback). Only tests set it, so that a test can aim a request at
	// an httptest server's random port and prove that the address check by
	// itself refuses the connection.
	anyPort bool
}

// New returns a Guard for o.
func New(o Options) *Guard {
	g := &Guard{allowLoopback: o.AllowLoopback, resolver: o.Resolver}
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	g.dialer = &net.Dialer{
		// No Timeout here: dialContext bounds the whole dial (resolution
		// plus every attempt) with dialTimeout and splits it between the
		// candidate addresses.
		KeepAlive: keepAlive,
		Control:   g.control,
	}
	return g
}
