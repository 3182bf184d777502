package ssrf

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrBlocked matches (with errors.Is) every refusal made by this package:
// a URL that breaks a rule, an address in a refused range, a dial to a
// refused port. It still matches when the refusal comes back from the HTTP
// client wrapped in *url.Error and *net.OpError, so the dispatcher can treat
// a refusal as permanent instead of retrying a request that can never be
// allowed.
var ErrBlocked = errors.New("ssrf: destination refused")

// Category names the kind of range an address was refused for. Its value is
// the word used in messages ("a private address").
type Category string

// The categories. Most come straight from the IANA special-purpose
// registries (see ranges.go); the embedding forms (Teredo, NAT64 local-use,
// IPv4-compatible, IPv4-translated) are categories of their own because they
// are refused even when the address they carry is public.
const (
	CategoryLoopback       Category = "loopback"
	CategoryPrivate        Category = "private"
	CategoryLinkLocal      Category = "link-local"
	CategoryCGNAT          Category = "carrier-grade NAT"
	CategoryMetadata       Category = "cloud metadata"
	CategoryMulticast      Category = "multicast"
	CategoryUnspecified    Category = "unspecified"
	CategoryBroadcast      Category = "broadcast"
	CategoryReserved       Category = "reserved"
	CategoryBenchmarking   Category = "benchmarking"
	CategoryDocumentation  Category = "documentation"
	CategoryProtocol       Category = "IETF protocol assignment"
	CategoryRelayAnycast   Category = "6to4 relay anycast"
	CategoryAnycast        Category = "special-purpose anycast"
	CategoryDiscard        Category = "discard-only"
	CategoryORCHID         Category = "ORCHID"
	CategorySiteLocal      Category = "site-local"
	CategoryTeredo         Category = "Teredo"
	CategoryNAT64Local     Category = "local-use NAT64"
	CategoryIPv4Compatible Category = "IPv4-compatible"
	CategoryIPv4Translated Category = "IPv4-translated"
	CategoryZoned          Category = "zoned IPv6"
)

// Error describes why a URL or an address was refused.
//
// For an address refusal Addr is the address as written or resolved, Range
// the range it fell in and Category that range's kind. For an address that
// embeds an IPv4 address (IPv4-mapped, 6to4, NAT64, Teredo, ...) and was
// refused because of it, Range and Category are those of the embedded IPv4
// address while Addr stays the original. For URL rule refusals only Reason is
// set.
type Error struct {
	Addr     netip.Addr
	Range    netip.Prefix
	Category Category
	// Reason is the complete human-readable message; the API shows it to
	// the user as is.
	Reason string
	// Err is set only when the check could not be completed at all (the
	// URL's host did not resolve). Such an Error is not a refusal: it does
	// not match ErrBlocked, because a DNS failure may be temporary, and it
	// unwraps to the resolver's error.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

// Unwrap returns the resolver failure, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is ErrBlocked and e is a refusal.
func (e *Error) Is(target error) bool { return target == ErrBlocked && e.Err == nil }

// refusal returns a rule refusal with a formatted reason.
func refusal(format string, args ...any) *Error {
	return &Error{Reason: fmt.Sprintf(format, args...)}
}

// rangeRefusal returns the refusal of a, which lies in r of category c.
func rangeRefusal(a netip.Addr, r netip.Prefix, c Category) *Error {
	return &Error{
		Addr:     a,
		Range:    r,
		Category: c,
		Reason:   fmt.Sprintf("destination resolves to %s %s address (%s)", article(c), c, r),
	}
}

// article picks "a" or "an" for a category; every category that takes "an"
// starts with a written vowel ("an unspecified", "an IETF", "an ORCHID").
func article(c Category) string {
	if c != "" {
		switch c[0] {
		case 'a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U':
			return "an"
		}
	}
	return "a"
}
