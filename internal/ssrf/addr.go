package ssrf

import (
	"net/netip"
)

// CheckAddr classifies one address: nil if a delivery may connect to it, an
// *Error naming the refused range otherwise. With Options.AllowLoopback,
// loopback addresses (127.0.0.0/8, ::1, and ::ffff:127.x.y.z, which is the
// same IPv4 address) are allowed; nothing else changes.
func (g *Guard) CheckAddr(a netip.Addr) error {
	if e := g.checkAddr(a); e != nil {
		return e
	}
	return nil
}

// checkAddr is CheckAddr with a concrete result type, so that callers inside
// the package never compare an interface holding a nil *Error.
func (g *Guard) checkAddr(a netip.Addr) *Error {
	if g.allowLoopback && a.Zone() == "" && a.Unmap().IsLoopback() {
		return nil
	}
	return classify(a)
}

// classify applies the table in ranges.go to a. It never consults the
// development switch: an IPv4 address embedded in a 6to4 or NAT64 address is
// refused even in development, because the packet would go to a relay or a
// translator, not to this host's loopback.
func classify(a netip.Addr) *Error {
	if !a.IsValid() {
		return refusal("destination address is not valid")
	}
	// A zone names an interface of this host; even on a global address it
	// pins the route to a local link. Nothing public needs one.
	if a.Zone() != "" {
		return &Error{
			Addr:     a,
			Category: CategoryZoned,
			Reason:   "destination is a zoned IPv6 address (" + a.String() + ")",
		}
	}
	rows := v6Rows
	if a.Is4() {
		rows = v4Rows
	}
	for _, r := range rows {
		if !r.prefix.Contains(a) {
			continue
		}
		for _, v4 := range embedded(a, r.embed) {
			if e := classify(v4); e != nil {
				e.Addr = a
				return e
			}
		}
		// The local-use NAT64 prefix (RFC 8215) is refused even with a
		// public embedded address: the operator chooses where in the /48
		// the IPv4 address sits (RFC 6052 allows /48 to /96 layouts), so
		// no position can be trusted, and IANA marks it not globally
		// reachable. The low 32 bits are checked above only so that the
		// usual /96 layout gets the clearer message.
		if r.act == allow {
			return nil
		}
		return rangeRefusal(a, r.prefix, r.cat)
	}
	// Unreachable while the table covers the whole IPv6 space and 0.0.0.0/0;
	// fail closed if a future edit breaks that.
	return rangeRefusal(a, netip.PrefixFrom(a, a.BitLen()), CategoryReserved)
}

// embedded returns the IPv4 addresses that a carries in the layout e.
func embedded(a netip.Addr, e embedding) []netip.Addr {
	b := a.As16()
	switch e {
	case embedLow32:
		return []netip.Addr{netip.AddrFrom4([4]byte(b[12:16]))}
	case embed6to4:
		return []netip.Addr{netip.AddrFrom4([4]byte(b[2:6]))}
	case embedTeredo:
		// RFC 4380 §4: 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC where S is the
		// Teredo server and C the client's public address, both IPv4, the
		// client's with every bit inverted.
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		return []netip.Addr{netip.AddrFrom4([4]byte(b[4:8])), netip.AddrFrom4(client)}
	}
	return nil
}
