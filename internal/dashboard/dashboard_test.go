package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

func cookieNamed(t *testing.T, p page, name string) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", name, p.Header["Set-Cookie"])
	return nil
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		opt    envOptions
		secure bool
	}{
		{"plain http", envOptions{}, false},
		{"https public URL behind a proxy", envOptions{publicURL: "https://hooks.example.com"}, true},
		{"TLS", envOptions{tls: true}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := setupWith(t, c.opt)
			b := e.browser(t)
			p := b.tryLogin(e.Owner, password)
			if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/" {
				t.Fatalf("sign in: HTTP %d to %q", p.Status, p.Header.Get("Location"))
			}
			ck := cookieNamed(t, p, "hookrelay_session")
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure != c.secure || ck.Path != "/" {
				t.Fatalf("session cookie HttpOnly=%v SameSite=%v Secure=%v Path=%q; want HttpOnly, Lax, Secure=%v, /",
					ck.HttpOnly, ck.SameSite, ck.Secure, ck.Path, c.secure)
			}
		})
	}
}

func TestSignedOutPagesRedirectToLogin(t *testing.T) {
	t.Parallel()
	e := setup(t)
	b := e.browser(t)
	if p := b.get("/"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/login" {
		t.Fatalf("GET / signed out: HTTP %d to %q, want 303 to /login", p.Status, p.Header.Get("Location"))
	}
	if p := b.get("/webhooks/" + e.EpA.ID); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/login?next=%2Fwebhooks%2F") {
		t.Fatalf("details signed out: HTTP %d to %q", p.Status, p.Header.Get("Location"))
	}
	if p := b.post("/webhooks/"+e.EpA.ID+"/disable", nil); p.Status != http.StatusForbidden {
		t.Fatalf("POST signed out: HTTP %d, want 403", p.Status)
	}
	// After sign-in, next brings the member back, but never to another site.
	form := b.get("/login?next=%2Fwebhooks%2F" + e.EpA.ID)
	p := b.post("/login", url.Values{"csrf": {csrfOf(t, form)}, "email": {e.Owner}, "password": {password}, "next": {"/webhooks/" + e.EpA.ID}})
	if p.Header.Get("Location") != "/webhooks/"+e.EpA.ID {
		t.Fatalf("next: redirected to %q", p.Header.Get("Location"))
	}
	b2 := e.browser(t)
	form = b2.get("/login")
	p = b2.post("/login", url.Values{"csrf": {csrfOf(t, form)}, "email": {e.Owner}, "password": {password}, "next": {"//evil.example/x"}})
	if p.Header.Get("Location") != "/" {
		t.Fatalf("next=//evil.example: redirected to %q, want /", p.Header.Get("Location"))
	}
}

// TestSignInRateLimit: five wrong passwords in a minute are answered 401;
// the sixth attempt is refused with 429, even with the right password,
// per email and per address, until the minute has passed.
func TestSignInRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t)
	b := e.browser(t)
	for i := 1; i <= 5; i++ {
		if p := b.tryLogin(e.Admin, "wrong password"); p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "Wrong email or password") {
			t.Fatalf("wrong password %d: HTTP %d", i, p.Status)
		}
	}
	p := b.tryLogin(e.Admin, password)
	if p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" || !strings.Contains(p.Body, "Too many failed sign-ins") {
		t.Fatalf("sixth attempt in a minute: HTTP %d Retry-After %q: %.400s", p.Status, p.Header.Get("Retry-After"), p.Body)
	}
	// Per address: another email from the same address is refused too.
	if p := b.tryLogin(e.Member, password); p.Status != http.StatusTooManyRequests {
		t.Fatalf("another email from the same address: HTTP %d, want 429", p.Status)
	}
	e.Clock.Advance(time.Minute)
	if p := b.tryLogin(e.Admin, password); p.Status != http.StatusSeeOther {
		t.Fatalf("a minute later: HTTP %d, want 303", p.Status)
	}
}

func TestSignInFormNeedsItsToken(t *testing.T) {
	t.Parallel()
	e := setup(t)
	b := e.browser(t)
	b.get("/login")
	p := b.post("/login", url.Values{"email": {e.Owner}, "password": {password}})
	if p.Status != http.StatusForbidden {
		t.Fatalf("sign-in without its CSRF token: HTTP %d, want 403", p.Status)
	}
	if strings.Contains(strings.Join(p.Header["Set-Cookie"], ";"), "hookrelay_session=") {
		t.Fatal("a session was started without the form's token")
	}
}

// TestCSRF: every state-changing form without its token is 403 and
// changes nothing.
func TestCSRF(t *testing.T) {
	t.Parallel()
	e := setup(t)
	b := e.browser(t)
	token := b.signIn(e.Owner)
	other := e.browser(t)
	otherToken := other.signIn(e.Admin) // a real token, of another session
	for _, bad := range []url.Values{nil, {"csrf": {""}}, {"csrf": {"forged"}}, {"csrf": {otherToken}}} {
		for _, path := range []string{"/webhooks/" + e.EpA.ID + "/disable", "/webhooks/" + e.EpA.ID + "/delete", "/logout"} {
			form := url.Values{"confirm": {"yes"}}
			for k, v := range bad {
				form[k] = v
			}
			if p := b.post(path, form); p.Status != http.StatusForbidden {
				t.Fatalf("POST %s with csrf %q: HTTP %d, want 403", path, bad.Get("csrf"), p.Status)
			}
		}
	}
	ep, err := e.Ops.Endpoint(context.Background(), e.A.ID, e.EpA.ID)
	if err != nil || ep.Status != webhook.EndpointActive {
		t.Fatalf("after forged forms the endpoint is %+v, %v; want it active and present", ep.Status, err)
	}
	if p := b.get("/"); p.Status != http.StatusOK {
		t.Fatalf("forged logout signed the member out: HTTP %d", p.Status)
	}
	if p := b.post("/webhooks/"+e.EpA.ID+"/disable", url.Values{"csrf": {token}}); p.Status != http.StatusSeeOther {
		t.Fatalf("with the token: HTTP %d, want 303", p.Status)
	}
	if ep, _ := e.Ops.Endpoint(context.Background(), e.A.ID, e.EpA.ID); ep.Status != webhook.EndpointDisabled {
		t.Fatal("the valid form did not disable the endpoint")
	}
}

// TestMemberSeesButCannotManage: a member's pages show management actions
// disabled, and the server refuses each of those forms with 403.
func TestMemberSeesButCannotManage(t *testing.T) {
	t.Parallel()
	e := setup(t)
	b := e.browser(t)
	token := b.signIn(e.Member)
	ctx := context.Background()
	d, err := e.Ops.EndpointSendTest(ctx, e.A.ID, e.EpA.ID)
	if err != nil {
		t.Fatal(err)
	}
	details := b.get("/webhooks/" + e.EpA.ID)
	if details.Status != http.StatusOK {
		t.Fatalf("member reads details: HTTP %d", details.Status)
	}
	for _, button := range []string{"Disable endpoint", "Send test event", "Replay", "Rotate secret", "Delete endpoint", "Save changes", "Recover failed deliveries"} {
		if !disabledControl(details.Body, button) {
			t.Errorf("member's details page: %q is not disabled", button)
		}
	}
	ownerView := e.browser(t)
	ownerView.signIn(e.Owner)
	ownerDetails := ownerView.get("/webhooks/" + e.EpA.ID)
	for _, button := range []string{"Disable endpoint", "Send test event", "Replay", "Rotate secret", "Delete endpoint"} {
		if disabledControl(ownerDetails.Body, button) {
			t.Errorf("owner's details page: %q is disabled", button)
		}
	}
	ep := "/webhooks/" + e.EpA.ID
	members, _ := e.Ops.MemberList(ctx, e.A.ID, "", 10)
	target := members.Items[1].ID // the owner
	for _, path := range []string{
		"/webhooks", ep + "/events", ep + "/disable", ep + "/enable", ep + "/rotate", ep + "/test", ep + "/deliver-queued",
		ep + "/recover", ep + "/delete", ep + "/deliveries/" + d.ID + "/replay",
		"/account/members", "/account/members/" + target + "/role", "/account/members/" + target + "/delete",
		"/account/keys", "/account/keys/key_x/revoke",
	} {
		form := url.Values{"csrf": {token}, "url": {"http://127.0.0.1:9/x"}, "events": {"*"}, "confirm": {"yes"},
			"grace_period_seconds": {"0"}, "since": {"2026-05-01T00:00"}, "role": {"member"}, "email": {"x@acme.example"},
			"password": {password}, "name": {"k"}, "scopes": {"webhooks:read"}}
		if p := b.post(path, form); p.Status != http.StatusForbidden || !strings.Contains(p.Body, "only owners") {
			t.Errorf("member POST %s: HTTP %d, want 403 saying only owners can", path, p.Status)
		}
	}
	got, _ := e.Ops.Endpoint(ctx, e.A.ID, e.EpA.ID)
	list, _ := e.Ops.EndpointList(ctx, e.A.ID, "", "", 10)
	owner, _ := e.Ops.Member(ctx, e.A.ID, target)
	if got.Status != webhook.EndpointActive || got.SecretPrefix != e.EpA.SecretPrefix || len(list.Items) != 1 || owner.Role != webhook.RoleOwner {
		t.Fatalf("a member's refused forms changed something: %+v, %d endpoints, owner role %s", got, len(list.Items), owner.Role)
	}
}

// disabledControl reports whether the page's button labelled text is
// disabled, on the button itself or by a fieldset around it.
func disabledControl(body, text string) bool {
	m := regexp.MustCompile(`<button[^>]*>` + regexp.QuoteMeta(text) + `</button>`).FindStringIndex(body)
	if m == nil {
		return false
	}
	button := body[m[0]:m[1]]
	if strings.Contains(button[:strings.Index(button, ">")], " disabled") {
		return true
	}
	// The fieldsets open at the button: a stack of their opening tags.
	var open []string
	for _, tag := range regexp.MustCompile(`<fieldset[^>]*>|</fieldset>`).FindAllString(body[:m[0]], -1) {
		if tag == "</fieldset>" {
			open = open[:len(open)-1]
		} else {
			open = append(open, tag)
		}
	}
	for _, tag := range open {
		if strings.Contains(tag, " disabled") {
			return true
		}
	}
	return false
}

// TestOtherAccountsAreNotFound: another account's endpoint and deliveries
// are 404, to read and to act on.
func TestOtherAccountsAreNotFound(t *testing.T) {
	t.Parallel()
	e := setup(t)
	b := e.browser(t)
	token := b.signIn(e.Owner)
	d, err := e.Ops.EndpointSendTest(context.Background(), e.B.ID, e.EpB.ID)
	if err != nil {
		t.Fatal(err)
	}
	theirs := "/webhooks/" + e.EpB.ID
	for _, path := range []string{theirs, theirs + "/deliveries/" + d.ID, "/webhooks/" + e.EpA.ID + "/deliveries/" + d.ID} {
		if p := b.get(path); p.Status != http.StatusNotFound {
			t.Errorf("GET %s: HTTP %d, want 404", path, p.Status)
		}
	}
	for _, path := range []string{theirs + "/disable", theirs + "/rotate", theirs + "/delete", theirs + "/events",
		theirs + "/deliveries/" + d.ID + "/replay", theirs + "/recover"} {
		form := url.Values{"csrf": {token}, "confirm": {"yes"}, "grace_period_seconds": {"0"}, "events": {"*"},
			"url": {"http://127.0.0.1:9/x"}, "since": {"2026-05-01T00:00"}}
		if p := b.post(path, form); p.Status != http.StatusNotFound {
			t.Errorf("POST %s: HTTP %d, want 404", path, p.Status)
		}
	}
	got, err := e.Ops.Endpoint(context.Background(), e.B.ID, e.EpB.ID)
	if err != nil || got.Status != webhook.EndpointActive || got.SecretPrefix != e.EpB.SecretPrefix {
		t.Fatalf("the other account's endpoint changed: %+v, %v", got, err)
	}
	if p := b.get("/"); strings.Contains(p.Body, e.EpB.URL) {
		t.Fatal("the list shows another account's endpoint")
	}
}

func TestSignOutAndRemovalEndSessions(t *testing.T) {
	t.Parallel()
	e := setup(t)
	b := e.browser(t)
	token := b.signIn(e.Admin)
	if p := b.post("/logout", url.Values{"csrf": {token}}); p.Status != http.StatusSeeOther {
		t.Fatalf("sign out: HTTP %d", p.Status)
	}
	if p := b.get("/"); p.Status != http.StatusSeeOther {
		t.Fatalf("after sign-out: HTTP %d, want a redirect to sign in", p.Status)
	}
	// Removing a member ends its sessions at once, on any node.
	m := e.browser(t)
	m.signIn(e.Member)
	owner := e.browser(t)
	ownerToken := owner.signIn(e.Owner)
	members, _ := e.Ops.MemberList(context.Background(), e.A.ID, "", 10)
	if p := owner.post("/account/members/"+members.Items[2].ID+"/delete", url.Values{"csrf": {ownerToken}}); p.Status != http.StatusSeeOther {
		t.Fatalf("remove member: HTTP %d: %.300s", p.Status, p.Body)
	}
	if p := m.get("/"); p.Status != http.StatusSeeOther {
		t.Fatalf("removed member's session: HTTP %d, want a redirect to sign in", p.Status)
	}
}

// TestRefusalsSayWhatTheAPISays: the dashboard shows the operations
// layer's message, the one the API and the CLI give.
func TestRefusalsSayWhatTheAPISays(t *testing.T) {
	t.Parallel()
	e := setup(t)
	b := e.browser(t)
	token := b.signIn(e.Owner)
	p := b.post("/webhooks", url.Values{"csrf": {token}, "url": {"http://127.0.0.1:9/new"}})
	_, _, want := e.Ops.EndpointCreate(context.Background(), e.A.ID, operations.EndpointInput{URL: ptr("http://127.0.0.1:9/new")})
	if p.Status != http.StatusBadRequest || want == nil || !strings.Contains(p.Body, htmlEscape(want.Error())) {
		t.Fatalf("create without events: HTTP %d; want 400 showing %q", p.Status, want)
	}
	p = b.post("/account/members", url.Values{"csrf": {token}, "email": {"not-an-email"}, "role": {"member"}, "password": {password}})
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "is not an email address like name@example.com") {
		t.Fatalf("bad email: HTTP %d", p.Status)
	}
	p = b.post("/account/members/"+mustMember(t, e, e.Owner).ID+"/delete", url.Values{"csrf": {token}})
	if p.Status != http.StatusConflict {
		t.Fatalf("removing the primary owner: HTTP %d, want 409", p.Status)
	}
}

func mustMember(t *testing.T, e *env, email string) webhook.Member {
	t.Helper()
	page, err := e.Ops.MemberList(context.Background(), e.A.ID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range page.Items {
		if m.Email == email {
			return m
		}
	}
	t.Fatalf("no member %s", email)
	return webhook.Member{}
}

func ptr[T any](v T) *T { return &v }

func htmlEscape(s string) string {
	return strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&#34;", `'`, "&#39;").Replace(s)
}

// TestSecretsShownOnce: the created endpoint's secret and a new API key are
// in the answer to their form, and on no page after.
func TestSecretsShownOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	b := e.browser(t)
	token := b.signIn(e.Owner)
	p := b.post("/webhooks", url.Values{"csrf": {token}, "url": {"http://127.0.0.1:9/new"}, "events": {"generation.completed"}})
	secret := regexpFind(t, p.Body, `value="(whsec_[^"]+)"`)
	if p.Status != http.StatusCreated || p.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: HTTP %d Cache-Control %q", p.Status, p.Header.Get("Cache-Control"))
	}
	list := b.get("/")
	id := regexpFind(t, list.Body, `href="/webhooks/(wh_[a-z0-9]+)">http://127.0.0.1:9/new`)
	if strings.Contains(list.Body, secret) || strings.Contains(b.get("/webhooks/"+id).Body, secret) {
		t.Fatal("the secret appears again after creation")
	}
	p = b.post("/account/keys", url.Values{"csrf": {token}, "name": {"ci"}, "scopes": {"webhooks:read", "events:publish"}})
	key := regexpFind(t, p.Body, `value="(hrk_[^"]+)"`)
	if strings.Contains(b.get("/account").Body, key) {
		t.Fatal("the API key appears again after creation")
	}
}
