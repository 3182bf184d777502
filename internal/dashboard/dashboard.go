// Package dashboard serves the pages a platform's customers open when a
// webhook stops arriving (SPEC §5, seeds 000 and 001): sign-in, the
// endpoint list, an endpoint's details with its delivery log, one
// delivery with every attempt, and the account's members and API keys.
//
// Pages are rendered on the server from embedded html/template files and
// every action is an ordinary form, so nothing needs JavaScript; one small
// script adds copy buttons. Every action goes through the operations
// layer, the same one the API and the admin CLI call.
//
// Security: sessions live in the store (revocable, with idle and absolute
// lifetimes) behind an HttpOnly, SameSite=Lax cookie that is Secure over
// TLS or when the public URL is https; every form carries a CSRF token
// derived from the session; sign-in is rate limited per address and per
// email; members see management actions disabled and the server refuses
// them (403); another account's objects are 404.
package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// Operations is what the dashboard asks of the operations layer.
type Operations interface {
	SignIn(ctx context.Context, email, password string) (string, webhook.Member, error)
	Session(ctx context.Context, token string) (store.Session, error)
	SignOut(ctx context.Context, token string) error
	SessionLifetimes() (idle, absolute time.Duration)

	Account(ctx context.Context, id string) (webhook.Account, error)
	Subscribable(ctx context.Context, account string, current []string) ([]webhook.EventType, error)

	EndpointList(ctx context.Context, account, search, cursor string, limit int) (store.Page[webhook.Endpoint], error)
	Endpoint(ctx context.Context, account, id string) (webhook.Endpoint, error)
	EndpointCreate(ctx context.Context, account string, in operations.EndpointInput) (webhook.Endpoint, string, error)
	EndpointUpdate(ctx context.Context, account, id string, p operations.EndpointPatch) (webhook.Endpoint, error)
	EndpointDelete(ctx context.Context, account, id string) error
	EndpointSetActive(ctx context.Context, account, id string, active bool) (webhook.Endpoint, error)
	EndpointRotateSecret(ctx context.Context, account, id string, graceSeconds int64) (operations.Rotation, error)
	EndpointSendTest(ctx context.Context, account, id string) (webhook.Delivery, error)
	EndpointDeliverQueued(ctx context.Context, account, id string) (int, error)
	Hourly(ctx context.Context, account, endpointID string, window time.Duration) ([]store.HourlyCount, error)

	DeliveryList(ctx context.Context, account, endpointID string, q operations.DeliveryQuery) (store.Page[webhook.Delivery], error)
	Delivery(ctx context.Context, account, endpointID, id string) (webhook.Delivery, error)
	DeliveryReplay(ctx context.Context, account, endpointID, id string) (webhook.Delivery, error)
	DeliveriesRecover(ctx context.Context, account, endpointID string, since time.Time, until *time.Time) (int, error)

	MemberList(ctx context.Context, account, cursor string, limit int) (store.Page[webhook.Member], error)
	MemberCreate(ctx context.Context, by operations.Actor, account string, in operations.MemberInput) (webhook.Member, error)
	MemberUpdate(ctx context.Context, by operations.Actor, account, id string, p operations.MemberPatch) (webhook.Member, error)
	MemberDelete(ctx context.Context, by operations.Actor, account, id string) (webhook.Member, error)

	APIKeyList(ctx context.Context, account, cursor string, limit int) (store.Page[webhook.APIKey], error)
	APIKeyCreate(ctx context.Context, by operations.Actor, account string, name *string, scopes []string) (operations.NewAPIKey, error)
	APIKeyRevoke(ctx context.Context, by operations.Actor, account, id string) (webhook.APIKey, error)
}

// Deps is what the dashboard is built from; main wires it.
type Deps struct {
	Ops Operations
	// Signer names the headers of a delivery's requests, shown per attempt.
	Signer *signing.Signer
	// PublicURL is where members reach the dashboard; an https URL makes
	// cookies Secure even behind a proxy that ends TLS.
	PublicURL string
	Clock     clock.Clock
	Log       *slog.Logger
	// Box seals the cursors of the pages' "more" links (nil: they are the
	// store's, unsealed; tests only).
	Box *secretbox.Box
	// SignInLimit is how many failed sign-ins per address and per email a
	// minute allows; the next is refused (429). 0 takes 5.
	SignInLimit int
}

// Dashboard is the HTTP handler of the pages.
type Dashboard struct {
	Deps
	mux     *http.ServeMux
	pages   *pages
	limits  *signInLimiter
	secure  bool
	cursors *secretbox.Box
}

// Cookie names. The sign-in cookie only carries the login form's CSRF
// secret before a session exists.
const (
	sessionCookie = "hookrelay_session"
	signInCookie  = "hookrelay_signin"
)

// New builds the dashboard.
func New(d Deps) (*Dashboard, error) {
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.SignInLimit <= 0 {
		d.SignInLimit = 5
	}
	if d.Signer == nil {
		d.Signer = signing.NewSigner("", "")
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	db := &Dashboard{Deps: d, mux: http.NewServeMux(), pages: p,
		limits: newSignInLimiter(d.SignInLimit, time.Minute, 10000),
		secure: strings.HasPrefix(strings.ToLower(d.PublicURL), "https://")}
	if d.Box != nil {
		db.cursors = d.Box.Derive("dashboard cursors")
	}
	db.routes()
	return db, nil
}

func (d *Dashboard) routes() {
	d.mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles()))
	d.mux.HandleFunc("GET /login", d.loginPage)
	d.mux.HandleFunc("POST /login", d.login)
	d.action("POST /logout", false, d.logout)

	d.page("GET /{$}", d.webhooksPage)
	d.action("POST /webhooks", true, d.createWebhook)
	d.page("GET /webhooks/{id}", d.webhookPage)
	d.action("POST /webhooks/{id}/events", true, d.updateEvents)
	d.action("POST /webhooks/{id}/enable", true, d.enable)
	d.action("POST /webhooks/{id}/disable", true, d.disable)
	d.action("POST /webhooks/{id}/rotate", true, d.rotate)
	d.action("POST /webhooks/{id}/test", true, d.sendTest)
	d.action("POST /webhooks/{id}/deliver-queued", true, d.deliverQueued)
	d.action("POST /webhooks/{id}/recover", true, d.recoverFailed)
	d.action("POST /webhooks/{id}/delete", true, d.deleteWebhook)
	d.page("GET /webhooks/{id}/deliveries/{did}", d.deliveryPage)
	d.action("POST /webhooks/{id}/deliveries/{did}/replay", true, d.replay)

	d.page("GET /account", d.accountPage)
	d.action("POST /account/members", true, d.addMember)
	d.action("POST /account/members/{mid}/role", true, d.changeRole)
	d.action("POST /account/members/{mid}/delete", true, d.removeMember)
	d.action("POST /account/keys", true, d.createKey)
	d.action("POST /account/keys/{kid}/revoke", true, d.revokeKey)
}

// ServeHTTP serves a page with the headers every page needs and never lets
// a panic take the process down.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			d.Log.Error("panic in dashboard", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	if _, pattern := d.mux.Handler(r); pattern == "" {
		d.notFoundPage(w, r)
		return
	}
	d.mux.ServeHTTP(w, r)
}

// request is one signed-in request.
type request struct {
	w       http.ResponseWriter
	r       *http.Request
	member  webhook.Member
	account webhook.Account
	token   string
	csrf    string
	manage  bool // the member may manage (owner or primary owner)
}

func (q *request) ctx() context.Context { return q.r.Context() }

func (q *request) actor() operations.Actor { return operations.Actor{Member: &q.member} }

type handler func(q *request) error

// page registers a GET page for signed-in members.
func (d *Dashboard) page(pattern string, h handler) { d.handle(pattern, false, false, h) }

// action registers a form POST. Without a valid CSRF token it is 403 and
// changes nothing; manage actions are refused (403) to members.
func (d *Dashboard) action(pattern string, manage bool, h handler) {
	d.handle(pattern, true, manage, h)
}

func (d *Dashboard) handle(pattern string, form, manage bool, h handler) {
	d.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		q, ok := d.signedIn(w, r)
		if !ok {
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if form {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(q.csrf)) {
				d.refuse(q, http.StatusForbidden, "This form has expired or did not come from this dashboard. Reload the page and try again.")
				return
			}
			if manage && !q.manage {
				d.refuse(q, http.StatusForbidden, "Your role is member: you can look at endpoints and delivery logs, but only owners can change them.")
				return
			}
		}
		d.finish(q, h(q))
	})
}

// signedIn finds the request's session; without one a page redirects to
// sign-in and a form is refused.
func (d *Dashboard) signedIn(w http.ResponseWriter, r *http.Request) (*request, bool) {
	c, err := r.Cookie(sessionCookie)
	var ss store.Session
	if err == nil {
		ss, err = d.Ops.Session(r.Context(), c.Value)
	}
	if err != nil {
		if !errors.Is(err, operations.ErrNoSession) && !errors.Is(err, http.ErrNoCookie) {
			d.Log.Error("dashboard session", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return nil, false
		}
		if r.Method == http.MethodGet {
			next := r.URL.RequestURI()
			target := "/login"
			if next != "/" {
				target += "?next=" + urlQueryEscape(next)
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
		} else {
			w.Header().Set("Cache-Control", "no-store")
			d.render(w, http.StatusForbidden, "error", errorData{Title: "Signed out",
				Message: "Your session has ended. Sign in again, then repeat what you were doing.", Back: "/login"})
		}
		return nil, false
	}
	acc, err := d.Ops.Account(r.Context(), ss.Member.AccountID)
	if err != nil {
		d.Log.Error("dashboard account", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return nil, false
	}
	return &request{w: w, r: r, member: ss.Member, account: acc, token: c.Value,
		csrf: derive(c.Value, "csrf"), manage: operations.MayManage(ss.Member.Role)}, true
}

// derive makes a token from a secret the browser holds only in an HttpOnly
// cookie, so a page of another site cannot know it.
func derive(secret, purpose string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(purpose))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// finish answers a handler's error: refusals of the operations layer get
// their status and message, anything else is logged as a 500.
func (d *Dashboard) finish(q *request, err error) {
	if err == nil {
		return
	}
	if e, ok := operations.AsError(err); ok {
		switch e.Kind {
		case operations.NotFound:
			d.notFound(q)
		case operations.Forbidden:
			d.refuse(q, http.StatusForbidden, e.Error())
		case operations.Conflict:
			d.refuse(q, http.StatusConflict, e.Error())
		default:
			d.refuse(q, http.StatusBadRequest, e.Error())
		}
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	d.Log.Error("dashboard request failed", "method", q.r.Method, "path", q.r.URL.Path, "err", err)
	d.refuse(q, http.StatusInternalServerError, "Something went wrong on our side; nothing you did caused it. Try again in a moment.")
}

func (d *Dashboard) refuse(q *request, status int, message string) {
	title := http.StatusText(status)
	if status == http.StatusForbidden {
		title = "Not allowed"
	}
	d.render(q.w, status, "error", errorData{layout: d.layout(q, ""), Title: title, Message: message, Back: backTo(q.r)})
}

func (d *Dashboard) notFound(q *request) {
	d.render(q.w, http.StatusNotFound, "error", errorData{layout: d.layout(q, ""), Title: "Not found",
		Message: "There is nothing here in your account. It may have been deleted, or the link is wrong.", Back: "/"})
}

func (d *Dashboard) notFoundPage(w http.ResponseWriter, r *http.Request) {
	d.render(w, http.StatusNotFound, "error", errorData{Title: "Not found", Message: "There is no such page.", Back: "/"})
}

// backTo is the page a refused form came from, when it is one of ours.
func backTo(r *http.Request) string {
	if r.Method == http.MethodGet {
		return "/"
	}
	p := r.URL.Path
	if i := strings.Index(p, "/deliveries/"); i > 0 {
		return p[:i]
	}
	for _, suffix := range []string{"/events", "/enable", "/disable", "/rotate", "/test", "/deliver-queued", "/recover", "/delete"} {
		if strings.HasPrefix(p, "/webhooks/") && strings.HasSuffix(p, suffix) {
			return strings.TrimSuffix(p, suffix)
		}
	}
	if strings.HasPrefix(p, "/account") {
		return "/account"
	}
	return "/"
}

// secureRequest reports whether cookies must be Secure.
func (d *Dashboard) secureRequest(r *http.Request) bool { return d.secure || r.TLS != nil }

func (d *Dashboard) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: d.secureRequest(r)}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	} else if maxAge < 0 {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}
