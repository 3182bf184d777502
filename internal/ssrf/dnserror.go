package ssrf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
)

// lookup resolves name with the Guard's resolver. Its errors are shown to
// customers (an API answer when an endpoint is created, the delivery log
// when a dial fails), so they never name the resolver that was asked or
// any other address of the operator's network: Go's resolver writes
// "lookup x on 10.0.0.2:53: no such host".
func (g *Guard) lookup(ctx context.Context, network, name string) ([]netip.Addr, error) {
	addrs, err := g.resolver.LookupNetIP(ctx, network, name)
	if err != nil {
		return nil, scrubDNSError(err, strings.TrimSuffix(name, "."))
	}
	return addrs, nil
}

// scrubDNSError returns err as a *net.DNSError with no Server and no
// address in its text, keeping what tells a failure apart: not found,
// timeout, temporary, and the context error it wraps.
func scrubDNSError(err error, name string) *net.DNSError {
	out := &net.DNSError{Name: name}
	var de *net.DNSError
	if errors.As(err, &de) {
		out.Err, out.IsNotFound, out.IsTimeout, out.IsTemporary, out.UnwrapErr = de.Err, de.IsNotFound, de.IsTimeout, de.IsTemporary, de.UnwrapErr
	} else {
		out.Err = strings.TrimPrefix(err.Error(), "lookup "+name+": ")
		out.IsTimeout = errors.Is(err, context.DeadlineExceeded)
	}
	switch {
	case errors.Is(err, context.Canceled):
		out.UnwrapErr = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		out.UnwrapErr = context.DeadlineExceeded
	}
	switch {
	case out.IsNotFound:
		out.Err = "no such host"
	case out.IsTimeout:
		out.Err = "the name server did not answer in time"
	case hasAddress(out.Err):
		out.Err = "the name server failed"
	}
	return out
}

// hasAddress reports whether s names an IP address, with or without a port
// ("10.0.0.2", "10.0.0.2:53", "[fd00::1]:53", "udp 10.0.0.9:4711->10.0.0.2:53").
func hasAddress(s string) bool {
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == ';' || r == '(' || r == ')' || r == '"' }) {
		for _, part := range strings.Split(f, "->") {
			part = strings.TrimRight(part, ":.")
			if _, err := netip.ParseAddr(part); err == nil {
				return true
			}
			if _, err := netip.ParseAddrPort(part); err == nil {
				return true
			}
		}
	}
	return false
}
