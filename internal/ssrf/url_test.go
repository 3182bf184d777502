package ssrf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// fakeResolver answers from a fixed map (names fully qualified, as the
// Guard asks for them) or from answer, and records every lookup.
type fakeResolver struct {
	mu      sync.Mutex
	lookups []string // "network host"
	names   map[string][]string
	answer  func(call int, host string) ([]netip.Addr, error)
}

func (r *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.lookups = append(r.lookups, network+" "+host)
	call := len(r.lookups)
	r.mu.Unlock()
	if r.answer != nil {
		return r.answer(call, host)
	}
	texts, ok := r.names[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	addrs := make([]netip.Addr, len(texts))
	for i, s := range texts {
		addrs[i] = netip.MustParseAddr(s)
	}
	return addrs, nil
}

func (r *fakeResolver) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lookups...)
}

func testNames() map[string][]string {
	return map[string][]string{
		"example.com.":           {"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"},
		"hooks.example.com.":     {"93.184.216.34"},
		"xn--bcher-kva.example.": {"93.184.216.34"},
		"internal.example.com.":  {"10.0.0.5"},
		"mixed.example.com.":     {"93.184.216.34", "10.0.0.5"},
		"mapped.example.com.":    {"::ffff:127.0.0.1"},
		"imds.example.com.":      {"169.254.169.254"},
		"127.0.0.1.nip.io.":      {"127.0.0.1"},
		"empty.example.com.":     {},
	}
}

func TestCheckURLRules(t *testing.T) {
	t.Parallel()
	const base = "https://example.com/"
	longOK := base + strings.Repeat("a", MaxURLLength-len(base))
	tests := []struct {
		name string
		dev  bool
		url  string
		want string // "" = accepted; otherwise a substring of the message
	}{
		{"https", false, "https://example.com/webhooks/hookrelay", ""},
		{"https with query", false, "https://example.com/hook?team=1&x=%20", ""},
		{"upper-case scheme and host", false, "HTTPS://EXAMPLE.COM/hook", ""},
		{"explicit 443", false, "https://example.com:443/hook", ""},
		{"empty port means default", false, "https://example.com:/hook", ""},
		{"trailing-dot name", false, "https://example.com./hook", ""},
		{"punycode name", false, "https://xn--bcher-kva.example/", ""},
		{"public IPv4 literal", false, "https://93.184.216.34/hook", ""},
		{"public IPv6 literal", false, "https://[2606:4700:4700::1111]/hook", ""},
		{"length 2048", false, longOK, ""},

		{"length 2049", false, longOK + "a", "at most 2048 characters"},
		{"empty", false, "", "url is required"},
		{"http", false, "http://example.com/hook", "url must use https"},
		{"ftp", false, "ftp://example.com/hook", "url must use https"},
		{"javascript", false, "javascript:alert(1)", "url must use https"},
		{"no scheme", false, "//example.com/hook", "absolute"},
		{"relative", false, "/hook", "absolute"},
		{"opaque", false, "https:example.com", "absolute"},
		{"port 8443", false, "https://example.com:8443/hook", "default https port"},
		{"port 80", false, "https://example.com:80/hook", "default https port"},
		{"port 0443", false, "https://example.com:0443/hook", "default https port"},
		{"port out of range", false, "https://example.com:70000/", "port"},
		{"port on IP literal", false, "https://93.184.216.34:8080/", "default https port"},
		{"userinfo user", false, "https://user@example.com/hook", "username or password"},
		{"userinfo user and password", false, "https://user:pass@example.com/hook", "username or password"},
		{"userinfo empty", false, "https://@example.com/hook", "username or password"},
		{"fragment", false, "https://example.com/hook#x", "fragment"},
		{"empty fragment", false, "https://example.com/hook#", "fragment"},
		{"empty host", false, "https:///hook", "must have a host"},
		{"host only colon", false, "https://:443/hook", "must have a host"},
		{"whitespace", false, "https://example.com/ hook", "whitespace"},
		{"invalid UTF-8", false, "https://example.com/\xff", "UTF-8"},
		{"non-ASCII host", false, "https://bücher.example/", "ASCII"},
		{"fullwidth localhost", false, "https://ｌｏｃａｌｈｏｓｔ/", "ASCII"},
		{"single label", false, "https://intranet/hook", "fully qualified"},
		{"bad host character", false, "https://exa$mple.com/", "not a valid host name"},
		{"numeric last label", false, "https://example.123/", "not a valid one"},
		{"IPv4 out of range", false, "https://1.2.3.999/", "not a valid one"},
		{"bad octal", false, "https://08.0.0.1/", "not a valid one"},
		{"bad IPv6", false, "https://[1::2::3]/", "not valid"},
		{"private IP literal", false, "https://10.0.0.1/", "private address (10.0.0.0/8)"},
		{"IPv6 loopback literal", false, "https://[::1]/", "loopback address (::1/128)"},
		{"IPv6 zone", false, "https://[fe80::1%25eth0]/", "zoned IPv6"},
		{"localhost", false, "https://localhost/hook", "loopback name"},
		{"LOCALHOST", false, "https://LOCALHOST/hook", "loopback name"},
		{"localhost trailing dot", false, "https://localhost./hook", "loopback name"},
		{"sub.localhost", false, "https://api.localhost/hook", "loopback name"},
		{"name to private", false, "https://internal.example.com/", "private address (10.0.0.0/8)"},
		{"name to public and private", false, "https://mixed.example.com/", "private address (10.0.0.0/8)"},
		{"name to mapped loopback", false, "https://mapped.example.com/", "loopback address (127.0.0.0/8)"},
		{"name to metadata", false, "https://imds.example.com/", "cloud metadata address (169.254.169.254/32)"},
		{"nip.io loopback", false, "https://127.0.0.1.nip.io/", "loopback address (127.0.0.0/8)"},
		{"http loopback in production", false, "http://127.0.0.1:8080/", "url must use https"},
		{"https loopback in production", false, "https://127.0.0.1/", "loopback address"},

		{"dev http loopback with port", true, "http://127.0.0.1:9000/hook", ""},
		{"dev http IPv6 loopback", true, "http://[::1]:9000/hook", ""},
		{"dev http localhost", true, "http://localhost:9000/hook", ""},
		{"dev numeric loopback", true, "http://127.1:9000/", ""},
		{"dev https other port", true, "https://example.com:8443/", ""},
		{"dev private still refused", true, "http://10.0.0.1/", "private address (10.0.0.0/8)"},
		{"dev private with port", true, "http://192.168.1.10:8080/", "private address (192.168.0.0/16)"},
		{"dev metadata still refused", true, "http://169.254.169.254/latest/meta-data", "cloud metadata address"},
		{"dev unspecified still refused", true, "http://0.0.0.0:9000/", "unspecified address"},
		{"dev 6to4 loopback still refused", true, "http://[2002:7f00:1::]:9000/", "loopback address (127.0.0.0/8)"},
		{"dev ftp", true, "ftp://127.0.0.1/", "url must use http or https"},
		{"dev port zero", true, "http://127.0.0.1:0/", "port"},
		{"dev userinfo", true, "http://u:p@127.0.0.1:9000/", "username or password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := New(Options{AllowLoopback: tc.dev, Resolver: &fakeResolver{names: testNames()}})
			err := g.CheckURL(context.Background(), tc.url)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v; want accepted", tc.url, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckURL(%q) accepted; want %q", tc.url, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckURL(%q) = %q; want it to contain %q", tc.url, err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrBlocked) {
				t.Errorf("CheckURL(%q) = %#v; want an *Error matching ErrBlocked", tc.url, err)
			}
		})
	}
}

// Localhost names are refused by name: the resolver is never asked, so a
// hostile /etc/hosts or DNS answer cannot matter.
func TestCheckURLLocalhostNotResolved(t *testing.T) {
	t.Parallel()
	for _, dev := range []bool{false, true} {
		g := New(Options{AllowLoopback: dev, Resolver: noLookups{t}})
		for _, u := range []string{"https://localhost/", "https://LocalHost./", "https://a.b.localhost/"} {
			err := g.CheckURL(context.Background(), u)
			if dev && err != nil || !dev && !errors.Is(err, ErrBlocked) {
				t.Errorf("dev=%v CheckURL(%q) = %v", dev, u, err)
			}
		}
	}
}

// The resolver gets the name fully qualified, so search domains never apply.
func TestCheckURLResolvesFullyQualified(t *testing.T) {
	t.Parallel()
	r := &fakeResolver{names: testNames()}
	g := New(Options{Resolver: r})
	if err := g.CheckURL(context.Background(), "https://Hooks.Example.com/x"); err != nil {
		t.Fatal(err)
	}
	if got := r.calls(); len(got) != 1 || got[0] != "ip hooks.example.com." {
		t.Errorf("lookups = %q; want [\"ip hooks.example.com.\"]", got)
	}
}

// A host that does not resolve is reported, but not as a refusal: DNS may
// be failing for a moment, and the dispatcher must not treat it as final.
func TestCheckURLResolutionFailure(t *testing.T) {
	t.Parallel()
	g := New(Options{Resolver: &fakeResolver{names: testNames()}})
	for _, u := range []string{"https://nxdomain.example.com/", "https://empty.example.com/"} {
		err := g.CheckURL(context.Background(), u)
		var e *Error
		if !errors.As(err, &e) || e.Err == nil {
			t.Fatalf("CheckURL(%q) = %#v; want *Error with Err", u, err)
		}
		if errors.Is(err, ErrBlocked) {
			t.Errorf("CheckURL(%q): resolution failure matches ErrBlocked", u)
		}
		if !strings.Contains(err.Error(), "could not be resolved") {
			t.Errorf("CheckURL(%q) = %q", u, err)
		}
	}
	var dnsErr *net.DNSError
	if err := g.CheckURL(context.Background(), "https://nxdomain.example.com/"); !errors.As(err, &dnsErr) {
		t.Errorf("CheckURL error %v does not unwrap to the resolver's *net.DNSError", err)
	}
}
