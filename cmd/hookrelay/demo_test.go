package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoPrintsADashboardLogin: the demo prints a dashboard URL and a
// login for its account (SPEC §7), and that login opens the dashboard on
// the demo's endpoint.
func TestDemoPrintsADashboardLogin(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- demo(ctx, nil, pw, io.Discard); pw.Close() }()
	defer func() { cancel(); <-done }()

	var base, email, password string
	lines := bufio.NewScanner(pr)
	deadline := time.AfterFunc(30*time.Second, func() { pr.CloseWithError(io.ErrUnexpectedEOF) })
	defer deadline.Stop()
	for password == "" && lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		switch {
		case strings.HasPrefix(line, "Dashboard: "):
			base = strings.TrimSuffix(strings.TrimPrefix(line, "Dashboard: "), "/login")
		case strings.HasPrefix(line, "email:"):
			email = strings.TrimSpace(strings.TrimPrefix(line, "email:"))
		case strings.HasPrefix(line, "password:"):
			password = strings.TrimSpace(strings.TrimPrefix(line, "password:"))
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // let the demo go on printing
	if !strings.HasPrefix(base, "http://127.0.0.1:") || email == "" || len(password) < 8 {
		t.Fatalf("demo printed dashboard %q, email %q, password %q", base, email, password)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(form)
	if token == nil {
		t.Fatalf("no sign-in form at %s/login: %.200s", base, form)
	}
	resp, err = c.PostForm(base+"/login", url.Values{"csrf": {string(token[1])}, "email": {email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signing in with the printed login: HTTP %d", resp.StatusCode)
	}
	resp, err = c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "demo receiver") {
		t.Fatalf("the dashboard after sign-in: HTTP %d, without the demo's endpoint: %.300s", resp.StatusCode, page)
	}
}
