package dashboard_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/dashboard"
	"github.com/hookrelay/hookrelay/internal/intake"
	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/ssrf"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

const password = "correct horse battery"

// env is a dashboard over a fresh SQLite database with two accounts:
// A has a primary owner, an owner and a member; B has an owner and an
// endpoint that A must never see.
type env struct {
	URL    string
	Ops    *operations.Ops
	Store  store.Store
	Clock  *clock.Fake
	A, B   webhook.Account
	Owner  string // emails
	Admin  string
	Member string
	OwnerB string
	EpA    webhook.Endpoint
	EpB    webhook.Endpoint

	dbPath  string
	handler http.Handler // the dashboard, for benchmarks without a network
	dash    *dashboard.Dashboard
}

type envOptions struct {
	publicURL string
	tls       bool
	handler   func(http.Handler) http.Handler
}

func setup(t testing.TB) *env { return setupWith(t, envOptions{}) }

func setupWith(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "dash.db")
	st, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key, _ := secretbox.ParseKey(secretbox.NewKey())
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{Store: st, dbPath: dbPath, Clock: clock.NewFake(time.Date(2026, 5, 12, 12, 0, 0, 0, time.UTC))}
	e.Ops = operations.New(operations.Deps{Store: st, Catalog: intake.NewCatalog(st, time.Minute), Box: box,
		CheckURL: ssrf.New(ssrf.Options{AllowLoopback: true}).CheckURL, Clock: e.Clock})
	desc := "The generation finished successfully."
	name := "generation.completed"
	if _, err := e.Ops.EventTypeCreate(ctx, operations.EventTypeInput{Name: &name, Description: &desc}); err != nil {
		t.Fatal(err)
	}
	mkAccount := func(n string) webhook.Account {
		a, err := e.Ops.AccountCreate(ctx, &n)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	e.A, e.B = mkAccount("Acme"), mkAccount("Rival")
	mkMember := func(acc webhook.Account, email, role string) string {
		pw := password
		if _, err := e.Ops.MemberCreate(ctx, operations.Operator, acc.ID, operations.MemberInput{Email: &email, Role: &role, Password: &pw}); err != nil {
			t.Fatal(err)
		}
		return email
	}
	e.Owner = mkMember(e.A, "owner@acme.example", webhook.RolePrimaryOwner)
	e.Admin = mkMember(e.A, "admin@acme.example", webhook.RoleOwner)
	e.Member = mkMember(e.A, "member@acme.example", webhook.RoleMember)
	e.OwnerB = mkMember(e.B, "owner@rival.example", webhook.RolePrimaryOwner)
	mkEndpoint := func(acc webhook.Account, u string) webhook.Endpoint {
		ep, _, err := e.Ops.EndpointCreate(ctx, acc.ID, operations.EndpointInput{URL: &u, Events: []string{"generation.completed"}})
		if err != nil {
			t.Fatal(err)
		}
		return ep
	}
	e.EpA = mkEndpoint(e.A, "http://127.0.0.1:9/acme")
	e.EpB = mkEndpoint(e.B, "http://127.0.0.1:9/rival")

	d, err := dashboard.New(dashboard.Deps{Ops: e.Ops, Box: box, PublicURL: o.publicURL, Clock: e.Clock,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.dash = d
	var h http.Handler = d
	if o.handler != nil {
		h = o.handler(d)
	}
	e.handler = h
	srv := httptest.NewUnstartedServer(h)
	if o.tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests see each answer.
type browser struct {
	t   testing.TB
	e   *env
	c   *http.Client
	Jar http.CookieJar
}

func (e *env) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if strings.HasPrefix(e.URL, "https://") {
		c.Transport = &http.Transport{TLSClientConfig: insecureTLS()}
	}
	return &browser{t: t, e: e, c: c, Jar: jar}
}

// page is an answer read whole.
type page struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browser) get(path string) page {
	b.t.Helper()
	resp, err := b.c.Get(b.e.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	return read(b.t, resp)
}

func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	resp, err := b.c.PostForm(b.e.URL+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	return read(b.t, resp)
}

func read(t testing.TB, resp *http.Response) page {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, p page) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no CSRF token on the page (HTTP %d): %.300s", p.Status, p.Body)
	}
	return m[1]
}

// tryLogin posts the sign-in form once.
func (b *browser) tryLogin(email, pw string) page {
	b.t.Helper()
	form := b.get("/login")
	return b.post("/login", url.Values{"csrf": {csrfOf(b.t, form)}, "email": {email}, "password": {pw}})
}

// signIn signs in and returns the CSRF token of the session's forms.
func (b *browser) signIn(email string) string {
	b.t.Helper()
	if p := b.tryLogin(email, password); p.Status != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: HTTP %d: %.300s", email, p.Status, p.Body)
	}
	return csrfOf(b.t, b.get("/"))
}

func regexpFind(t testing.TB, body, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s not found in %.600s", pattern, body)
	}
	return m[1]
}
