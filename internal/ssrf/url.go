package ssrf

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxURLLength is the longest endpoint URL accepted, in characters (SPEC §4).
const MaxURLLength = 2048

// CheckURL is the early check of an endpoint URL at creation and update. It
// returns nil or an *Error whose message can be shown to the user.
//
// Rules: at most MaxURLLength characters, valid UTF-8 without whitespace;
// absolute; scheme https (http too with AllowLoopback); the default port (no
// port, or 443; any port with AllowLoopback); no userinfo; no fragment; a
// host that is an IP literal or a fully qualified DNS name in ASCII.
//
// Fragments are refused rather than stripped: they are never sent to the
// receiver, so a URL with one does not mean what its author thinks, and
// silently storing a different URL than the one typed would surprise them.
//
// Non-ASCII hosts are refused (write the xn-- form): the HTTP client maps
// Unicode hosts through IDNA, which folds e.g. fullwidth characters to
// ASCII, and checking a different string than the one that is dialled is
// exactly how SSRF checks get bypassed. The dial-time check sees the mapped
// result anyway; this keeps the early check honest.
//
// Host names: localhost and *.localhost are refused by name without a lookup
// (RFC 6761 reserves them for loopback). A host whose last label is numeric
// is an IPv4 address in the liberal inet_aton syntax that browsers, curl and
// libc accept (127.1, 2130706433, 0x7f.1, 0177.0.0.1) and is checked as that
// address; if it does not parse it is refused. Any other name must contain
// a dot and is resolved; every address it resolves to must be allowed.
//
// A name that does not resolve yields an *Error that wraps the resolver's
// error and does not match ErrBlocked: the host may simply not exist yet,
// or DNS may be failing for a moment.
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	if err := g.checkURL(ctx, raw); err != nil {
		return err
	}
	return nil
}

func (g *Guard) checkURL(ctx context.Context, raw string) *Error {
	if raw == "" {
		return refusal("url is required")
	}
	if !utf8.ValidString(raw) {
		return refusal("url must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(raw); n > MaxURLLength {
		return refusal("url must be at most %d characters (it has %d)", MaxURLLength, n)
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return refusal("url must not contain whitespace or control characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return refusal("url is not valid: %s", urlErrorText(err))
	}
	if u.Scheme == "" {
		return refusal("url must be absolute and start with https://")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && g.allowLoopback:
	case g.allowLoopback:
		return refusal("url must use http or https")
	default:
		return refusal("url must use https")
	}
	if u.Opaque != "" {
		return refusal("url must be absolute (%s://host/path)", u.Scheme)
	}
	if u.User != nil {
		return refusal("url must not contain a username or password")
	}
	// url.Parse drops an empty fragment ("https://x/#"), so look at the text.
	if strings.Contains(raw, "#") {
		return refusal("url must not contain a fragment (#...): fragments are never sent to the receiver")
	}
	host := u.Hostname()
	if host == "" {
		return refusal("url must have a host")
	}
	if e := g.checkPort(u.Port()); e != nil {
		return e
	}

	h, e := parseHost(host)
	if e != nil {
		return e
	}
	switch h.kind {
	case hostIP:
		return g.checkAddr(h.addr)
	case hostLocalhost:
		if g.allowLoopback {
			return nil
		}
		return localhostRefusal(h.name)
	}
	if !strings.Contains(h.name, ".") {
		return refusal("url host %q must be a fully qualified domain name", shorten(h.name))
	}
	addrs, err := g.lookup(ctx, "ip", h.name+".")
	if err != nil {
		return &Error{Reason: "url host " + h.name + " could not be resolved", Err: err}
	}
	if len(addrs) == 0 {
		return &Error{Reason: "url host " + h.name + " could not be resolved", Err: errNoAddresses}
	}
	if e := g.checkAll(addrs); e != nil {
		return e
	}
	return nil
}

var errNoAddresses = errors.New("no addresses found")

// checkPort applies the URL port rule: the default https port only, unless
// in development.
func (g *Guard) checkPort(port string) *Error {
	if port == "" {
		return nil
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return refusal("url port %q is not valid", shorten(port))
	}
	if g.allowLoopback || port == "443" {
		return nil
	}
	return refusal("url must use the default https port (443), not %s", port)
}

// checkAll refuses a set of resolved addresses if any one of them is
// refused. Taking the good ones and dropping the rest would let a name
// alternate between them; a name that answers an internal address is
// misconfigured or hostile either way.
func (g *Guard) checkAll(addrs []netip.Addr) *Error {
	for _, a := range addrs {
		if e := g.checkAddr(a); e != nil {
			return e
		}
	}
	return nil
}

// shorten keeps a user-supplied string that is echoed in a message to a
// readable length; URLs may be 2048 characters long.
func shorten(s string) string { return truncate(s, 64) }

func truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	return string([]rune(s)[:limit]) + "…"
}

func localhostRefusal(name string) *Error {
	return &Error{
		Category: CategoryLoopback,
		Reason:   "destination " + shorten(name) + " is a loopback name (RFC 6761)",
	}
}

// urlErrorText drops the "parse <url>:" prefix of *url.Error: the user has
// the URL in front of them, and it can be 2 KB long.
func urlErrorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return truncate(err.Error(), 160)
}

type hostKind uint8

const (
	hostName hostKind = iota
	hostIP
	hostLocalhost
)

type parsedHost struct {
	kind hostKind
	addr netip.Addr // hostIP
	name string     // hostName, hostLocalhost: lower case, no trailing dot
}

// parseHost decides what a URL host (brackets removed, percent-decoded) or
// a dial address host denotes. It is shared by CheckURL and the dialer so
// that both read a host the same way.
func parseHost(host string) (parsedHost, *Error) {
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return parsedHost{}, refusal("url host %q is not a valid IPv6 address", shorten(host))
		}
		return parsedHost{kind: hostIP, addr: a}, nil
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= utf8.RuneSelf {
			return parsedHost{}, refusal("url host %q must be ASCII (use its xn-- punycode form)", shorten(host))
		}
	}
	name := strings.ToLower(host)
	// One trailing dot is the fully qualified spelling of the same name
	// ("localhost.", "127.0.0.1."); WHATWG URL parsing drops it the same way.
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return parsedHost{}, refusal("url must have a host")
	}
	if endsInNumber(name) {
		a, ok := parseIPv4Loose(name)
		if !ok {
			return parsedHost{}, refusal("url host %q looks like an IPv4 address but is not a valid one", shorten(host))
		}
		return parsedHost{kind: hostIP, addr: a}, nil
	}
	if !validName(name) {
		return parsedHost{}, refusal("url host %q is not a valid host name", shorten(host))
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return parsedHost{kind: hostLocalhost, name: name}, nil
	}
	return parsedHost{kind: hostName, name: name}, nil
}

// endsInNumber reports whether the last label of name is a number in the
// sense of the WHATWG URL standard (decimal digits, or 0x followed by hex
// digits). Such a host is an IPv4 address to browsers, curl and
// getaddrinfo, whatever DNS might say, so it must be read as one here.
func endsInNumber(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.IndexFunc(rest, func(r rune) bool { return !isHex(r) }) < 0
	}
	return strings.IndexFunc(last, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

func isHex(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'
}

// parseIPv4Loose parses the inet_aton(3) forms of an IPv4 address: one to
// four dot-separated parts, each decimal, octal (leading 0) or hexadecimal
// (leading 0x, an empty 0x meaning 0, as in WHATWG); the last part fills all
// remaining bytes. s must already be lower case.
func parseIPv4Loose(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals [4]uint64
	for i, part := range parts {
		v, ok := parseIPv4Part(part)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	n := len(parts)
	for _, v := range vals[:n-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
	}
	if vals[n-1] >= 1<<(8*(5-n)) {
		return netip.Addr{}, false
	}
	ip := vals[n-1]
	for i, v := range vals[:n-1] {
		ip |= v << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}), true
}

func parseIPv4Part(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := uint64(10)
	switch {
	case strings.HasPrefix(s, "0x"):
		base, s = 16, s[2:]
		if s == "" {
			return 0, true
		}
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	}
	var v uint64
	for _, c := range []byte(s) {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		v = v*base + d
		// Stop before overflow; anything above 32 bits is invalid anyway.
		if v > 0xffffffff {
			return 0, false
		}
	}
	return v, true
}

// validName checks DNS name syntax: dot-separated labels of 1 to 63
// letters, digits, hyphens or underscores, 253 characters at most.
func validName(name string) bool {
	if len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
