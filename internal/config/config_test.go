package config

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args []string, env map[string]string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := Register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return c, Load(fs, c, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.Database != "hookrelay.db" || c.HeaderPrefix != "X-Hookrelay-" ||
		c.DeliveryTimeout != 30*time.Second || c.MaxInFlightPerEndpoint != 10 || c.Retention != 720*time.Hour ||
		c.DevAllowLocalhost || !c.API || !c.Dispatcher {
		t.Fatalf("defaults differ from SPEC §7: %+v", c)
	}
	want := []time.Duration{time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour}
	if len(c.RetryDelays) != 4 || c.RetryDelays[3] != want[3] {
		t.Fatalf("retry delays = %v", c.RetryDelays)
	}
}

func TestEnvAndFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"HOOKRELAY_ADDR":                       "0.0.0.0:9999",
		"HOOKRELAY_MAX_IN_FLIGHT_PER_ENDPOINT": "3",
		"HOOKRELAY_DEV_ALLOW_LOCALHOST":        "true",
		"HOOKRELAY_RETRY_SCHEDULE":             "1s,2s",
	}
	c, err := load(t, []string{"--addr", "127.0.0.1:1"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:1" {
		t.Errorf("flag should win over env: addr = %s", c.Addr)
	}
	if c.MaxInFlightPerEndpoint != 3 || !c.DevAllowLocalhost || len(c.RetryDelays) != 2 {
		t.Errorf("env not applied: %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--retry-schedule", "1m,soon"}, nil, "--retry-schedule"},
		{[]string{"--header-prefix", "X Bad:"}, nil, "--header-prefix"},
		{[]string{"--delivery-timeout", "0s"}, nil, "--delivery-timeout"},
		{[]string{"--max-in-flight-per-endpoint", "0"}, nil, "--max-in-flight-per-endpoint"},
		{[]string{"--api=false", "--dispatcher=false"}, nil, "nothing to run"},
		{[]string{"--log-format", "xml"}, nil, "--log-format"},
		{nil, map[string]string{"HOOKRELAY_DELIVERY_TIMEOUT": "soon"}, "HOOKRELAY_DELIVERY_TIMEOUT"},
	} {
		_, err := load(t, tc.args, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: err = %v, want mention of %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestUsageListsEnv(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	Register(fs)
	var b bytes.Buffer
	Usage(&b, fs)
	for _, name := range []string{"addr", "database", "encryption-key", "header-prefix", "retry-schedule",
		"delivery-timeout", "max-in-flight-per-endpoint", "retention", "dev-allow-localhost"} {
		if !strings.Contains(b.String(), "--"+name) || !strings.Contains(b.String(), EnvName(name)) {
			t.Errorf("usage lacks --%s / %s", name, EnvName(name))
		}
	}
}

func TestByteSize(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"65536", 65536, true}, {"64KiB", 64 << 10, true}, {"64MiB", 64 << 20, true}, {"2GiB", 2 << 30, true},
		{" 8 MiB ", 8 << 20, true}, {"64MB", 0, false}, {"-1", 0, false}, {"x", 0, false}, {"99999999999GiB", 0, false},
	} {
		var b ByteSize
		err := b.Set(c.in)
		if (err == nil) != c.ok || (c.ok && int64(b) != c.want) {
			t.Errorf("Set(%q) = %d, %v; want %d ok=%v", c.in, b, err, c.want, c.ok)
		}
	}
	if b := ByteSize(64 << 20); b.String() != "64MiB" {
		t.Errorf("String() = %q", b.String())
	}
}

// TestPublicURL: --public-url and HOOKRELAY_PUBLIC_URL set where people
// reach the dashboard; anything but an absolute http(s) URL is refused.
func TestPublicURL(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, map[string]string{"HOOKRELAY_PUBLIC_URL": "https://hooks.example.com"})
	if err != nil || c.PublicURL != "https://hooks.example.com" {
		t.Fatalf("from the environment: %q, %v", c.PublicURL, err)
	}
	if c, err := load(t, []string{"--public-url", "http://127.0.0.1:8080"}, nil); err != nil || c.PublicURL != "http://127.0.0.1:8080" {
		t.Fatalf("from the flag: %v", err)
	}
	for _, bad := range []string{"hooks.example.com", "ftp://hooks.example.com", "https://", "/dashboard"} {
		if _, err := load(t, []string{"--public-url", bad}, nil); err == nil || !strings.Contains(err.Error(), "--public-url") {
			t.Errorf("--public-url %q: err = %v, want a refusal naming the flag", bad, err)
		}
	}
}
