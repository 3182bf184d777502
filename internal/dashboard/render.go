package dashboard

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/webhook"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

func staticFiles() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServer(http.FS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// pages holds one template set per page, each with the shared layout.
type pages struct{ set map[string]*template.Template }

var pageNames = []string{"login", "webhooks", "webhook", "delivery", "account", "error"}

func loadPages() (*pages, error) {
	p := &pages{set: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", name, err)
		}
		p.set[name] = t
	}
	return p, nil
}

// layout is what every page's frame shows.
type layout struct {
	Title    string
	Nav      string // the current section: webhooks, account
	Member   *webhook.Member
	Account  *webhook.Account
	CSRF     string
	Manage   bool
	RoleNote string
}

func (d *Dashboard) layout(q *request, nav string) layout {
	if q == nil {
		return layout{}
	}
	l := layout{Nav: nav, Member: &q.member, Account: &q.account, CSRF: q.csrf, Manage: q.manage}
	if !q.manage {
		l.RoleNote = "You are a member of this account: you can look at everything, and owners make changes."
	}
	return l
}

type errorData struct {
	layout
	Title   string
	Message string
	Back    string
}

// render writes a page whole, so a template error becomes a clean 500
// instead of half a page.
func (d *Dashboard) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := d.pages.set[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		d.Log.Error("dashboard render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// secretView is what the "secret" template shows.
type secretView struct{ ID, Label, Value string }

var funcs = template.FuncMap{
	"shown": func(id, label, value string) secretView { return secretView{id, label, value} },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"whenPtr": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"rate": func(r *float64) string {
		if r == nil {
			return "—"
		}
		return fmt.Sprintf("%.1f %%", *r*100)
	},
	"events": func(events []string) string {
		if len(events) == 1 && events[0] == "*" {
			return "All events"
		}
		return strings.Join(events, ", ")
	},
	"has": func(list []string, v string) bool {
		for _, s := range list {
			if s == v {
				return true
			}
		}
		return false
	},
	"pretty": func(raw json.RawMessage) string {
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return string(raw)
		}
		return buf.String()
	},
	"ms":          func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) },
	"roleName":    func(role string) string { return strings.ReplaceAll(role, "-", " ") },
	"statusClass": func(s any) string { return "status-" + fmt.Sprint(s) },
	"code": func(c int) string {
		if c == 0 {
			return "—"
		}
		return fmt.Sprint(c)
	},
	"dash": func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	},
}
