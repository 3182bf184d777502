package ssrf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// publicResolver answers one public address for every name, so that
// FuzzCheckURL exercises the URL and host rules, not DNS.
type publicResolver struct{}

func (publicResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
}

// FuzzCheckURL: CheckURL never panics, refuses only with an *Error matching
// ErrBlocked (the resolver never fails), and whatever it accepts obeys the
// URL rules and has a host that no parser in reach reads as a refused
// address: not netip, not net.ParseIP, not the inet_aton forms, and not a
// localhost name.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/hook",
		"https://127.1/", "https://2130706433/", "https://0x7f.1/", "https://0177.0.0.1/",
		"https://017700000001/", "https://[::ffff:127.0.0.1]/", "https://[::ffff:7f00:1]/",
		"https://localhost./", "https://LOCALHOST/", "https://127.0.0.1.nip.io/",
		"https://[fe80::1%25eth0]/", "https://[2002:7f00:1::]/", "https://[64:ff9b::a9fe:a9fe]/",
		"https://user:pw@example.com/", "https://example.com:8443/", "https://example.com/#f",
		"http://example.com/", "https://[2606:4700:4700::1111]:443/", "https://93.184.216.34/",
	} {
		f.Add(s)
	}
	g := New(Options{Resolver: publicResolver{}})
	f.Fuzz(func(t *testing.T, raw string) {
		err := g.CheckURL(context.Background(), raw)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrBlocked) || e.Error() == "" {
				t.Fatalf("CheckURL(%q) = %#v; want an *Error matching ErrBlocked", raw, err)
			}
			return
		}
		if utf8.RuneCountInString(raw) > MaxURLLength || strings.Contains(raw, "#") {
			t.Fatalf("accepted %q: too long or has a fragment", raw)
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("accepted %q, which url.Parse rejects: %v", raw, perr)
		}
		if u.Scheme != "https" || u.User != nil || u.Port() != "" && u.Port() != "443" {
			t.Fatalf("accepted %q: scheme %q, userinfo %v, port %q", raw, u.Scheme, u.User, u.Port())
		}
		host := u.Hostname()
		name := strings.TrimSuffix(strings.ToLower(host), ".")
		if name == "" || name == "localhost" || strings.HasSuffix(name, ".localhost") {
			t.Fatalf("accepted %q with host %q", raw, host)
		}
		var literals []netip.Addr
		if a, err := netip.ParseAddr(host); err == nil {
			literals = append(literals, a)
		}
		if ip := net.ParseIP(host); ip != nil {
			a, _ := netip.AddrFromSlice(ip)
			literals = append(literals, a)
		}
		if a, ok := parseIPv4Loose(name); ok {
			literals = append(literals, a)
		}
		for _, a := range literals {
			if classify(a) != nil || stdlibSaysInternal(a) {
				t.Fatalf("accepted %q whose host %q is the refused address %s", raw, host, a)
			}
		}
	})
}

// stdlibSaysInternal is an oracle independent of ranges.go.
func stdlibSaysInternal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified()
}

// FuzzCheckAddr reads the input as a 16-byte IPv6 address, a 4-byte IPv4
// address and an address in text, and checks that CheckAddr never panics
// and is consistent: every refusal is an *Error naming a range that holds
// the address (or the IPv4 address it embeds); what the standard library
// calls loopback, private, link-local, multicast or unspecified is refused;
// an IPv4 address and its IPv4-mapped form, and a 6to4 or well-known NAT64
// address and its embedded IPv4 address, get the same answer; and the
// development switch allows exactly the loopback addresses on top.
func FuzzCheckAddr(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1", "::ffff:127.0.0.1", "fe80::1%eth0", "2001:0:4136:e378:8000:63bf:80ff:fffe",
		"2002:a9fe:a9fe::", "64:ff9b::808:808", "64:ff9b:1::a00:1", "::8.8.8.8", "fd00:ec2::254",
	} {
		f.Add([]byte(s))
	}
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{0x20, 0x02, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x20, 0x01, 0, 0, 0x41, 0x36, 0xe3, 0x78, 0x80, 0, 0x63, 0xbf, 0x80, 0xff, 0xff, 0xfe})
	strict := New(Options{})
	dev := New(Options{AllowLoopback: true})
	f.Fuzz(func(t *testing.T, b []byte) {
		var addrs []netip.Addr
		if a, err := netip.ParseAddr(string(b)); err == nil {
			addrs = append(addrs, a)
		}
		if len(b) >= 16 {
			addrs = append(addrs, netip.AddrFrom16([16]byte(b[:16])))
		}
		if len(b) >= 4 {
			addrs = append(addrs, netip.AddrFrom4([4]byte(b[:4])))
		}
		for _, a := range addrs {
			checkAddrInvariants(t, strict, dev, a)
		}
	})
}

func checkAddrInvariants(t *testing.T, strict, dev *Guard, a netip.Addr) {
	err := strict.CheckAddr(a)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrBlocked) || e.Error() == "" {
			t.Fatalf("CheckAddr(%s) = %#v; want an *Error matching ErrBlocked", a, err)
		}
		if e.Range.IsValid() && !e.Range.Contains(a) && !e.Range.Contains(a.Unmap()) && !containsEmbedded(e.Range, a) {
			t.Fatalf("CheckAddr(%s) names range %s, which does not hold it", a, e.Range)
		}
	} else if stdlibSaysInternal(a) || a.Zone() != "" {
		t.Fatalf("CheckAddr(%s) allowed an address the standard library calls internal", a)
	}

	same := func(other netip.Addr, why string) {
		if (strict.CheckAddr(other) == nil) != (err == nil) {
			t.Fatalf("CheckAddr(%s) = %v but CheckAddr(%s) = %v (%s)", a, err, other, strict.CheckAddr(other), why)
		}
	}
	if a.Is4() {
		same(netip.AddrFrom16(a.As16()), "IPv4-mapped form")
	}
	if a.Is6() && a.Zone() == "" {
		b := a.As16()
		switch {
		case netip.MustParsePrefix("2002::/16").Contains(a):
			same(netip.AddrFrom4([4]byte(b[2:6])), "6to4 embedded address")
		case netip.MustParsePrefix("64:ff9b::/96").Contains(a):
			same(netip.AddrFrom4([4]byte(b[12:16])), "NAT64 embedded address")
		}
	}

	devErr := dev.CheckAddr(a)
	if a.Zone() == "" && a.Unmap().IsLoopback() {
		if devErr != nil {
			t.Fatalf("development CheckAddr(%s) = %v; want loopback allowed", a, devErr)
		}
	} else if (devErr == nil) != (err == nil) {
		t.Fatalf("development CheckAddr(%s) = %v but production = %v: only loopback may differ", a, devErr, err)
	}
}

func containsEmbedded(r netip.Prefix, a netip.Addr) bool {
	for _, kind := range []embedding{embedLow32, embed6to4, embedTeredo} {
		for _, v4 := range embedded(a, kind) {
			if r.Contains(v4) {
				return true
			}
		}
	}
	return false
}
