package dashboard_test

// Browser tests: the real service (app.Open: API, dashboard, intake,
// dispatcher on SQLite) driven through Debian's chromium with chromedp,
// as an owner and as a member. They skip, saying why, when chromium is not
// installed, unless HOOKRELAY_REQUIRE_BROWSER is set (.ci/run installs
// chromium and sets it, so CI never skips them silently). HOOKRELAY_SCREENSHOTS=DIR saves the
// pages shown in docs/dashboard.md into DIR.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hookrelay/hookrelay/internal/app"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
	"github.com/hookrelay/hookrelay/verify"
)

// live is the running service with two accounts and a receiver.
type live struct {
	base     string
	app      *app.App
	acme     webhook.Account
	rival    webhook.Account
	epRival  webhook.Endpoint
	receiver *receiver
	owner    string
	member   string
}

func startLive(t *testing.T) *live {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg := config.Register(fs)
	cfg.Database = filepath.Join(t.TempDir(), "browser.db")
	cfg.Addr = "127.0.0.1:0"
	cfg.DevAllowLocalhost = true // the receiver is an httptest server on loopback
	cfg.PollInterval = 20 * time.Millisecond
	if err := config.Load(fs, cfg, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(context.Background(), cfg, app.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })

	l := &live{base: "http://" + a.Addr(), app: a, receiver: newReceiver(t)}
	ops, bg := a.Ops, context.Background()
	for _, ty := range [][2]string{
		{"generation.completed", "The generation finished successfully."},
		{"generation.failed", "The generation finished with a failure state."},
		{"credits.low_balance", "The account balance crosses one or more configured alert thresholds."},
	} {
		if _, err := ops.EventTypeCreate(bg, operations.EventTypeInput{Name: &ty[0], Description: &ty[1]}); err != nil {
			t.Fatal(err)
		}
	}
	account := func(name string) webhook.Account {
		acc, err := ops.AccountCreate(bg, &name)
		if err != nil {
			t.Fatal(err)
		}
		return acc
	}
	member := func(acc webhook.Account, email, role string) string {
		pw := password
		if _, err := ops.MemberCreate(bg, operations.Operator, acc.ID, operations.MemberInput{Email: &email, Role: &role, Password: &pw}); err != nil {
			t.Fatal(err)
		}
		return email
	}
	l.acme, l.rival = account("Acme AI"), account("Rival")
	l.owner = member(l.acme, "owner@acme.example", webhook.RolePrimaryOwner)
	l.member = member(l.acme, "member@acme.example", webhook.RoleMember)
	member(l.rival, "owner@rival.example", webhook.RolePrimaryOwner)
	u := l.receiver.URL + "/rival"
	if l.epRival, _, err = ops.EndpointCreate(bg, l.rival.ID, operations.EndpointInput{URL: &u, Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *live) publish(t *testing.T, subject string) {
	t.Helper()
	data, _ := json.Marshal(map[string]string{"generation_id": subject, "status": "succeeded"})
	if _, err := l.app.Intake.Publish(context.Background(), []store.PublishEvent{{
		AccountID: l.acme.ID, Type: "generation.completed", SubjectID: subject, Data: data}}); err != nil {
		t.Fatal(err)
	}
}

// receiver is the customer's server: it verifies every delivery with the
// secret copied from the dashboard.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	verifier *verify.Verifier
	got      chan string // delivery ids, verified
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: make(chan string, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		v := r.verifier
		r.mu.Unlock()
		if v == nil || v.Verify(body, req.Header) != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		r.got <- req.Header.Get("Webhook-Id")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"received":true}`))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) useSecret(t *testing.T, secret string) {
	t.Helper()
	v, err := verify.New(secret)
	if err != nil {
		t.Fatalf("the copied secret does not parse: %v", err)
	}
	r.mu.Lock()
	r.verifier = v
	r.mu.Unlock()
}

func (r *receiver) wait(t *testing.T, what string) string {
	t.Helper()
	select {
	case id := <-r.got:
		return id
	case <-time.After(15 * time.Second):
		t.Fatalf("no verified delivery of %s reached the receiver", what)
		return ""
	}
}

// newBrowser starts headless chromium, or skips the test without it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		const why = "chromium is not installed (apt-get install -y chromium; .ci/run does)"
		if os.Getenv("HOOKRELAY_REQUIRE_BROWSER") != "" {
			t.Fatal("HOOKRELAY_REQUIRE_BROWSER is set but " + why)
		}
		t.Skip("browser tests skipped: " + why)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1280, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser without a timeout
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// tab is one signed-in browsing context (its own cookies).
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func (l *live) tab(t *testing.T, browser context.Context) *tab {
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first Run creates the tab and ties it to its context: run it
	// without the per-step timeout, which would close the tab.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return &tab{t: t, ctx: ctx, base: l.base}
}

func (b *tab) step(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 30*time.Second)
}

// open navigates and returns the document's HTTP status.
func (b *tab) open(path string) int {
	b.t.Helper()
	ctx, cancel := b.step(b.ctx)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	return int(resp.Status)
}

// submit clicks a form's button and returns the status of the page it
// leads to.
func (b *tab) submit(button string) int {
	b.t.Helper()
	ctx, cancel := b.step(b.ctx)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(button)))
	if err != nil {
		b.t.Fatalf("click %s: %v", button, err)
	}
	return int(resp.Status)
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.step(b.ctx)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := b.step(b.ctx)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *tab) value(sel string) string {
	b.t.Helper()
	ctx, cancel := b.step(b.ctx)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("value of %s: %v", sel, err)
	}
	return s
}

func eval[T any](b *tab, js string) T {
	b.t.Helper()
	ctx, cancel := b.step(b.ctx)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (b *tab) contains(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); !strings.Contains(got, want) {
		b.t.Fatalf("%s says %q, want it to contain %q", sel, got, want)
	}
}

// signIn fills the sign-in form as a person would.
func (b *tab) signIn(email string) {
	b.t.Helper()
	if status := b.open("/"); status != http.StatusOK || !strings.Contains(b.text("h1"), "Sign in") {
		b.t.Fatalf("signed out, / shows %d %q; want the sign-in page", status, b.text("h1"))
	}
	b.do(chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), password))
	if status := b.submit(`form[action="/login"] button[type=submit]`); status != http.StatusOK {
		b.t.Fatalf("sign in as %s: HTTP %d", email, status)
	}
}

// postDirect submits a form to path from the page at from, with the
// page's CSRF token, as a member would by re-enabling a disabled button
// or crafting the form: it returns the status of the answer.
func (b *tab) postDirect(from, path string) int {
	b.t.Helper()
	b.open(from)
	js := fmt.Sprintf(`(() => {
		const f = document.createElement("form");
		f.method = "post";
		f.action = %q;
		const fields = {csrf: document.querySelector("input[name=csrf]").value, confirm: "yes", grace_period_seconds: "0",
			events: "*", url: "http://127.0.0.1:9/x", role: "member", email: "x@acme.example", password: "long enough",
			name: "k", scopes: "webhooks:read", since: "2026-01-01T00:00"};
		for (const [k, v] of Object.entries(fields)) {
			const i = document.createElement("input");
			i.type = "hidden"; i.name = k; i.value = v;
			f.appendChild(i);
		}
		document.body.appendChild(f);
		f.submit();
	})()`, path)
	ctx, cancel := b.step(b.ctx)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Evaluate[chromedp.Void](js))
	if err != nil {
		b.t.Fatalf("POST %s: %v", path, err)
	}
	return int(resp.Status)
}

func (b *tab) shot(name string) {
	b.t.Helper()
	dir := os.Getenv("HOOKRELAY_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := b.step(b.ctx)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// accessible checks what a screen reader needs of the page: one h1, a
// label for every form control, a name for every button and the chart.
func (b *tab) accessible(page string) {
	b.t.Helper()
	problems := eval[[]string](b, `(() => {
		const out = [];
		if (document.querySelectorAll("h1").length !== 1) out.push("h1 count " + document.querySelectorAll("h1").length);
		for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
			if (el.labels.length === 0 && !el.getAttribute("aria-label")) out.push("unlabelled " + el.tagName + " " + (el.name || el.id));
		}
		for (const el of document.querySelectorAll("button")) {
			if (!(el.textContent.trim() || el.getAttribute("aria-label"))) out.push("unnamed button");
		}
		for (const el of document.querySelectorAll("svg")) {
			if (el.getAttribute("role") !== "img" || !el.querySelector("title")) out.push("svg without role=img and title");
		}
		if (!document.documentElement.lang) out.push("no lang");
		return out;
	})()`)
	if len(problems) > 0 {
		b.t.Errorf("%s is not accessible: %v", page, problems)
	}
}

// waitFor reloads a page until sel contains want.
func (b *tab) waitFor(path, sel, want string) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b.open(path)
		if got := b.text(sel); strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: %s never showed %q", path, sel, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrowserOwner walks every page as the account's primary owner: add an
// endpoint and copy its secret, see a delivery arrive, open it, replay it,
// rotate the secret, disable and enable, deliver queued, sign out.
func TestBrowserOwner(t *testing.T) {
	browser := newBrowser(t)
	l := startLive(t)
	b := l.tab(t, browser)
	b.open("/login")
	b.shot("login")
	b.accessible("the sign-in page")
	b.signIn(l.owner)
	b.contains("main", "No endpoints yet")

	// Add endpoint: URL, event checkboxes from the catalog, description.
	b.do(
		chromedp.SetValue(chromedp.ID("url"), l.receiver.URL+"/hooks"),
		chromedp.SetValue(chromedp.ID("description"), "Production receiver"),
		chromedp.Click(chromedp.CSS(`#add-endpoint input[value="generation.completed"]`)),
		chromedp.Click(chromedp.CSS(`#add-endpoint input[value="generation.failed"]`)),
	)
	b.contains("#add-endpoint", "The generation finished successfully.")
	if status := b.submit(`form[action="/webhooks"] button[type=submit]`); status != http.StatusCreated {
		t.Fatalf("add endpoint: HTTP %d", status)
	}
	secret := b.value("#new-secret")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("created secret %q", secret)
	}
	b.do(chromedp.Click(chromedp.CSS("button.copy")))
	// The button selects the secret and says so once the copy is done.
	ctx, cancel := b.step(b.ctx)
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("button.copy").textContent === "Copied" &&
		document.getElementById("new-secret").selectionStart === 0 &&
		document.getElementById("new-secret").selectionEnd === document.getElementById("new-secret").value.length`,
		chromedp.WithPollingTimeout(5*time.Second)))
	cancel()
	if err != nil {
		t.Fatalf("the copy button did not select and copy the secret: %v", err)
	}
	b.shot("webhook-created")
	l.receiver.useSecret(t, secret) // the customer pastes what it copied

	b.open("/")
	b.contains("table", l.receiver.URL+"/hooks")
	b.contains("table", "active")
	href := eval[string](b, `document.querySelector("table a").getAttribute("href")`)
	b.shot("webhooks")
	b.accessible("the webhooks page")

	// A delivery arrives, verified with the copied secret, and shows in the table.
	l.publish(t, "gen_browser_1")
	first := l.receiver.wait(t, "the first event")
	b.waitFor(href, "#events", "delivered")
	b.contains("#events", "gen_browser_1")
	b.contains("#events", "200")
	b.shot("webhook")
	b.accessible("the details page")

	// Open it: payload and every attempt with request and response.
	if status := b.submit("#events tbody tr a"); status != http.StatusOK {
		t.Fatalf("open delivery: HTTP %d", status)
	}
	b.contains("h1", "generation.completed")
	b.contains("main", first)
	b.contains("main", `"generation_id": "gen_browser_1"`)
	b.contains(".attempt h3", "HTTP 200")
	b.accessible("the delivery page")
	b.contains(".attempt", `{"received":true}`)
	if headers := eval[string](b, `document.querySelector(".attempt table.headers").textContent`); !strings.Contains(headers, "X-Hookrelay-Event") ||
		!strings.Contains(headers, "Webhook-Id") {
		t.Fatalf("attempt's request headers: %q", headers)
	}
	b.shot("delivery")

	// Replay: the same delivery id arrives again.
	if status := b.submit(`form[action$="/replay"] button`); status != http.StatusOK {
		t.Fatalf("replay: HTTP %d", status)
	}
	if again := l.receiver.wait(t, "the replay"); again != first {
		t.Fatalf("replay arrived as %s, want the same delivery id %s", again, first)
	}

	// Rotate the secret with no grace: shown once, the prefix changes.
	b.open(href)
	oldPrefix := b.text("#secret-prefix")
	b.do(chromedp.SetValue(chromedp.ID("grace"), "0"))
	if status := b.submit(`form[action$="/rotate"] button`); status != http.StatusOK {
		t.Fatalf("rotate: HTTP %d", status)
	}
	rotated := b.value("#new-secret")
	if rotated == secret || !strings.HasPrefix(rotated, "whsec_") || b.text("#secret-prefix") == oldPrefix {
		t.Fatalf("rotation showed %q (prefix %q, was %q)", rotated, b.text("#secret-prefix"), oldPrefix)
	}
	l.receiver.useSecret(t, rotated)

	// Disable: new events are queued; Deliver queued waits for Enable.
	if status := b.submit(`form[action$="/disable"] button`); status != http.StatusOK {
		t.Fatalf("disable: HTTP %d", status)
	}
	b.contains("#endpoint-status", "disabled")
	l.publish(t, "gen_while_disabled")
	b.waitFor(href, "main", "1 queued event")
	if !eval[bool](b, `document.querySelector('form[action$="/deliver-queued"] button').disabled`) {
		t.Fatal("Deliver queued events is enabled while the endpoint is disabled")
	}
	b.shot("webhook-queued")
	if status := b.submit(`form[action$="/enable"] button`); status != http.StatusOK {
		t.Fatalf("enable: HTTP %d", status)
	}
	b.contains("#endpoint-status", "active")
	select {
	case id := <-l.receiver.got:
		t.Fatalf("enabling sent queued delivery %s by itself", id)
	case <-time.After(300 * time.Millisecond):
	}
	if status := b.submit(`form[action$="/deliver-queued"] button`); status != http.StatusOK {
		t.Fatalf("deliver queued: HTTP %d", status)
	}
	b.contains("#notice", "1 queued deliveries sent again")
	l.receiver.wait(t, "the queued event, signed with the rotated secret")

	// The account page: members and a new API key, shown once.
	b.open("/account")
	b.contains("main", l.member)
	b.do(chromedp.SetValue(chromedp.ID("k-name"), "production server"),
		chromedp.Click(chromedp.CSS(`input[name=scopes][value="events:publish"]`)))
	if status := b.submit(`form[action="/account/keys"] button`); status != http.StatusCreated {
		t.Fatalf("create key: HTTP %d", status)
	}
	if key := b.value("#new-key"); !strings.HasPrefix(key, "hrk_") {
		t.Fatalf("new key %q", key)
	}
	b.shot("account")
	b.accessible("the account page")

	// At 375 px wide nothing overflows sideways.
	b.do(chromedp.EmulateViewport(375, 800))
	b.open(href)
	if !eval[bool](b, `document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Fatalf("the details page overflows at 375 px: %d px wide; widest: %s", eval[int](b, `document.documentElement.scrollWidth`),
			eval[string](b, `JSON.stringify({inner: innerWidth, client: document.documentElement.clientWidth, body: document.body.scrollWidth,
				wrap: [...document.querySelectorAll(".table-wrap")].map(w => [w.clientWidth, w.scrollWidth, getComputedStyle(w).overflowX]),
				main: document.querySelector("main").getBoundingClientRect().width})`))
	}
	b.shot("webhook-mobile")
	b.do(chromedp.EmulateViewport(1280, 1000))

	// Sign out: the session ends.
	if status := b.submit(`form[action="/logout"] button`); status != http.StatusOK {
		t.Fatalf("sign out: HTTP %d", status)
	}
	b.contains("main", "You are signed out.")
	b.open(href)
	b.contains("h1", "Sign in")
}

// TestBrowserMember: a member sees every page with management actions
// disabled, and the server refuses each of them (403); another account's
// page is 404; a form without its CSRF token is 403; the sixth wrong
// password in a minute is 429.
func TestBrowserMember(t *testing.T) {
	browser := newBrowser(t)
	l := startLive(t)
	u := l.receiver.URL + "/acme"
	ep, secret, err := l.app.Ops.EndpointCreate(context.Background(), l.acme.ID, operations.EndpointInput{URL: &u, Events: []string{"generation.completed"}})
	if err != nil {
		t.Fatal(err)
	}
	l.receiver.useSecret(t, secret)
	l.publish(t, "gen_seen_by_member")
	l.receiver.wait(t, "the event")

	m := l.tab(t, browser)
	m.signIn(l.member)
	if !eval[bool](m, `document.querySelector("#add-endpoint fieldset").disabled`) {
		t.Fatal("a member can use Add endpoint")
	}
	href := "/webhooks/" + ep.ID
	m.waitFor(href, "#events", "delivered")
	allDisabled := `[...document.querySelectorAll('main form[method=post] button[type=submit]')].every(b => b.matches(":disabled"))`
	count := `document.querySelectorAll('main form[method=post] button[type=submit]').length`
	if n := eval[int](m, count); n < 7 || !eval[bool](m, allDisabled) {
		t.Fatalf("member's details page: %d action buttons, all disabled %v", n, eval[bool](m, allDisabled))
	}
	m.shot("webhook-member")
	dl := eval[string](m, `document.querySelector("#events tbody a").getAttribute("href")`)
	m.open(dl)
	if !eval[bool](m, allDisabled) {
		t.Fatal("member's delivery page: Replay is enabled")
	}
	m.open("/account")
	if n := eval[int](m, count); n < 3 || !eval[bool](m, allDisabled) {
		t.Fatalf("member's account page: %d action buttons, all disabled %v", n, eval[bool](m, allDisabled))
	}
	// Direct POSTs, with the member's valid CSRF token, are refused.
	for _, action := range []string{"/disable", "/rotate", "/test", "/deliver-queued", "/recover", "/delete", "/events",
		strings.TrimPrefix(dl, href) + "/replay"} {
		if status := m.postDirect(href, href+action); status != http.StatusForbidden {
			t.Errorf("member POST %s: HTTP %d, want 403", action, status)
		}
	}
	if status := m.postDirect("/", "/webhooks"); status != http.StatusForbidden {
		t.Errorf("member POST /webhooks: HTTP %d, want 403", status)
	}
	if got, _ := l.app.Ops.Endpoint(context.Background(), l.acme.ID, ep.ID); got.Status != webhook.EndpointActive || got.SecretPrefix != ep.SecretPrefix {
		t.Fatalf("the member's refused POSTs changed the endpoint: %+v", got)
	}

	// Another account's endpoint is not found.
	if status := m.open("/webhooks/" + l.epRival.ID); status != http.StatusNotFound {
		t.Fatalf("cross-account URL: HTTP %d, want 404", status)
	}
	m.contains("h1", "Not found")

	// An owner's form without its CSRF token is refused and changes nothing.
	o := l.tab(t, browser)
	o.signIn(l.owner)
	o.open(href)
	o.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('form[action$="/disable"] input[name=csrf]').remove()`))
	if status := o.submit(`form[action$="/disable"] button`); status != http.StatusForbidden {
		t.Fatalf("form without its CSRF token: HTTP %d, want 403", status)
	}
	o.contains("main", "This form has expired")
	if got, _ := l.app.Ops.Endpoint(context.Background(), l.acme.ID, ep.ID); got.Status != webhook.EndpointActive {
		t.Fatal("a form without its CSRF token disabled the endpoint")
	}

	// The sixth wrong password in a minute is refused.
	g := l.tab(t, browser)
	for i := 1; i <= 6; i++ {
		g.open("/login")
		g.do(chromedp.SendKeys(chromedp.ID("email"), l.owner), chromedp.SendKeys(chromedp.ID("password"), "wrong password"))
		status := g.submit(`form[action="/login"] button[type=submit]`)
		if i <= 5 && (status != http.StatusUnauthorized || !strings.Contains(g.text("#login-error"), "Wrong email or password")) {
			t.Fatalf("wrong password %d: HTTP %d %q", i, status, g.text("main"))
		}
		if i == 6 {
			if status != http.StatusTooManyRequests {
				t.Fatalf("sixth wrong password in a minute: HTTP %d, want 429", status)
			}
			g.contains("#login-error", "Too many failed sign-ins")
			g.shot("login-limited")
		}
	}
}
