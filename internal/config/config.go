// Package config turns flags and HOOKRELAY_* environment variables into a
// Config. A flag given on the command line wins over its variable.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/dispatch"
	"github.com/hookrelay/hookrelay/internal/secretbox"
)

// Config is every setting of `hookrelay serve`.
type Config struct {
	Addr                   string
	PublicURL              string
	Database               string
	DatabaseMaxConns       int
	EncryptionKey          string
	HeaderPrefix           string
	RetrySchedule          string
	DeliveryTimeout        time.Duration
	MaxInFlightPerEndpoint int
	MaxInFlight            int
	Retention              time.Duration
	DevAllowLocalhost      bool
	LogFormat              string
	LogLevel               string
	API                    bool
	Dispatcher             bool
	LeaseTTL               time.Duration
	PollInterval           time.Duration
	ShutdownTimeout        time.Duration
	StallTimeout           time.Duration
	PprofAddr              string
	RateLimit              float64
	RateBurst              int
	BreakerThreshold       int
	BreakerCooldown        time.Duration
	BreakerMaxCooldown     time.Duration
	DisableAfterFailures   int
	DisableAfter           time.Duration
	QueueMax               int
	QueueMaxAge            time.Duration
	MaxBodyMemory          ByteSize

	// Parsed from RetrySchedule by Load.
	RetryDelays []time.Duration
}

// EnvName is the variable that sets a flag: HOOKRELAY_ + upper snake case.
func EnvName(flagName string) string {
	return "HOOKRELAY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Register defines the settings on fs and returns the Config they fill.
func Register(fs *flag.FlagSet) *Config {
	c := &Config{}
	str := func(p *string, name, def, usage string) { fs.StringVar(p, name, def, usage) }
	dur := func(p *time.Duration, name string, def time.Duration, usage string) {
		DurationVar(fs, p, name, def, usage)
	}
	boolean := func(p *bool, name string, def bool, usage string) { BoolVar(fs, p, name, def, usage) }
	str(&c.Addr, "addr", "127.0.0.1:8080", "`host:port` the API listens on")
	str(&c.PublicURL, "public-url", "", "`URL` where people reach the dashboard (e.g. https://hooks.example.com); an https URL makes its cookies Secure behind a TLS-terminating proxy")
	str(&c.Database, "database", "hookrelay.db", "SQLite `file`, created on first run; or a postgres:// URL, which several nodes share (needs --encryption-key)")
	fs.IntVar(&c.DatabaseMaxConns, "database-max-conns", 10, "PostgreSQL: connections this process keeps at most (one more listens for other nodes' work)")
	str(&c.EncryptionKey, "encryption-key", "", "base64 32-byte `key` encrypting signing secrets at rest; when empty, a key file is generated beside the database (make one: head -c 32 /dev/urandom | base64)")
	str(&c.HeaderPrefix, "header-prefix", "X-Hookrelay-", "prefix of the branded delivery headers (Signature, Event, Delivery-Id, Timestamp)")
	str(&c.RetrySchedule, "retry-schedule", "1m,5m,30m,2h", "`delays` between attempts, comma-separated; N delays give N+1 attempts")
	dur(&c.DeliveryTimeout, "delivery-timeout", 30*time.Second, "time a receiver has to answer 2xx")
	fs.IntVar(&c.MaxInFlightPerEndpoint, "max-in-flight-per-endpoint", 10, "concurrent requests to one endpoint")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", 2048, "concurrent requests across all endpoints (each holds about 50 KB); endpoints take turns for them")
	dur(&c.Retention, "retention", 720*time.Hour, "how long delivery logs and event payloads are kept")
	boolean(&c.DevAllowLocalhost, "dev-allow-localhost", false, "DEVELOPMENT ONLY: allow http:// and loopback receivers")
	str(&c.LogFormat, "log-format", "text", "log format: text or json")
	str(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	boolean(&c.API, "api", true, "serve the API")
	boolean(&c.Dispatcher, "dispatcher", true, "run the dispatcher that sends deliveries")
	dur(&c.LeaseTTL, "lease-ttl", 30*time.Second, "how long a crashed node's endpoints stay leased before another node takes them over")
	dur(&c.PollInterval, "poll-interval", 250*time.Millisecond, "how often the dispatcher looks for work published by other processes")
	dur(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "on SIGTERM, how long shutdown may take in all: in-flight requests finish or are cancelled within it")
	dur(&c.StallTimeout, "stall-timeout", time.Minute, "how long the dispatcher may have due work and make no progress before it reports a stall (error log, hookrelay_dispatcher_stalled, /readyz 503); at least twice --delivery-timeout")
	fs.IntVar(&c.BreakerThreshold, "breaker-threshold", 5, "failed attempts in a row that pause an endpoint (circuit breaker)")
	dur(&c.BreakerCooldown, "breaker-cooldown", 30*time.Second, "first pause of a tripped endpoint before one probe attempt; doubles on each trip in a row")
	dur(&c.BreakerMaxCooldown, "breaker-max-cooldown", 30*time.Minute, "longest pause of a tripped endpoint")
	fs.IntVar(&c.DisableAfterFailures, "disable-after-failures", 5, "failed deliveries in a row that, with no success for --disable-after, disable an endpoint")
	dur(&c.DisableAfter, "disable-after", 24*time.Hour, "time without a successful delivery before failures disable an endpoint")
	fs.IntVar(&c.QueueMax, "queue-max", 10000, "queued deliveries kept per disabled endpoint; beyond it the oldest are dropped")
	dur(&c.QueueMaxAge, "queue-max-age", 7*24*time.Hour, "how long a queued delivery is kept before it is dropped")
	c.MaxBodyMemory = 64 << 20
	fs.Var(&c.MaxBodyMemory, "max-body-memory", "memory that request bodies in flight may use, across requests (e.g. 64MiB, 1GiB); past it requests get 503 with Retry-After")
	fs.Float64Var(&c.RateLimit, "rate-limit", 100, "API requests per second allowed to each account API key (0: unlimited; operator keys are not limited)")
	fs.IntVar(&c.RateBurst, "rate-burst", 0, "requests an account key may send at once above --rate-limit (0: twice the rate)")
	str(&c.PprofAddr, "pprof-addr", "", "serve Go's /debug/pprof profiles on this address (off when empty; keep it on loopback)")
	return c
}

// Usage prints the settings with their variables.
func Usage(w io.Writer, fs *flag.FlagSet) { PrintFlags(w, fs, EnvName) }

// Load applies the environment to every flag not set on the command line,
// then checks the result.
func Load(fs *flag.FlagSet, c *Config, lookupEnv func(string) (string, bool)) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		if v, ok := lookupEnv(EnvName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err))
			}
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return c.validate()
}

func (c *Config) validate() error {
	if c.EncryptionKey != "" {
		if _, err := secretbox.ParseKey(c.EncryptionKey); err != nil {
			return fmt.Errorf("--encryption-key: %w; make one with: head -c 32 /dev/urandom | base64", err)
		}
	}
	delays, err := dispatch.ParseSchedule(c.RetrySchedule)
	if err != nil {
		return fmt.Errorf("--retry-schedule: %w", err)
	}
	c.RetryDelays = delays
	if !validHeaderPrefix(c.HeaderPrefix) {
		return fmt.Errorf("--header-prefix %q: use letters, digits and dashes, e.g. X-Acme-", c.HeaderPrefix)
	}
	switch {
	case c.DeliveryTimeout <= 0 || c.DeliveryTimeout > 5*time.Minute:
		return fmt.Errorf("--delivery-timeout %s: must be between 0 and 5m", c.DeliveryTimeout)
	case c.MaxInFlightPerEndpoint < 1 || c.MaxInFlightPerEndpoint > 1000:
		return fmt.Errorf("--max-in-flight-per-endpoint %d: must be 1..1000", c.MaxInFlightPerEndpoint)
	case c.MaxInFlight < c.MaxInFlightPerEndpoint || c.MaxInFlight > 1<<20:
		return fmt.Errorf("--max-in-flight %d: must be at least --max-in-flight-per-endpoint (%d) and at most %d", c.MaxInFlight, c.MaxInFlightPerEndpoint, 1<<20)
	case c.Retention < time.Hour:
		return fmt.Errorf("--retention %s: must be at least 1h", c.Retention)
	case c.LeaseTTL < time.Second:
		return fmt.Errorf("--lease-ttl %s: must be at least 1s", c.LeaseTTL)
	case c.ShutdownTimeout < 100*time.Millisecond:
		return fmt.Errorf("--shutdown-timeout %s: must be at least 100ms", c.ShutdownTimeout)
	case c.StallTimeout < time.Second:
		return fmt.Errorf("--stall-timeout %s: must be at least 1s", c.StallTimeout)
	case c.PollInterval < 10*time.Millisecond:
		return fmt.Errorf("--poll-interval %s: must be at least 10ms", c.PollInterval)
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("--log-format %q: must be text or json", c.LogFormat)
	case c.BreakerThreshold < 1 || c.BreakerCooldown <= 0 || c.BreakerMaxCooldown < c.BreakerCooldown:
		return errors.New("--breaker-threshold must be ≥ 1 and --breaker-max-cooldown ≥ --breaker-cooldown > 0")
	case c.DisableAfterFailures < 1 || c.DisableAfter < 0:
		return errors.New("--disable-after-failures must be ≥ 1 and --disable-after ≥ 0")
	case c.QueueMax < 1 || c.QueueMaxAge < time.Minute:
		return errors.New("--queue-max must be ≥ 1 and --queue-max-age ≥ 1m")
	case c.MaxBodyMemory < 1<<20:
		return fmt.Errorf("--max-body-memory %s: must be at least 1MiB (one event's payload is up to 256KiB)", c.MaxBodyMemory.String())
	case c.RateLimit < 0 || c.RateBurst < 0:
		return errors.New("--rate-limit and --rate-burst must be ≥ 0")
	case !c.API && !c.Dispatcher:
		return errors.New("--api=false and --dispatcher=false leave nothing to run")
	case c.Database == "":
		return errors.New("--database is required")
	case c.DatabaseMaxConns < 1 || c.DatabaseMaxConns > 1000:
		return fmt.Errorf("--database-max-conns %d: must be 1..1000", c.DatabaseMaxConns)
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("--public-url %q: must be an absolute http(s) URL such as https://hooks.example.com", c.PublicURL)
		}
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: must be debug, info, warn or error", c.LogLevel)
	}
	return nil
}

func validHeaderPrefix(p string) bool {
	if p == "" || len(p) > 64 {
		return false
	}
	for _, r := range p {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return http.CanonicalHeaderKey(p+"Signature") != ""
}

// IsPostgres reports whether the database setting selects PostgreSQL.
func (c *Config) IsPostgres() bool { return IsPostgresURL(c.Database) }

// IsPostgresURL reports whether a --database value selects PostgreSQL.
func IsPostgresURL(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// DatabaseName is how messages and logs name a --database value: a
// PostgreSQL URL without its password.
func DatabaseName(database string) string {
	if !IsPostgresURL(database) {
		return database
	}
	u, err := url.Parse(database)
	if err != nil {
		return "(a postgres:// URL that does not parse)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// ByteSize is a number of bytes written with an optional binary unit:
// 65536, 64KiB, 64MiB, 1GiB.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	n      int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (b *ByteSize) String() string {
	for _, u := range byteUnits {
		if *b != 0 && int64(*b)%u.n == 0 {
			return strconv.FormatInt(int64(*b)/u.n, 10) + u.suffix
		}
	}
	return "0"
}

// Set parses a size.
func (b *ByteSize) Set(v string) error {
	s, mult := strings.TrimSpace(v), int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("%q is not a size like 64MiB", v)
	}
	*b = ByteSize(n * mult)
	return nil
}
