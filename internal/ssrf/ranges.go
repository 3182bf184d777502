package ssrf

import (
	"cmp"
	"net/netip"
	"slices"
)

// This file is the policy: which destination addresses a delivery may
// connect to. It is one table so that it can be reviewed against its
// sources in one sitting:
//
//   - IANA IPv4 Special-Purpose Address Registry
//     https://www.iana.org/assignments/iana-ipv4-special-registry/
//   - IANA IPv6 Special-Purpose Address Registry
//     https://www.iana.org/assignments/iana-ipv6-special-registry/
//   - IANA IPv4 Multicast Address Space Registry and the IANA IPv6 Address
//     Space Registry, for multicast and for the IPv6 blocks that are not
//     allocated at all.
//
// The rules of the table:
//
//   - The longest matching prefix decides, so a specific row (e.g. the
//     cloud metadata /32) wins over the block that contains it.
//   - IPv4 is allow-by-exception: every IPv4 /8 is allocated unicast except
//     what is listed, so 0.0.0.0/0 is allowed and the refused blocks are
//     listed under it.
//   - IPv6 is deny-by-default: only 2000::/3 (Global Unicast) is allocated,
//     so that is the one allowed block; every other IANA block is listed as
//     refused, and the table covers the whole IPv6 space. An address that
//     matched nothing would be refused too (classify fails closed).
//   - A row with an embedding kind carries IPv4 addresses inside its IPv6
//     addresses. The embedded addresses are checked first and a refused one
//     decides the result (so ::ffff:10.0.0.1 reads "private (10.0.0.0/8)").
//     If they are all public, the row's own action applies: allowed for
//     IPv4-mapped, well-known NAT64 and 6to4, whose public embeddings are
//     ordinary reachable hosts; refused for the forms that are deprecated,
//     local or relay-dependent.
//   - Where IANA marks an entry globally reachable but it is shared
//     infrastructure that never hosts a webhook receiver (AS112, AMT,
//     ORCHIDv2, the anycast /32s inside 192.0.0.0/24 and 2001::/23) it is
//     refused anyway: being stricter than the registry costs nothing here.
//   - Cloud metadata addresses are already inside refused ranges; they have
//     rows of their own only so that the message says what they are.

// action is what happens to an address matched by a row (after any embedded
// IPv4 address has been checked).
type action uint8

const (
	refuse action = iota
	allow
)

// embedding says where an IPv6 row carries IPv4 addresses.
type embedding uint8

const (
	embedNone   embedding = iota
	embedLow32            // the last 32 bits (IPv4-mapped, -compatible, -translated, NAT64 /96)
	embed6to4             // bits 16..47 (RFC 3056 §2)
	embedTeredo           // server in bits 32..63, client in bits 96..127 inverted (RFC 4380 §4)
)

type row struct {
	prefix netip.Prefix
	cat    Category
	act    action
	embed  embedding
}

func cidr(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// table is the policy. Keep one row per registry entry, with the RFC that
// defines it.
var table = []row{
	// ---------------------------------------------------------------- IPv4
	{cidr("0.0.0.0/0"), "", allow, embedNone},                           // all allocated unicast (IANA IPv4 Address Space Registry)
	{cidr("0.0.0.0/8"), CategoryUnspecified, refuse, embedNone},         // "This network", RFC 791 §3.2; 0.0.0.0/32 "this host", RFC 1122 §3.2.1.3
	{cidr("10.0.0.0/8"), CategoryPrivate, refuse, embedNone},            // Private-Use, RFC 1918
	{cidr("100.64.0.0/10"), CategoryCGNAT, refuse, embedNone},           // Shared Address Space, RFC 6598
	{cidr("100.100.100.200/32"), CategoryMetadata, refuse, embedNone},   // Alibaba Cloud metadata service (vendor documentation; inside RFC 6598)
	{cidr("127.0.0.0/8"), CategoryLoopback, refuse, embedNone},          // Loopback, RFC 1122 §3.2.1.3
	{cidr("169.254.0.0/16"), CategoryLinkLocal, refuse, embedNone},      // Link Local, RFC 3927
	{cidr("169.254.169.254/32"), CategoryMetadata, refuse, embedNone},   // AWS/GCP/Azure/OCI/DigitalOcean metadata service (vendor documentation; inside RFC 3927)
	{cidr("169.254.170.2/32"), CategoryMetadata, refuse, embedNone},     // AWS ECS task metadata and credentials (vendor documentation; inside RFC 3927)
	{cidr("172.16.0.0/12"), CategoryPrivate, refuse, embedNone},         // Private-Use, RFC 1918
	{cidr("192.0.0.0/24"), CategoryProtocol, refuse, embedNone},         // IETF Protocol Assignments, RFC 6890 §2.1 (incl. 192.0.0.0/29 RFC 7335, .8 RFC 7600, .9 RFC 7723, .10 RFC 8155, .170-.171 RFC 8880)
	{cidr("192.0.2.0/24"), CategoryDocumentation, refuse, embedNone},    // Documentation (TEST-NET-1), RFC 5737
	{cidr("192.31.196.0/24"), CategoryAnycast, refuse, embedNone},       // AS112-v4, RFC 7535
	{cidr("192.52.193.0/24"), CategoryAnycast, refuse, embedNone},       // AMT, RFC 7450
	{cidr("192.88.99.0/24"), CategoryRelayAnycast, refuse, embedNone},   // Deprecated (6to4 Relay Anycast), RFC 7526 (incl. 192.88.99.2/32 6a44 relay, RFC 6751)
	{cidr("192.168.0.0/16"), CategoryPrivate, refuse, embedNone},        // Private-Use, RFC 1918
	{cidr("192.175.48.0/24"), CategoryAnycast, refuse, embedNone},       // Direct Delegation AS112 Service, RFC 7534
	{cidr("198.18.0.0/15"), CategoryBenchmarking, refuse, embedNone},    // Benchmarking, RFC 2544
	{cidr("198.51.100.0/24"), CategoryDocumentation, refuse, embedNone}, // Documentation (TEST-NET-2), RFC 5737
	{cidr("203.0.113.0/24"), CategoryDocumentation, refuse, embedNone},  // Documentation (TEST-NET-3), RFC 5737
	{cidr("224.0.0.0/4"), CategoryMulticast, refuse, embedNone},         // Multicast, RFC 5771 (IANA IPv4 Multicast Address Space Registry)
	{cidr("240.0.0.0/4"), CategoryReserved, refuse, embedNone},          // Reserved, RFC 1112 §4
	{cidr("255.255.255.255/32"), CategoryBroadcast, refuse, embedNone},  // Limited Broadcast, RFC 8190, RFC 919 §7

	// ---------------------------------------------------------------- IPv6
	// IANA IPv6 Address Space Registry: 2000::/3 is the only Global Unicast
	// block; the rest is "Reserved by IETF" (RFC 4291) unless listed below.
	{cidr("2000::/3"), "", allow, embedNone},                         // Global Unicast, RFC 4291
	{cidr("::/8"), CategoryReserved, refuse, embedNone},              // Reserved by IETF, RFC 4291
	{cidr("100::/8"), CategoryReserved, refuse, embedNone},           // Reserved by IETF, RFC 4291
	{cidr("200::/7"), CategoryReserved, refuse, embedNone},           // Reserved by IETF, RFC 4048
	{cidr("400::/6"), CategoryReserved, refuse, embedNone},           // Reserved by IETF, RFC 4291
	{cidr("800::/5"), CategoryReserved, refuse, embedNone},           // Reserved by IETF, RFC 4291
	{cidr("1000::/4"), CategoryReserved, refuse, embedNone},          // Reserved by IETF, RFC 4291
	{cidr("4000::/3"), CategoryReserved, refuse, embedNone},          // Reserved by IETF, RFC 4291
	{cidr("6000::/3"), CategoryReserved, refuse, embedNone},          // Reserved by IETF, RFC 4291
	{cidr("8000::/3"), CategoryReserved, refuse, embedNone},          // Reserved by IETF, RFC 4291
	{cidr("a000::/3"), CategoryReserved, refuse, embedNone},          // Reserved by IETF, RFC 4291
	{cidr("c000::/3"), CategoryReserved, refuse, embedNone},          // Reserved by IETF, RFC 4291
	{cidr("e000::/4"), CategoryReserved, refuse, embedNone},          // Reserved by IETF, RFC 4291
	{cidr("f000::/5"), CategoryReserved, refuse, embedNone},          // Reserved by IETF, RFC 4291
	{cidr("f800::/6"), CategoryReserved, refuse, embedNone},          // Reserved by IETF, RFC 4291
	{cidr("fc00::/7"), CategoryPrivate, refuse, embedNone},           // Unique-Local, RFC 4193, RFC 8190
	{cidr("fd00:ec2::254/128"), CategoryMetadata, refuse, embedNone}, // AWS EC2 metadata service over IPv6 (vendor documentation; inside RFC 4193)
	{cidr("fe00::/9"), CategoryReserved, refuse, embedNone},          // Reserved by IETF, RFC 4291
	{cidr("fe80::/10"), CategoryLinkLocal, refuse, embedNone},        // Link-Local Unicast, RFC 4291
	{cidr("fec0::/10"), CategorySiteLocal, refuse, embedNone},        // Site-local (deprecated), RFC 3879
	{cidr("ff00::/8"), CategoryMulticast, refuse, embedNone},         // Multicast, RFC 4291

	// IANA IPv6 Special-Purpose Address Registry.
	{cidr("::/128"), CategoryUnspecified, refuse, embedNone},              // Unspecified Address, RFC 4291
	{cidr("::1/128"), CategoryLoopback, refuse, embedNone},                // Loopback Address, RFC 4291
	{cidr("::/96"), CategoryIPv4Compatible, refuse, embedLow32},           // IPv4-Compatible IPv6 Address (deprecated), RFC 4291 §2.5.5.1
	{cidr("::ffff:0:0/96"), "", allow, embedLow32},                        // IPv4-mapped Address, RFC 4291 §2.5.5.2: it is the IPv4 address
	{cidr("::ffff:0:0:0/96"), CategoryIPv4Translated, refuse, embedLow32}, // IPv4-translated Address (SIIT), RFC 2765 §2.1
	{cidr("64:ff9b::/96"), "", allow, embedLow32},                         // IPv4-IPv6 Translation (well-known NAT64 prefix), RFC 6052
	{cidr("64:ff9b:1::/48"), CategoryNAT64Local, refuse, embedLow32},      // IPv4-IPv6 Translation (local-use NAT64), RFC 8215; see note in classify
	{cidr("100::/64"), CategoryDiscard, refuse, embedNone},                // Discard-Only Address Block, RFC 6666
	{cidr("100:0:0:1::/64"), CategoryReserved, refuse, embedNone},         // Dummy IPv6 Prefix, RFC 9780
	{cidr("2001::/23"), CategoryProtocol, refuse, embedNone},              // IETF Protocol Assignments, RFC 2928 (incl. 2001:1::1-3 RFC 7723/8155/9665, 2001:30::/28 RFC 9374)
	{cidr("2001::/32"), CategoryTeredo, refuse, embedTeredo},              // TEREDO, RFC 4380, RFC 8190
	{cidr("2001:2::/48"), CategoryBenchmarking, refuse, embedNone},        // Benchmarking, RFC 5180, RFC Errata 1752
	{cidr("2001:3::/32"), CategoryAnycast, refuse, embedNone},             // AMT, RFC 7450
	{cidr("2001:4:112::/48"), CategoryAnycast, refuse, embedNone},         // AS112-v6, RFC 7535
	{cidr("2001:10::/28"), CategoryORCHID, refuse, embedNone},             // Deprecated (previously ORCHID), RFC 4843
	{cidr("2001:20::/28"), CategoryORCHID, refuse, embedNone},             // ORCHIDv2, RFC 7343
	{cidr("2001:db8::/32"), CategoryDocumentation, refuse, embedNone},     // Documentation, RFC 3849
	{cidr("2002::/16"), "", allow, embed6to4},                             // 6to4, RFC 3056
	{cidr("2620:4f:8000::/48"), CategoryAnycast, refuse, embedNone},       // Direct Delegation AS112 Service, RFC 7534
	{cidr("3fff::/20"), CategoryDocumentation, refuse, embedNone},         // Documentation, RFC 9637
	{cidr("5f00::/16"), CategoryReserved, refuse, embedNone},              // Segment Routing (SRv6) SIDs, RFC 9602
}

// v4Rows and v6Rows are the table split by family and sorted longest prefix
// first, so that the first row containing an address is its best match.
var v4Rows, v6Rows = sortedRows()

func sortedRows() (v4, v6 []row) {
	for _, r := range table {
		if r.prefix != r.prefix.Masked() {
			panic("ssrf: table prefix " + r.prefix.String() + " has host bits set")
		}
		if r.prefix.Addr().Is4() {
			v4 = append(v4, r)
		} else {
			v6 = append(v6, r)
		}
	}
	longestFirst := func(a, b row) int { return cmp.Compare(b.prefix.Bits(), a.prefix.Bits()) }
	slices.SortStableFunc(v4, longestFirst)
	slices.SortStableFunc(v6, longestFirst)
	return v4, v6
}
