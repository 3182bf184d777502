package ssrf

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// addrCase is one destination: host is written as in a URL (an IP literal,
// IPv6 without brackets, or an inet_aton spelling). cat and rng are the
// expected refusal; cat "" means the destination must be allowed.
type addrCase struct {
	name string
	host string
	cat  Category
	rng  string
}

// addrCases covers every refused range in its plain IPv4/IPv6 form, the
// IPv4 ranges again through every IPv6 embedding, the numeric spellings,
// and public destinations (including embedded ones) that must pass.
var addrCases = []addrCase{
	// IPv4, one or more per range.
	{"v4 loopback", "127.0.0.1", CategoryLoopback, "127.0.0.0/8"},
	{"v4 loopback top", "127.255.255.254", CategoryLoopback, "127.0.0.0/8"},
	{"v4 private 10/8", "10.0.0.1", CategoryPrivate, "10.0.0.0/8"},
	{"v4 private 172.16/12 low", "172.16.0.1", CategoryPrivate, "172.16.0.0/12"},
	{"v4 private 172.16/12 high", "172.31.255.255", CategoryPrivate, "172.16.0.0/12"},
	{"v4 private 192.168/16", "192.168.1.1", CategoryPrivate, "192.168.0.0/16"},
	{"v4 link-local", "169.254.0.1", CategoryLinkLocal, "169.254.0.0/16"},
	{"metadata AWS GCP Azure IMDS", "169.254.169.254", CategoryMetadata, "169.254.169.254/32"},
	{"metadata AWS ECS", "169.254.170.2", CategoryMetadata, "169.254.170.2/32"},
	{"v4 CGNAT", "100.64.0.1", CategoryCGNAT, "100.64.0.0/10"},
	{"v4 CGNAT top", "100.127.255.255", CategoryCGNAT, "100.64.0.0/10"},
	{"metadata Alibaba", "100.100.100.200", CategoryMetadata, "100.100.100.200/32"},
	{"v4 multicast", "224.0.0.1", CategoryMulticast, "224.0.0.0/4"},
	{"v4 multicast SSDP", "239.255.255.250", CategoryMulticast, "224.0.0.0/4"},
	{"v4 unspecified", "0.0.0.0", CategoryUnspecified, "0.0.0.0/8"},
	{"v4 this network", "0.1.2.3", CategoryUnspecified, "0.0.0.0/8"},
	{"v4 broadcast", "255.255.255.255", CategoryBroadcast, "255.255.255.255/32"},
	{"v4 reserved class E", "240.0.0.1", CategoryReserved, "240.0.0.0/4"},
	{"v4 reserved class E top", "255.255.255.254", CategoryReserved, "240.0.0.0/4"},
	{"v4 benchmarking", "198.18.0.1", CategoryBenchmarking, "198.18.0.0/15"},
	{"v4 benchmarking top", "198.19.255.255", CategoryBenchmarking, "198.18.0.0/15"},
	{"v4 TEST-NET-1", "192.0.2.1", CategoryDocumentation, "192.0.2.0/24"},
	{"v4 TEST-NET-2", "198.51.100.7", CategoryDocumentation, "198.51.100.0/24"},
	{"v4 TEST-NET-3", "203.0.113.9", CategoryDocumentation, "203.0.113.0/24"},
	{"v4 IETF protocol assignments", "192.0.0.1", CategoryProtocol, "192.0.0.0/24"},
	{"v4 NAT64 discovery", "192.0.0.170", CategoryProtocol, "192.0.0.0/24"},
	{"v4 6to4 relay anycast", "192.88.99.1", CategoryRelayAnycast, "192.88.99.0/24"},
	{"v4 AS112", "192.31.196.1", CategoryAnycast, "192.31.196.0/24"},
	{"v4 AS112 direct delegation", "192.175.48.1", CategoryAnycast, "192.175.48.0/24"},
	{"v4 AMT", "192.52.193.1", CategoryAnycast, "192.52.193.0/24"},

	// inet_aton spellings: read as the IPv4 address they denote.
	{"short 127.1", "127.1", CategoryLoopback, "127.0.0.0/8"},
	{"decimal 2130706433", "2130706433", CategoryLoopback, "127.0.0.0/8"},
	{"hex 0x7f.1", "0x7f.1", CategoryLoopback, "127.0.0.0/8"},
	{"hex 0X7F000001", "0X7F000001", CategoryLoopback, "127.0.0.0/8"},
	{"hex parts 0x7f.0.0.0x1", "0x7f.0.0.0x1", CategoryLoopback, "127.0.0.0/8"},
	{"octal 0177.0.0.1", "0177.0.0.1", CategoryLoopback, "127.0.0.0/8"},
	{"octal 017700000001", "017700000001", CategoryLoopback, "127.0.0.0/8"},
	{"trailing dot 127.0.0.1.", "127.0.0.1.", CategoryLoopback, "127.0.0.0/8"},
	{"short 10.1", "10.1", CategoryPrivate, "10.0.0.0/8"},
	{"three parts 192.168.257", "192.168.257", CategoryPrivate, "192.168.0.0/16"},
	{"octal 0300.0250.1.1", "0300.0250.1.1", CategoryPrivate, "192.168.0.0/16"},
	{"decimal 3232235777", "3232235777", CategoryPrivate, "192.168.0.0/16"},
	{"hex metadata 0xa9fea9fe", "0xa9fea9fe", CategoryMetadata, "169.254.169.254/32"},
	{"bare 0", "0", CategoryUnspecified, "0.0.0.0/8"},
	{"empty hex 0x", "0x", CategoryUnspecified, "0.0.0.0/8"},

	// IPv6.
	{"v6 loopback", "::1", CategoryLoopback, "::1/128"},
	{"v6 unspecified", "::", CategoryUnspecified, "::/128"},
	{"v6 ULA fc00", "fc00::1", CategoryPrivate, "fc00::/7"},
	{"v6 ULA fd", "fd12:3456:789a::1", CategoryPrivate, "fc00::/7"},
	{"metadata AWS IMDS IPv6", "fd00:ec2::254", CategoryMetadata, "fd00:ec2::254/128"},
	{"v6 link-local", "fe80::1", CategoryLinkLocal, "fe80::/10"},
	{"v6 link-local top", "febf:ffff::1", CategoryLinkLocal, "fe80::/10"},
	{"v6 zone", "fe80::1%eth0", CategoryZoned, ""},
	{"v6 zone on global", "2606:4700:4700::1111%eth0", CategoryZoned, ""},
	{"v6 site-local", "fec0::1", CategorySiteLocal, "fec0::/10"},
	{"v6 multicast all-nodes", "ff02::1", CategoryMulticast, "ff00::/8"},
	{"v6 multicast site", "ff05::1:3", CategoryMulticast, "ff00::/8"},
	{"v6 documentation 2001:db8", "2001:db8::1", CategoryDocumentation, "2001:db8::/32"},
	{"v6 documentation 3fff", "3fff:fff::1", CategoryDocumentation, "3fff::/20"},
	{"v6 benchmarking", "2001:2::1", CategoryBenchmarking, "2001:2::/48"},
	{"v6 discard-only", "100::1", CategoryDiscard, "100::/64"},
	{"v6 dummy prefix", "100:0:0:1::1", CategoryReserved, "100:0:0:1::/64"},
	{"v6 ORCHIDv2", "2001:20::1", CategoryORCHID, "2001:20::/28"},
	{"v6 ORCHID deprecated", "2001:10::1", CategoryORCHID, "2001:10::/28"},
	{"v6 IETF PCP anycast", "2001:1::1", CategoryProtocol, "2001::/23"},
	{"v6 IETF DETs", "2001:30::1", CategoryProtocol, "2001::/23"},
	{"v6 AMT", "2001:3::1", CategoryAnycast, "2001:3::/32"},
	{"v6 AS112", "2001:4:112::1", CategoryAnycast, "2001:4:112::/48"},
	{"v6 AS112 direct delegation", "2620:4f:8000::1", CategoryAnycast, "2620:4f:8000::/48"},
	{"v6 SRv6 SIDs", "5f00::1", CategoryReserved, "5f00::/16"},
	{"v6 unallocated 4000::/3", "4000::1", CategoryReserved, "4000::/3"},
	{"v6 unallocated fe00::/9", "fe00::1", CategoryReserved, "fe00::/9"},
	{"v6 unallocated 0000::/8", "1:2::3", CategoryReserved, "::/8"},

	// IPv4-mapped (RFC 4291 §2.5.5.2): the IPv4 address itself.
	{"mapped loopback dotted", "::ffff:127.0.0.1", CategoryLoopback, "127.0.0.0/8"},
	{"mapped loopback hex", "::ffff:7f00:1", CategoryLoopback, "127.0.0.0/8"},
	{"mapped loopback long form", "0:0:0:0:0:ffff:7f00:0001", CategoryLoopback, "127.0.0.0/8"},
	{"mapped private", "::ffff:10.0.0.1", CategoryPrivate, "10.0.0.0/8"},
	{"mapped metadata", "::ffff:169.254.169.254", CategoryMetadata, "169.254.169.254/32"},
	{"mapped CGNAT", "::ffff:100.64.0.1", CategoryCGNAT, "100.64.0.0/10"},
	{"mapped unspecified", "::ffff:0.0.0.0", CategoryUnspecified, "0.0.0.0/8"},

	// IPv4-compatible (deprecated): embedded address, else refused itself.
	{"compatible loopback", "::127.0.0.1", CategoryLoopback, "127.0.0.0/8"},
	{"compatible private", "::10.0.0.1", CategoryPrivate, "10.0.0.0/8"},
	{"compatible public", "::8.8.8.8", CategoryIPv4Compatible, "::/96"},

	// IPv4-translated (SIIT).
	{"translated loopback", "::ffff:0:127.0.0.1", CategoryLoopback, "127.0.0.0/8"},
	{"translated public", "::ffff:0:8.8.8.8", CategoryIPv4Translated, "::ffff:0:0:0/96"},

	// NAT64, well-known prefix 64:ff9b::/96.
	{"NAT64 loopback", "64:ff9b::127.0.0.1", CategoryLoopback, "127.0.0.0/8"},
	{"NAT64 private", "64:ff9b::a00:1", CategoryPrivate, "10.0.0.0/8"},
	{"NAT64 metadata", "64:ff9b::a9fe:a9fe", CategoryMetadata, "169.254.169.254/32"},

	// NAT64, local-use prefix 64:ff9b:1::/48.
	{"NAT64 local loopback", "64:ff9b:1::7f00:1", CategoryLoopback, "127.0.0.0/8"},
	{"NAT64 local private", "64:ff9b:1::c0a8:101", CategoryPrivate, "192.168.0.0/16"},
	{"NAT64 local public", "64:ff9b:1::808:808", CategoryNAT64Local, "64:ff9b:1::/48"},

	// 6to4 2002::/16, IPv4 in bits 16..47.
	{"6to4 loopback", "2002:7f00:1::", CategoryLoopback, "127.0.0.0/8"},
	{"6to4 private", "2002:a00:1::1", CategoryPrivate, "10.0.0.0/8"},
	{"6to4 metadata", "2002:a9fe:a9fe::1", CategoryMetadata, "169.254.169.254/32"},
	{"6to4 documentation", "2002:c000:201::1", CategoryDocumentation, "192.0.2.0/24"},

	// Teredo 2001::/32: server in bits 32..63, client inverted in 96..127.
	{"Teredo client loopback", "2001:0:4136:e378:8000:63bf:80ff:fffe", CategoryLoopback, "127.0.0.0/8"},
	{"Teredo client documentation", "2001:0:4136:e378:8000:63bf:3fff:fdd2", CategoryDocumentation, "192.0.2.0/24"},
	{"Teredo server private", "2001:0:a00:1:8000:63bf:f7f7:f7f7", CategoryPrivate, "10.0.0.0/8"},
	{"Teredo both public", "2001:0:4136:e378:8000:63bf:f7f7:f7f7", CategoryTeredo, "2001::/32"},

	// Allowed.
	{"public 8.8.8.8", "8.8.8.8", "", ""},
	{"public 1.1.1.1", "1.1.1.1", "", ""},
	{"public 93.184.216.34", "93.184.216.34", "", ""},
	{"public below CGNAT", "100.63.255.255", "", ""},
	{"public above CGNAT", "100.128.0.1", "", ""},
	{"public above 172.16/12", "172.32.0.1", "", ""},
	{"public below multicast", "223.255.255.255", "", ""},
	{"public decimal 134744072", "134744072", "", ""},
	{"public hex 0x08080808", "0x08080808", "", ""},
	{"public v6 Cloudflare", "2606:4700:4700::1111", "", ""},
	{"public v6 Google", "2a00:1450:4001:82b::200e", "", ""},
	{"public mapped 8.8.8.8", "::ffff:8.8.8.8", "", ""},
	{"public 6to4 of 8.8.8.8", "2002:808:808::1", "", ""},
	{"public NAT64 of 8.8.8.8", "64:ff9b::808:808", "", ""},
	{"public NAT64 of 1.1.1.1 dotted", "64:ff9b::1.1.1.1", "", ""},
}

// noLookups is a Resolver that fails the test if it is used: every case in
// addrCases is a literal and must be judged without DNS.
type noLookups struct{ t *testing.T }

func (r noLookups) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.t.Errorf("unexpected DNS lookup of %q", host)
	return nil, errors.New("no lookups in this test")
}

// urlFor writes host into an https URL, bracketing IPv6 and escaping a zone.
func urlFor(host string) string {
	if strings.Contains(host, ":") {
		return "https://[" + strings.Replace(host, "%", "%25", 1) + "]/hook"
	}
	return "https://" + host + "/hook"
}

func TestAddressTable(t *testing.T) {
	t.Parallel()
	if len(addrCases) < 60 {
		t.Fatalf("the table must keep at least 60 cases, has %d", len(addrCases))
	}
	for _, tc := range addrCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := New(Options{Resolver: noLookups{t}})

			// Through CheckURL: the host as a user would type it.
			checkResult(t, "CheckURL("+urlFor(tc.host)+")", g.CheckURL(context.Background(), urlFor(tc.host)), tc)

			// Through CheckAddr, for the spellings netip accepts.
			if a, err := netip.ParseAddr(tc.host); err == nil {
				checkResult(t, "CheckAddr("+tc.host+")", g.CheckAddr(a), tc)
			}
		})
	}
}

// TestAddressTableDevelopment runs the same table with AllowLoopback: only
// addresses that are themselves loopback (127/8, ::1, IPv4-mapped 127/8)
// become allowed. Loopback carried inside 6to4, NAT64, Teredo or the
// deprecated forms stays refused: those packets go to a relay or a
// translator, not to this host.
func TestAddressTableDevelopment(t *testing.T) {
	t.Parallel()
	for _, tc := range addrCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := New(Options{AllowLoopback: true, Resolver: noLookups{t}})
			h, e := parseHost(tc.host)
			if e != nil || h.kind != hostIP {
				t.Fatalf("parseHost(%q) = %+v, %v; want an IP", tc.host, h, e)
			}
			want := tc
			if h.addr.Zone() == "" && h.addr.Unmap().IsLoopback() {
				want.cat, want.rng = "", ""
			}
			checkResult(t, "dev CheckAddr("+tc.host+")", g.CheckAddr(h.addr), want)
		})
	}
}

func checkResult(t *testing.T, what string, err error, want addrCase) {
	t.Helper()
	if want.cat == "" {
		if err != nil {
			t.Errorf("%s = %v; want allowed", what, err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s = %v; want *Error (%s %s)", what, err, want.cat, want.rng)
	}
	if !errors.Is(err, ErrBlocked) {
		t.Errorf("%s: errors.Is(err, ErrBlocked) = false", what)
	}
	gotRange := ""
	if e.Range.IsValid() {
		gotRange = e.Range.String()
	}
	if e.Category != want.cat || gotRange != want.rng {
		t.Errorf("%s = %q (category %q, range %q); want category %q, range %q",
			what, err, e.Category, gotRange, want.cat, want.rng)
	}
	if want.rng != "" && !strings.Contains(e.Error(), string(want.cat)+" address ("+want.rng+")") {
		t.Errorf("%s message %q does not name category and range", what, err)
	}
}

func TestMessages(t *testing.T) {
	t.Parallel()
	g := New(Options{})
	for addr, want := range map[string]string{
		"10.0.0.1":        "destination resolves to a private address (10.0.0.0/8)",
		"127.0.0.1":       "destination resolves to a loopback address (127.0.0.0/8)",
		"::":              "destination resolves to an unspecified address (::/128)",
		"192.0.0.9":       "destination resolves to an IETF protocol assignment address (192.0.0.0/24)",
		"100.64.1.1":      "destination resolves to a carrier-grade NAT address (100.64.0.0/10)",
		"169.254.169.254": "destination resolves to a cloud metadata address (169.254.169.254/32)",
		"fe80::1%eth0":    "destination is a zoned IPv6 address (fe80::1%eth0)",
	} {
		if got := g.CheckAddr(netip.MustParseAddr(addr)); got == nil || got.Error() != want {
			t.Errorf("CheckAddr(%s) = %v; want %q", addr, got, want)
		}
	}
	if err := g.CheckAddr(netip.Addr{}); !errors.Is(err, ErrBlocked) {
		t.Errorf("CheckAddr(zero Addr) = %v; want a refusal", err)
	}
}

// TestTableCoversIPv6 checks the deny-by-default claim of ranges.go: the
// IPv6 rows leave no part of the address space unmatched, so the fail-closed
// branch of classify is unreachable.
func TestTableCoversIPv6(t *testing.T) {
	t.Parallel()
	for first := 0; first < 0x10000; first += 0x40 { // every /10
		var b [16]byte
		b[0], b[1] = byte(first>>8), byte(first)
		a := netip.AddrFrom16(b)
		found := false
		for _, r := range v6Rows {
			// Only rows at least as wide as the /10 can cover all of it.
			if r.prefix.Bits() <= 10 && r.prefix.Contains(a) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no IPv6 row contains %s", a)
		}
	}
}

func TestParseIPv4Loose(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"1.2.3.4":           "1.2.3.4",
		"1.2.3":             "1.2.0.3",
		"1.65535":           "1.0.255.255",
		"1.16777215":        "1.255.255.255",
		"4294967295":        "255.255.255.255",
		"0xffffffff":        "255.255.255.255",
		"037777777777":      "255.255.255.255",
		"00000000000000010": "0.0.0.8",
		"0x0000000000001":   "0.0.0.1",
	} {
		got, ok := parseIPv4Loose(in)
		if !ok || got.String() != want {
			t.Errorf("parseIPv4Loose(%q) = %v, %v; want %s", in, got, ok, want)
		}
	}
	for _, in := range []string{
		"", "1.2.3.4.5", "256.1.1.1", "1.256.1.1", "1.2.65536", "1.16777216", "4294967296",
		"0x100000000", "08", "0x1g", "1..2", "1.2.3.", ".1.2.3", "99999999999999999999", "1.2.3.-4",
	} {
		if got, ok := parseIPv4Loose(in); ok {
			t.Errorf("parseIPv4Loose(%q) = %v; want failure", in, got)
		}
	}
}
