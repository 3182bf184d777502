package dashboard_test

// Owner actions that succeed. dashboard_test.go shows that members are
// refused each management form; these tests show that an owner's form
// really does what its button says, by looking for the outcome where a
// customer would: at the receiver, in the API, in a later sign-in, in
// what a changed role may do next.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/auth"
	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// liveEnv is the running service of the browser tests (API, dashboard,
// intake and dispatcher over SQLite, with a verifying receiver) seen as an
// env, so that the form-posting helpers drive it over HTTP. Acme gets an
// owner beside its primary owner, so both managing roles can be tried.
func liveEnv(t *testing.T) (*live, *env) {
	t.Helper()
	l := startLive(t)
	e := &env{URL: l.base, Ops: l.app.Ops, Store: l.app.Store, A: l.acme, B: l.rival,
		Owner: l.owner, Member: l.member, OwnerB: "owner@rival.example", EpB: l.epRival}
	e.Admin = addMember(t, e, "admin@acme.example", webhook.RoleOwner)
	return l, e
}

func addMember(t *testing.T, e *env, email, role string) string {
	t.Helper()
	pw := password
	if _, err := e.Ops.MemberCreate(context.Background(), operations.Operator, e.A.ID,
		operations.MemberInput{Email: &email, Role: &role, Password: &pw}); err != nil {
		t.Fatal(err)
	}
	return email
}

// apiKey makes an account key the way the operator would, to look at the
// account through the API.
func apiKey(t *testing.T, e *env, scopes ...string) string {
	t.Helper()
	name := "checker"
	k, err := e.Ops.APIKeyCreate(context.Background(), operations.Operator, e.A.ID, &name, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return k.Key
}

// apiCall is the customer's server asking the API: what it sees is what
// a dashboard action must have changed.
func apiCall(t *testing.T, e *env, key, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	p := read(t, resp)
	return p.Status, p.Body
}

// apiData decodes a successful answer, failing on any other so that a
// check never passes on an error envelope.
func apiData[T any](t *testing.T, status int, body string, want int) T {
	t.Helper()
	var env struct {
		Success bool `json:"success"`
		Data    T    `json:"data"`
	}
	if status != want || json.Unmarshal([]byte(body), &env) != nil || !env.Success {
		t.Fatalf("API: HTTP %d, want %d: %.400s", status, want, body)
	}
	return env.Data
}

type apiWebhook struct {
	ID          string   `json:"webhook_id"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
}

// eventually polls until cond holds: the dispatcher records an attempt
// after the receiver has answered, so the receiver seeing a request comes
// a little before the log saying so.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 15 s", what)
		}
		<-tick.C
	}
}

// follow checks that a form answered 303 to want and fetches it, as a
// browser would, because the outcome is shown on the page it leads to.
func (b *browser) follow(p page, want string) page {
	b.t.Helper()
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != want {
		b.t.Fatalf("HTTP %d to %q, want 303 to %q: %.400s", p.Status, p.Header.Get("Location"), want, p.Body)
	}
	return b.get(want)
}

// TestOwnerSendsTestEvent: Send test event, by the primary owner and by an
// owner, creates a webhook.test delivery that reaches the receiver signed
// with the endpoint's secret — although the endpoint does not subscribe
// to webhook.test — and the events table shows it delivered with the
// receiver's 200.
func TestOwnerSendsTestEvent(t *testing.T) {
	t.Parallel()
	l, e := liveEnv(t)
	u := l.receiver.URL + "/test-events"
	ep, secret, err := e.Ops.EndpointCreate(context.Background(), e.A.ID, operations.EndpointInput{URL: &u, Events: []string{"generation.completed"}})
	if err != nil {
		t.Fatal(err)
	}
	l.receiver.useSecret(t, secret)
	details := "/webhooks/" + ep.ID
	seen := map[string]bool{}
	for _, c := range []struct{ role, email string }{
		{"primary owner", e.Owner},
		{"owner", e.Admin},
	} {
		t.Run(c.role, func(t *testing.T) {
			b := e.browser(t)
			token := b.signIn(c.email)
			page := b.follow(b.post(details+"/test", url.Values{"csrf": {token}}), details+"?done=test")
			if !strings.Contains(page.Body, "Test event sent.") {
				t.Fatal("no notice that the test event was sent")
			}
			id := l.receiver.wait(t, "the test event")
			if seen[id] {
				t.Fatalf("delivery %s arrived again; each Send test event is a new delivery", id)
			}
			seen[id] = true
			var got webhook.Delivery
			eventually(t, "delivery "+id+" recorded as delivered", func() bool {
				got, err = e.Ops.Delivery(context.Background(), e.A.ID, ep.ID, id)
				return err == nil && got.Status == webhook.StatusDelivered
			})
			if got.EventType != webhook.EventTypeTest || got.LastStatusCode != http.StatusOK {
				t.Fatalf("the delivery that arrived is %s with status code %d, want %s and 200", got.EventType, got.LastStatusCode, webhook.EventTypeTest)
			}
			row := regexpFind(t, b.get(details).Body, `(?s)<tr>\s*<td><a href="`+regexp.QuoteMeta(details+"/deliveries/"+id)+`"(.*?)</tr>`)
			for _, want := range []string{">" + webhook.EventTypeTest + "</a>", ">delivered</span>", "<td>200</td>"} {
				if !strings.Contains(row, want) {
					t.Errorf("events table row of %s lacks %q: %s", id, want, row)
				}
			}
			one := b.get(details + "/deliveries/" + id)
			if one.Status != http.StatusOK || !strings.Contains(one.Body, "This is a test event from hookrelay.") || !strings.Contains(one.Body, `{&#34;received&#34;:true}`) {
				t.Fatalf("the delivery's page (HTTP %d) lacks the test payload or the receiver's answer", one.Status)
			}
		})
	}
}

// TestOwnerDeletesEndpoint: Delete endpoint without its confirmation box
// changes nothing; with it, the endpoint is gone from the dashboard, the
// API and the operations layer, and new events no longer go to it.
func TestOwnerDeletesEndpoint(t *testing.T) {
	t.Parallel()
	_, e := liveEnv(t)
	ctx := context.Background()
	key := apiKey(t, e, auth.ScopeWebhooksRead, auth.ScopeEventsPublish)
	u := "http://127.0.0.1:9/to-delete"
	ep, _, err := e.Ops.EndpointCreate(ctx, e.A.ID, operations.EndpointInput{URL: &u, Events: []string{"generation.completed"}})
	if err != nil {
		t.Fatal(err)
	}
	details := "/webhooks/" + ep.ID
	b := e.browser(t)
	token := b.signIn(e.Admin)

	for _, c := range []struct {
		name    string
		confirm []string
	}{
		{"box not ticked", nil},
		{"empty", []string{""}},
		{"another value", []string{"no"}},
	} {
		form := url.Values{"csrf": {token}}
		if c.confirm != nil {
			form["confirm"] = c.confirm
		}
		p := b.post(details+"/delete", form)
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "tick the box to confirm") {
			t.Fatalf("delete, confirmation %s: HTTP %d, want 400 asking to tick the box", c.name, p.Status)
		}
		if _, err := e.Ops.Endpoint(ctx, e.A.ID, ep.ID); err != nil {
			t.Fatalf("delete, confirmation %s, removed the endpoint: %v", c.name, err)
		}
	}

	list := b.follow(b.post(details+"/delete", url.Values{"csrf": {token}, "confirm": {"yes"}}), "/?done=deleted")
	if !strings.Contains(list.Body, "Endpoint deleted.") || strings.Contains(list.Body, ep.ID) || strings.Contains(list.Body, u) {
		t.Fatal("the list after deletion lacks the notice or still shows the endpoint")
	}
	if p := b.get(details); p.Status != http.StatusNotFound {
		t.Fatalf("details of the deleted endpoint: HTTP %d, want 404", p.Status)
	}
	if p := b.post(details+"/delete", url.Values{"csrf": {token}, "confirm": {"yes"}}); p.Status != http.StatusNotFound {
		t.Fatalf("deleting it again: HTTP %d, want 404", p.Status)
	}
	if status, body := apiCall(t, e, key, http.MethodGet, "/v1/webhooks/"+ep.ID, ""); status != http.StatusNotFound {
		t.Fatalf("API GET of the deleted endpoint: HTTP %d, want 404: %.300s", status, body)
	}
	status, body := apiCall(t, e, key, http.MethodGet, "/v1/webhooks", "")
	for _, w := range apiData[[]apiWebhook](t, status, body, http.StatusOK) {
		if w.ID == ep.ID {
			t.Fatal("the API still lists the deleted endpoint")
		}
	}
	page, err := e.Ops.EndpointList(ctx, e.A.ID, "", "", 250)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(page.Items, func(x webhook.Endpoint) bool { return x.ID == ep.ID }) {
		t.Fatal("the operations layer still lists the deleted endpoint")
	}
	status, body = apiCall(t, e, key, http.MethodPost, "/v1/events", `{"event_type":"generation.completed","data":{"n":1}}`)
	if n := apiData[struct{ Deliveries int }](t, status, body, http.StatusAccepted).Deliveries; n != 0 {
		t.Fatalf("an event after the deletion made %d deliveries; the account has no endpoint left", n)
	}
}

// TestOwnerEditsSubscribedEvents: Save changes stores the ticked events
// (and the URL and description sent with them), the page ticks them
// again, the API returns them, and publishing follows them at once.
func TestOwnerEditsSubscribedEvents(t *testing.T) {
	t.Parallel()
	l, e := liveEnv(t)
	key := apiKey(t, e, auth.ScopeWebhooksRead, auth.ScopeEventsPublish)
	u := l.receiver.URL + "/edited"
	ep, secret, err := e.Ops.EndpointCreate(context.Background(), e.A.ID, operations.EndpointInput{URL: &u, Events: []string{"generation.completed"}})
	if err != nil {
		t.Fatal(err)
	}
	l.receiver.useSecret(t, secret)
	details := "/webhooks/" + ep.ID
	b := e.browser(t)
	token := b.signIn(e.Owner)
	catalog := []string{"generation.completed", "generation.failed", "credits.low_balance"}
	ticked := regexp.MustCompile(`name="events" value="([^"]+)" checked>`)

	for i, c := range []struct {
		name   string
		ticked []string
		want   []string
	}{
		{"two types", []string{"generation.completed", "generation.failed"}, []string{"generation.completed", "generation.failed"}},
		{"another type only", []string{"credits.low_balance"}, []string{"credits.low_balance"}},
		{"all events", []string{"*"}, []string{"*"}},
		{"back from all to one", []string{"generation.failed"}, []string{"generation.failed"}},
		{"a type ticked twice", []string{"generation.completed", "generation.completed"}, []string{"generation.completed"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			description := "edit " + strconv.Itoa(i)
			p := b.post(details+"/events", url.Values{"csrf": {token}, "url": {u}, "description": {description}, "events": c.ticked})
			page := b.follow(p, details+"?done=updated")
			if !strings.Contains(page.Body, "Endpoint updated.") {
				t.Fatal("no notice that the endpoint was updated")
			}
			var shown []string
			for _, m := range ticked.FindAllStringSubmatch(page.Body, -1) {
				shown = append(shown, m[1])
			}
			if !sameSet(shown, c.want) {
				t.Errorf("the edit form ticks %v, want %v", shown, c.want)
			}
			got, err := e.Ops.Endpoint(context.Background(), e.A.ID, ep.ID)
			if err != nil || !sameSet(got.Events, c.want) || got.URL != u || got.Description != description {
				t.Fatalf("stored: events %v, URL %q, description %q (%v); want %v, %q, %q", got.Events, got.URL, got.Description, err, c.want, u, description)
			}
			status, body := apiCall(t, e, key, http.MethodGet, "/v1/webhooks/"+ep.ID, "")
			if w := apiData[apiWebhook](t, status, body, http.StatusOK); !sameSet(w.Events, c.want) {
				t.Fatalf("the API says events %v, want %v", w.Events, c.want)
			}
			for _, typ := range catalog {
				want := 0
				if slices.Contains(c.want, typ) || slices.Equal(c.want, []string{"*"}) {
					want = 1
				}
				status, body := apiCall(t, e, key, http.MethodPost, "/v1/events", `{"event_type":"`+typ+`","data":{"n":1}}`)
				if n := apiData[struct{ Deliveries int }](t, status, body, http.StatusAccepted).Deliveries; n != want {
					t.Errorf("publishing %s after subscribing to %v made %d deliveries, want %d", typ, c.want, n, want)
				}
			}
		})
	}

	// Nothing ticked is refused and leaves the last subscription in force.
	p := b.post(details+"/events", url.Values{"csrf": {token}, "url": {u}})
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "events: must be a non-empty array") {
		t.Fatalf("no event ticked: HTTP %d, want 400 naming events", p.Status)
	}
	if got, _ := e.Ops.Endpoint(context.Background(), e.A.ID, ep.ID); !slices.Equal(got.Events, []string{"generation.completed"}) {
		t.Fatalf("a refused edit changed the events to %v", got.Events)
	}
}

// sameSet compares in any order; a duplicate on one side only differs.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// roleCell matches the account page's row of a member with its role.
func roleCell(email, role string) *regexp.Regexp {
	return regexp.MustCompile(`<td>` + regexp.QuoteMeta(email) + `(?: <span class="hint">\(you\)</span>)?</td>\s*<td>` +
		regexp.QuoteMeta(strings.ReplaceAll(role, "-", " ")) + `</td>`)
}

// mayManage tries a management action with a session that signed in
// before any role change, and reports whether it was allowed: the role
// that counts is the member's role now, not at sign-in.
func mayManage(t *testing.T, e *env, b *browser, token string) bool {
	t.Helper()
	ctx := context.Background()
	details := "/webhooks/" + e.EpA.ID
	p := b.post(details+"/disable", url.Values{"csrf": {token}})
	ep, err := e.Ops.Endpoint(ctx, e.A.ID, e.EpA.ID)
	if err != nil {
		t.Fatal(err)
	}
	page := b.get(details)
	switch {
	case p.Status == http.StatusSeeOther && ep.Status == webhook.EndpointDisabled:
		if disabledControl(page.Body, "Enable endpoint") {
			t.Error("allowed to manage, but the page shows Enable endpoint disabled")
		}
		if _, err := e.Ops.EndpointSetActive(ctx, e.A.ID, e.EpA.ID, true); err != nil {
			t.Fatal(err)
		}
		return true
	case p.Status == http.StatusForbidden && strings.Contains(p.Body, "only owners") && ep.Status == webhook.EndpointActive:
		if !disabledControl(page.Body, "Disable endpoint") {
			t.Error("refused to manage, but the page shows Disable endpoint enabled")
		}
		return false
	}
	t.Fatalf("disable: HTTP %d, endpoint %s: neither done nor refused", p.Status, ep.Status)
	return false
}

// TestOwnerChangesMemberRole: Change role stores the new role, the
// account page shows it, and the member's session, already open, gets the
// new role's powers (or loses them) on its next request.
func TestOwnerChangesMemberRole(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name       string
		by, target func(*env) string
		role       string
		manage     bool
	}{
		{"primary owner promotes a member", func(e *env) string { return e.Owner }, func(e *env) string { return e.Member }, webhook.RoleOwner, true},
		{"owner promotes a member", func(e *env) string { return e.Admin }, func(e *env) string { return e.Member }, webhook.RoleOwner, true},
		{"primary owner demotes an owner", func(e *env) string { return e.Owner }, func(e *env) string { return e.Admin }, webhook.RoleMember, false},
		{"owner demotes itself", func(e *env) string { return e.Admin }, func(e *env) string { return e.Admin }, webhook.RoleMember, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			by, target := c.by(e), c.target(e)
			tb := e.browser(t)
			targetToken := tb.signIn(target)
			b, token := tb, targetToken
			if by != target {
				b = e.browser(t)
				token = b.signIn(by)
			}
			id := mustMember(t, e, target).ID
			action := "/account/members/" + id + "/role"
			if !strings.Contains(b.get("/account").Body, `action="`+action+`"`) {
				t.Fatalf("the account page has no Change role form for %s", target)
			}
			page := b.follow(b.post(action, url.Values{"csrf": {token}, "role": {c.role}}), "/account?done=role")
			if !strings.Contains(page.Body, "Role changed.") || !roleCell(target, c.role).MatchString(page.Body) {
				t.Fatalf("the account page does not show %s as %s", target, c.role)
			}
			if m := mustMember(t, e, target); m.Role != c.role {
				t.Fatalf("stored role %s, want %s", m.Role, c.role)
			}
			if got := mayManage(t, e, tb, targetToken); got != c.manage {
				t.Fatalf("as %s, %s may manage = %v, want %v", c.role, target, got, c.manage)
			}
		})
	}
}

// TestPrimaryOwnerTransfersOwnership: the primary owner hands the role to
// an owner or a member; there is still exactly one primary owner, the
// previous one is an ordinary owner (it manages, cannot transfer any
// more, and the new primary owner may demote it), and the new one may
// transfer.
func TestPrimaryOwnerTransfersOwnership(t *testing.T) {
	t.Parallel()
	const transferOption = `<option value="primary-owner">primary owner (transfer from you)</option>`
	for _, c := range []struct {
		name   string
		target func(*env) string
	}{
		{"to an owner", func(e *env) string { return e.Admin }},
		{"to a member", func(e *env) string { return e.Member }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			ctx := context.Background()
			target := c.target(e)
			nb := e.browser(t)
			newToken := nb.signIn(target)
			ob := e.browser(t)
			oldToken := ob.signIn(e.Owner)
			if !strings.Contains(ob.get("/account").Body, transferOption) {
				t.Fatal("the primary owner's account page offers no transfer")
			}
			targetID, oldID := mustMember(t, e, target).ID, mustMember(t, e, e.Owner).ID
			page := ob.follow(ob.post("/account/members/"+targetID+"/role", url.Values{"csrf": {oldToken}, "role": {webhook.RolePrimaryOwner}}), "/account?done=role")
			if !roleCell(target, webhook.RolePrimaryOwner).MatchString(page.Body) || !roleCell(e.Owner, webhook.RoleOwner).MatchString(page.Body) {
				t.Fatal("the account page does not show the new primary owner and the old one as owner")
			}
			if strings.Contains(page.Body, transferOption) {
				t.Fatal("the previous primary owner is still offered the transfer")
			}
			members, err := e.Ops.MemberList(ctx, e.A.ID, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			var primaries []string
			for _, m := range members.Items {
				if m.Role == webhook.RolePrimaryOwner {
					primaries = append(primaries, m.Email)
				}
			}
			if !slices.Equal(primaries, []string{target}) || mustMember(t, e, e.Owner).Role != webhook.RoleOwner {
				t.Fatalf("primary owners %v, previous one %s; want only %s, and owner", primaries, mustMember(t, e, e.Owner).Role, target)
			}

			if !mayManage(t, e, ob, oldToken) {
				t.Fatal("the previous primary owner can no longer manage; an owner can")
			}
			p := ob.post("/account/members/"+oldID+"/role", url.Values{"csrf": {oldToken}, "role": {webhook.RolePrimaryOwner}})
			if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "only the primary owner can transfer primary ownership") {
				t.Fatalf("the previous primary owner taking the role back: HTTP %d, want 403", p.Status)
			}
			if mustMember(t, e, target).Role != webhook.RolePrimaryOwner {
				t.Fatal("a refused transfer moved the primary owner")
			}

			if !strings.Contains(nb.get("/account").Body, transferOption) {
				t.Fatal("the new primary owner is not offered the transfer")
			}
			nb.follow(nb.post("/account/members/"+oldID+"/role", url.Values{"csrf": {newToken}, "role": {webhook.RoleMember}}), "/account?done=role")
			if mayManage(t, e, ob, oldToken) {
				t.Fatal("the previous primary owner, demoted to member, can still manage")
			}
		})
	}
}

// TestOwnerAddsMember: Add member creates a login with the role and
// password given; the new member signs in with them at once and has that
// role's powers. The same email twice is refused.
func TestOwnerAddsMember(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		by     func(*env) string
		role   string
		manage bool
	}{
		{"primary owner adds a member", func(e *env) string { return e.Owner }, webhook.RoleMember, false},
		{"owner adds an owner", func(e *env) string { return e.Admin }, webhook.RoleOwner, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			b := e.browser(t)
			token := b.signIn(c.by(e))
			const typed, email, pw = "  New.Person@Acme.Example ", "new.person@acme.example", "a fresh password 7"
			form := url.Values{"csrf": {token}, "email": {typed}, "role": {c.role}, "password": {pw}}
			page := b.follow(b.post("/account/members", form), "/account?done=added")
			if !strings.Contains(page.Body, "Member added.") || !roleCell(email, c.role).MatchString(page.Body) {
				t.Fatalf("the account page does not list %s as %s", email, c.role)
			}
			if m := mustMember(t, e, email); m.Role != c.role {
				t.Fatalf("stored role %s, want %s", m.Role, c.role)
			}

			nb := e.browser(t)
			if p := nb.tryLogin(email, pw); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/" {
				t.Fatalf("the new member signs in: HTTP %d to %q, want 303 to /", p.Status, p.Header.Get("Location"))
			}
			home := nb.get("/")
			if home.Status != http.StatusOK || !strings.Contains(home.Body, e.EpA.URL) {
				t.Fatalf("the new member's list: HTTP %d, without the account's endpoint", home.Status)
			}
			if got := mayManage(t, e, nb, csrfOf(t, home)); got != c.manage {
				t.Fatalf("the new %s may manage = %v, want %v", c.role, got, c.manage)
			}

			p := b.post("/account/members", form)
			if p.Status != http.StatusConflict || !strings.Contains(p.Body, "already has a member with this email") {
				t.Fatalf("adding %s again: HTTP %d, want 409", email, p.Status)
			}
			members, _ := e.Ops.MemberList(context.Background(), e.A.ID, "", 100)
			if len(members.Items) != 4 {
				t.Fatalf("%d members after adding one, want 4", len(members.Items))
			}
		})
	}
}

// TestOwnerRevokesAPIKey: a key created on the account page works against
// the API until Revoke; from then on the API refuses it (401) while the
// account's other key keeps working, and the page shows it revoked.
func TestOwnerRevokesAPIKey(t *testing.T) {
	t.Parallel()
	_, e := liveEnv(t)
	b := e.browser(t)
	token := b.signIn(e.Admin)
	keys := map[string]string{}
	for _, name := range []string{"ci", "backend"} {
		p := b.post("/account/keys", url.Values{"csrf": {token}, "name": {name}, "scopes": {auth.ScopeWebhooksRead}})
		if p.Status != http.StatusCreated {
			t.Fatalf("create key %s: HTTP %d", name, p.Status)
		}
		keys[name] = regexpFind(t, p.Body, `value="(hrk_[^"]+)"`)
		if status, body := apiCall(t, e, keys[name], http.MethodGet, "/v1/webhooks", ""); status != http.StatusOK {
			t.Fatalf("key %s before revocation: HTTP %d: %.300s", name, status, body)
		}
	}
	revoke := regexpFind(t, b.get("/account").Body,
		`<form method="post" action="(/account/keys/[^"]+/revoke)" class="inline">\s*<input[^>]*>\s*<button[^>]*aria-label="Revoke key ci"`)
	page := b.follow(b.post(revoke, url.Values{"csrf": {token}}), "/account?done=revoked")
	if !strings.Contains(page.Body, "API key revoked.") || strings.Contains(page.Body, `aria-label="Revoke key ci"`) ||
		!regexp.MustCompile(`<td>ci</td>(?s:.*?)revoked \d{4}-`).MatchString(page.Body) {
		t.Fatal("the account page does not show the key ci revoked")
	}
	status, body := apiCall(t, e, keys["ci"], http.MethodGet, "/v1/webhooks", "")
	if status != http.StatusUnauthorized || !strings.Contains(body, "invalid or revoked API key") {
		t.Fatalf("the revoked key: HTTP %d, want 401: %.300s", status, body)
	}
	if status, body := apiCall(t, e, keys["backend"], http.MethodGet, "/v1/webhooks", ""); status != http.StatusOK {
		t.Fatalf("the other key after revoking ci: HTTP %d: %.300s", status, body)
	}

	// The form revokes only in the owner's own account, whatever id it is
	// given.
	name := "rival key"
	theirs, err := e.Ops.APIKeyCreate(context.Background(), operations.Operator, e.B.ID, &name, []string{auth.ScopeWebhooksRead})
	if err != nil {
		t.Fatal(err)
	}
	if p := b.post("/account/keys/"+theirs.ID+"/revoke", url.Values{"csrf": {token}}); p.Status != http.StatusNotFound {
		t.Fatalf("revoking another account's key: HTTP %d, want 404", p.Status)
	}
	if status, body := apiCall(t, e, theirs.Key, http.MethodGet, "/v1/webhooks", ""); status != http.StatusOK {
		t.Fatalf("another account's key after the refused revocation: HTTP %d: %.300s", status, body)
	}
}

// TestOwnerSearchesEndpoints: the search box narrows the endpoint table to
// the account's endpoints whose URL or description contains the text,
// literally (% and _ are not wildcards), and its "more" link keeps the
// search.
func TestOwnerSearchesEndpoints(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	mk := func(u, description string) string {
		ep, _, err := e.Ops.EndpointCreate(ctx, e.A.ID, operations.EndpointInput{URL: &u, Description: &description, Events: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		return ep.ID
	}
	acme := e.EpA.ID // http://127.0.0.1:9/acme
	orders := mk("http://127.0.0.1:9/orders/v2", "")
	mirror := mk("http://127.0.0.1:9/render", "orders mirror for staging")
	percent := mk("http://127.0.0.1:9/sink", "samples 50% of traffic")
	underscore := mk("http://127.0.0.1:9/audit", "keeps sample_rate at one")
	b := e.browser(t)
	b.signIn(e.Owner)
	rowLink := regexp.MustCompile(`<td><a href="/webhooks/(wh_[^"]+)">`)
	rows := func(p page) []string {
		var ids []string
		for _, m := range rowLink.FindAllStringSubmatch(p.Body, -1) {
			ids = append(ids, m[1])
		}
		return ids
	}

	for _, c := range []struct {
		search string
		want   []string
	}{
		{"", []string{acme, orders, mirror, percent, underscore}},
		{"127.0.0.1:9/", []string{acme, orders, mirror, percent, underscore}},
		{"orders", []string{orders, mirror}},
		{"staging", []string{mirror}},
		{"/acme", []string{acme}},
		{"50%", []string{percent}},
		{"%", []string{percent}},
		{"_", []string{underscore}},
		{"rival", nil}, // another account's endpoint
		{"<b>nowhere</b>", nil},
	} {
		t.Run(c.search, func(t *testing.T) {
			p := b.get("/?search=" + url.QueryEscape(c.search))
			if p.Status != http.StatusOK {
				t.Fatalf("HTTP %d", p.Status)
			}
			if got := rows(p); !sameSet(got, c.want) {
				t.Fatalf("rows %v, want %v", got, c.want)
			}
			if c.search == "" {
				return
			}
			if !strings.Contains(p.Body, `name="search" type="search" maxlength="200" value="`+htmlEscape(c.search)+`"`) {
				t.Error("the search box does not keep the text searched")
			}
			if c.want == nil && !strings.Contains(p.Body, "No endpoint matches “"+htmlEscape(c.search)+"”") {
				t.Error("no message that nothing matches")
			}
			if strings.Contains(p.Body, "<b>nowhere") {
				t.Error("the search text is on the page unescaped")
			}
		})
	}

	// More matches than a page: the "more" link carries the search, so
	// the second page is still narrowed.
	bulk := map[string]bool{}
	for i := range 53 {
		bulk[mk("http://127.0.0.1:9/bulk/"+strconv.Itoa(i), "")] = true
	}
	first := b.get("/?search=bulk")
	next := regexpFind(t, first.Body, `<a href="(/\?search=bulk&amp;cursor=[^"]+)">More endpoints</a>`)
	second := b.get(strings.ReplaceAll(next, "&amp;", "&"))
	got := append(rows(first), rows(second)...)
	if len(rows(first)) != 50 || len(got) != len(bulk) || strings.Contains(second.Body, "More endpoints") {
		t.Fatalf("search=bulk: %d rows then %d (next link %v), want 50 then %d", len(rows(first)), len(rows(second)),
			strings.Contains(second.Body, "More endpoints"), len(bulk)-50)
	}
	for _, id := range got {
		if !bulk[id] {
			t.Fatalf("search=bulk shows %s, which does not match", id)
		}
		delete(bulk, id)
	}
}
