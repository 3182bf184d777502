package ssrf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// fakeDNS answers every query on a loopback UDP port with rcode (3:
// NXDOMAIN, 2: SERVFAIL) and no records.
func fakeDNS(t *testing.T, rcode byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			// Header and the question only: QNAME labels, QTYPE, QCLASS.
			end := 12
			for end < n && buf[end] != 0 {
				end += int(buf[end]) + 1
			}
			end += 5
			if n < 12 || end > n {
				continue
			}
			resp := append([]byte(nil), buf[:end]...)
			resp[2] = 0x80 | buf[2]&0x01 // QR, keep RD
			resp[3] = 0x80 | rcode       // RA, rcode
			for i := 6; i < 12; i++ {    // no answers, authorities or additionals
				resp[i] = 0
			}
			_, _ = pc.WriteTo(resp, addr)
		}
	}()
	return pc.LocalAddr().String()
}

// nameservers are the resolvers this machine is configured with, which Go's
// resolver names in its errors.
func nameservers() []string {
	b, _ := os.ReadFile("/etc/resolv.conf")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "nameserver" {
			out = append(out, f[1])
		}
	}
	return out
}

// TestResolverAddressNeverShown: when a host does not resolve, neither the
// creation-time check nor the dialer says which resolver was asked; the
// message still says what happened.
func TestResolverAddressNeverShown(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		rcode byte
		says  string
	}{
		{"NXDOMAIN", 3, "no such host"},
		{"SERVFAIL", 2, "lookup nope.example.com"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			server := fakeDNS(t, c.rcode)
			res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "udp", server)
			}}
			// First make sure Go's resolver itself names the server, so
			// that the checks below are not vacuous.
			_, raw := res.LookupNetIP(context.Background(), "ip", "nope.example.com.")
			if raw == nil || !strings.Contains(raw.Error(), " on ") {
				t.Fatalf("the resolver's own error %v names no server: this test would prove nothing", raw)
			}
			g := New(Options{Resolver: res})
			check := g.CheckURL(context.Background(), "https://nope.example.com/hook")
			_, dial := get(testContext(t), g.Client(2, 0), "https://nope.example.com/hook")
			for name, err := range map[string]error{"CheckURL": check, "dial": dial} {
				if err == nil {
					t.Fatalf("%s: no error", name)
				}
				msg := err.Error()
				hidden := append(nameservers(), server, strings.Split(server, ":")[0], " on ")
				for _, h := range hidden {
					if strings.Contains(msg, h) {
						t.Errorf("%s: %q shows %q", name, msg, h)
					}
				}
				if !strings.Contains(msg, c.says) {
					t.Errorf("%s: %q does not say %q", name, msg, c.says)
				}
				var de *net.DNSError
				if !errors.As(err, &de) || errors.Is(err, ErrBlocked) {
					t.Errorf("%s: %v is not a DNS error, or is a refusal", name, err)
				}
			}
		})
	}
}

// TestScrubDNSError covers what other resolvers put in their errors.
func TestScrubDNSError(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   error
		want string
	}{
		{&net.DNSError{Err: "no such host", Name: "a.example", Server: "10.0.0.2:53", IsNotFound: true}, "lookup a.example: no such host"},
		{&net.DNSError{Err: "i/o timeout", Name: "a.example", Server: "[fd00::53]:53", IsTimeout: true}, "lookup a.example: the name server did not answer in time"},
		{&net.DNSError{Err: "dial udp 10.0.0.2:53: connect: network is unreachable", Name: "a.example", Server: "10.0.0.2:53"}, "lookup a.example: the name server failed"},
		{&net.DNSError{Err: "read udp 10.1.1.1:4711->10.0.0.2:53: read: connection refused", Name: "a.example"}, "lookup a.example: the name server failed"},
		{&net.DNSError{Err: "server misbehaving", Name: "a.example", Server: "10.0.0.2:53"}, "lookup a.example: server misbehaving"},
		{errors.New("lookup a.example: no such host"), "lookup a.example: no such host"},
		{errors.New("resolver 192.168.1.1 unreachable"), "lookup a.example: the name server failed"},
	} {
		got := scrubDNSError(c.in, "a.example")
		if got.Error() != c.want || got.Server != "" {
			t.Errorf("scrub(%v) = %q (server %q), want %q", c.in, got.Error(), got.Server, c.want)
		}
	}
	if got := scrubDNSError(context.DeadlineExceeded, "a.example"); !errors.Is(got, context.DeadlineExceeded) || !got.IsTimeout {
		t.Errorf("a timed-out lookup lost its context error: %#v", got)
	}
	if hasAddress("lookup hooks.example.com: no such host") || !hasAddress("on 10.255.255.53:53:") || !netip.MustParseAddr("::1").IsValid() {
		t.Error("hasAddress")
	}
}
