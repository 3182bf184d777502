package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/internal/operations"
)

type loginData struct {
	layout
	Email   string
	Next    string
	Error   string
	Notice  string
	Limited bool
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if c, err := r.Cookie(sessionCookie); err == nil {
		if _, err := d.Ops.Session(r.Context(), c.Value); err == nil {
			http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
	}
	data := loginData{Next: safeNext(r.URL.Query().Get("next"))}
	if r.URL.Query().Get("signed_out") != "" {
		data.Notice = "You are signed out."
	}
	d.renderLogin(w, r, http.StatusOK, data)
}

// renderLogin shows the sign-in form with a fresh CSRF secret in its own
// cookie (there is no session yet to derive one from).
func (d *Dashboard) renderLogin(w http.ResponseWriter, r *http.Request, status int, data loginData) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	secret := base64.RawURLEncoding.EncodeToString(b)
	d.setCookie(w, r, signInCookie, secret, time.Hour)
	data.layout = layout{Title: "Sign in", CSRF: derive(secret, "signin")}
	d.render(w, status, "login", data)
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	data := loginData{Email: email, Next: safeNext(r.PostFormValue("next"))}
	c, err := r.Cookie(signInCookie)
	if err != nil || !constantEqual(r.PostFormValue("csrf"), derive(c.Value, "signin")) {
		data.Error = "This sign-in form has expired or did not come from this dashboard. Try again."
		d.renderLogin(w, r, http.StatusForbidden, data)
		return
	}
	now := d.Clock.Now()
	byAddress, byEmail := "addr:"+clientAddress(r), "email:"+strings.ToLower(email)
	if wait := max(d.limits.wait(byAddress, now), d.limits.wait(byEmail, now)); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		data.Limited = true
		data.Error = "Too many failed sign-ins. For your account's safety, wait " + waitText(wait) + " before trying again."
		d.renderLogin(w, r, http.StatusTooManyRequests, data)
		return
	}
	token, _, err := d.Ops.SignIn(r.Context(), email, password)
	if errors.Is(err, operations.ErrSignIn) {
		d.limits.fail(byAddress, now)
		d.limits.fail(byEmail, now)
		data.Error = "Wrong email or password."
		d.renderLogin(w, r, http.StatusUnauthorized, data)
		return
	}
	if err != nil {
		d.Log.Error("sign in", "err", err)
		data.Error = "Signing in failed on our side. Try again in a moment."
		d.renderLogin(w, r, http.StatusInternalServerError, data)
		return
	}
	d.limits.forget(byEmail)
	_, absolute := d.Ops.SessionLifetimes()
	d.setCookie(w, r, signInCookie, "", -1)
	d.setCookie(w, r, sessionCookie, token, absolute)
	http.Redirect(w, r, data.Next, http.StatusSeeOther)
}

func (d *Dashboard) logout(q *request) error {
	if err := d.Ops.SignOut(q.ctx(), q.token); err != nil {
		return err
	}
	d.setCookie(q.w, q.r, sessionCookie, "", -1)
	http.Redirect(q.w, q.r, "/login?signed_out=1", http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-sign-in redirect on this site: a path, never
// another host ("//evil", "/\evil").
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") || strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func constantEqual(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// clientAddress is the connection's address. Headers such as
// X-Forwarded-For are not trusted: any client can send them.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func waitText(d time.Duration) string {
	s := int(math.Ceil(d.Seconds()))
	if s <= 1 {
		return "a second"
	}
	return strconv.Itoa(s) + " seconds"
}

// signInLimiter counts failed sign-ins per key (an address, an email) over
// a sliding window. It keeps at most maxKeys keys; past that the oldest
// entries go first, so a flood of made-up emails cannot grow it forever.
type signInLimiter struct {
	limit   int
	window  time.Duration
	maxKeys int

	mu       sync.Mutex
	failures map[string][]time.Time
}

func newSignInLimiter(limit int, window time.Duration, maxKeys int) *signInLimiter {
	return &signInLimiter{limit: limit, window: window, maxKeys: maxKeys, failures: map[string][]time.Time{}}
}

// wait is how long key must wait before its next attempt (0: it may go).
func (l *signInLimiter) wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := l.recent(key, now)
	if len(recent) < l.limit {
		return 0
	}
	return recent[len(recent)-l.limit].Add(l.window).Sub(now)
}

func (l *signInLimiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.failures[key]; !ok && len(l.failures) >= l.maxKeys {
		l.evict(now)
	}
	l.failures[key] = append(l.recent(key, now), now)
}

func (l *signInLimiter) forget(key string) {
	l.mu.Lock()
	delete(l.failures, key)
	l.mu.Unlock()
}

// recent drops key's failures older than the window; l.mu is held.
func (l *signInLimiter) recent(key string, now time.Time) []time.Time {
	fs := l.failures[key]
	i := 0
	for i < len(fs) && !fs[i].Add(l.window).After(now) {
		i++
	}
	if i == len(fs) {
		delete(l.failures, key)
		return nil
	}
	fs = fs[i:]
	l.failures[key] = fs
	return fs
}

// evict makes room: expired keys first, then the key whose last failure
// is oldest; l.mu is held.
func (l *signInLimiter) evict(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for k := range l.failures {
		fs := l.recent(k, now)
		if len(fs) == 0 {
			continue
		}
		if last := fs[len(fs)-1]; oldestKey == "" || last.Before(oldest) {
			oldestKey, oldest = k, last
		}
	}
	if len(l.failures) >= l.maxKeys && oldestKey != "" {
		delete(l.failures, oldestKey)
	}
}
