package dashboard

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// endpointForm is what the Add endpoint and Edit forms hold, kept to
// show again after a refusal.
type endpointForm struct {
	URL         string
	Description string
	Events      []string
	Error       string
}

type webhooksData struct {
	layout
	Endpoints []webhook.Endpoint
	Next      string
	Search    string
	Types     []webhook.EventType
	Form      endpointForm
	Created   *createdEndpoint
	Deleted   bool
}

type createdEndpoint struct {
	Endpoint webhook.Endpoint
	Secret   string
}

func (d *Dashboard) webhooksPage(q *request) error {
	return d.renderWebhooks(q, http.StatusOK, endpointForm{}, nil)
}

func (d *Dashboard) renderWebhooks(q *request, status int, form endpointForm, created *createdEndpoint) error {
	v := q.r.URL.Query()
	search, cursor := v.Get("search"), v.Get("cursor")
	if q.r.Method == http.MethodPost {
		search, cursor = "", ""
	}
	after, err := d.openCursor(q.account.ID, "", cursor)
	if err != nil {
		return err
	}
	page, err := d.Ops.EndpointList(q.ctx(), q.account.ID, search, after, 50)
	if err != nil {
		return err
	}
	page.NextCursor = d.sealCursor(q.account.ID, "", page.NextCursor)
	types, err := d.Ops.Subscribable(q.ctx(), q.account.ID, nil)
	if err != nil {
		return err
	}
	l := d.layout(q, "webhooks")
	l.Title = "Webhooks"
	d.render(q.w, status, "webhooks", webhooksData{layout: l, Endpoints: page.Items, Next: page.NextCursor, Search: search,
		Types: types, Form: form, Created: created, Deleted: v.Get("done") == "deleted"})
	return nil
}

func (d *Dashboard) createWebhook(q *request) error {
	f := q.r.PostForm
	form := endpointForm{URL: strings.TrimSpace(f.Get("url")), Description: strings.TrimSpace(f.Get("description")), Events: f["events"]}
	ep, secret, err := d.Ops.EndpointCreate(q.ctx(), q.account.ID, operations.EndpointInput{
		URL: &form.URL, Events: form.Events, Description: &form.Description,
	})
	if e, ok := operations.AsError(err); ok && e.Kind == operations.Invalid {
		form.Error = e.Error()
		return d.renderWebhooks(q, http.StatusBadRequest, form, nil)
	}
	if err != nil {
		return err
	}
	// The secret is shown in this answer and never again: no redirect
	// (it would have to carry it), and the page is not cached.
	return d.renderWebhooks(q, http.StatusCreated, endpointForm{}, &createdEndpoint{Endpoint: ep, Secret: secret})
}

type webhookData struct {
	layout
	Endpoint     webhook.Endpoint
	Types        []webhook.EventType
	Edit         endpointForm
	Deliveries   []webhook.Delivery
	Next         string
	Status       string
	EventType    string
	Cursor       string
	FilterTypes  []string
	Statuses     []webhook.DeliveryStatus
	Window       string
	Chart        chartView
	Notice       string
	Error        string
	Rotation     *operations.Rotation
	RecoverFrom  string
	GraceChoices []graceChoice
}

type graceChoice struct {
	Seconds int64
	Label   string
}

var graceChoices = []graceChoice{
	{0, "None: the old secret stops at once"},
	{3600, "1 hour"},
	{86400, "1 day"},
	{3 * 86400, "3 days"},
	{operations.MaxGraceSeconds, "7 days"},
}

var statuses = []webhook.DeliveryStatus{webhook.StatusPending, webhook.StatusDelivered, webhook.StatusFailed, webhook.StatusQueued, webhook.StatusDropped}

// notices are the outcomes an action redirects with (?done=), fixed texts
// so that a link cannot make the page say something else.
var notices = map[string]string{
	"enabled":  "Endpoint enabled. Queued events stay queued until you deliver them.",
	"disabled": "Endpoint disabled. New events are queued until you enable it and deliver them.",
	"test":     "Test event sent. It appears in the table below.",
	"replayed": "Delivery sent again with the same delivery id.",
	"updated":  "Endpoint updated.",
}

func (d *Dashboard) webhookPage(q *request) error {
	return d.renderWebhook(q, http.StatusOK, webhookData{})
}

// renderWebhook shows an endpoint's details; extra carries what an action
// adds (a refusal, a new secret).
func (d *Dashboard) renderWebhook(q *request, status int, extra webhookData) error {
	id := q.r.PathValue("id")
	ep, err := d.Ops.Endpoint(q.ctx(), q.account.ID, id)
	if err != nil {
		return err
	}
	v := q.r.URL.Query()
	data := extra
	data.Endpoint = ep
	data.Status, data.EventType, data.Cursor = v.Get("status"), v.Get("event_type"), v.Get("cursor")
	data.Window = "24h"
	window := 24 * time.Hour
	if v.Get("window") == "7d" {
		data.Window, window = "7d", 7*24*time.Hour
	}
	var page store.Page[webhook.Delivery]
	after, err := d.openCursor(q.account.ID, id, data.Cursor)
	if err == nil {
		page, err = d.Ops.DeliveryList(q.ctx(), q.account.ID, id, operations.DeliveryQuery{
			Status: data.Status, EventType: data.EventType, Cursor: after, Limit: 50})
	}
	if e, ok := operations.AsError(err); ok && e.Kind == operations.Invalid {
		data.Error = e.Error()
		data.Status, data.EventType, data.Cursor = "", "", ""
		page, err = d.Ops.DeliveryList(q.ctx(), q.account.ID, id, operations.DeliveryQuery{Limit: 50})
		status = http.StatusBadRequest
	}
	if err != nil {
		return err
	}
	data.Deliveries, data.Next = page.Items, d.sealCursor(q.account.ID, id, page.NextCursor)
	if data.Types, err = d.Ops.Subscribable(q.ctx(), q.account.ID, ep.Events); err != nil {
		return err
	}
	for _, t := range data.Types {
		data.FilterTypes = append(data.FilterTypes, t.Name)
	}
	data.FilterTypes = append(data.FilterTypes, webhook.EventTypeTest)
	hours, err := d.Ops.Hourly(q.ctx(), q.account.ID, id, window)
	if err != nil {
		return err
	}
	data.Chart = buildChart(hours, data.Window)
	if data.Edit.URL == "" && data.Edit.Error == "" {
		data.Edit = endpointForm{URL: ep.URL, Description: ep.Description, Events: ep.Events}
	}
	if data.Notice == "" {
		data.Notice = notices[v.Get("done")]
		switch v.Get("done") {
		case "delivered", "recovered":
			n, _ := strconv.Atoi(v.Get("n"))
			what := "queued"
			if v.Get("done") == "recovered" {
				what = "failed"
			}
			data.Notice = strconv.Itoa(n) + " " + what + " deliveries sent again."
			if n == 0 {
				data.Notice = "There were no " + what + " deliveries to send."
			}
		}
	}
	if data.RecoverFrom == "" {
		data.RecoverFrom = d.Clock.Now().Add(-24 * time.Hour).UTC().Format("2006-01-02T15:04")
	}
	data.Statuses, data.GraceChoices = statuses, graceChoices
	data.layout = d.layout(q, "webhooks")
	data.Title = ep.URL
	d.render(q.w, status, "webhook", data)
	return nil
}

// done redirects to the endpoint's page after an action (POST, redirect,
// GET), so reloading the page does not repeat it.
func (d *Dashboard) done(q *request, outcome string, n int) error {
	u := "/webhooks/" + url.PathEscape(q.r.PathValue("id")) + "?done=" + outcome
	if n >= 0 {
		u += "&n=" + strconv.Itoa(n)
	}
	http.Redirect(q.w, q.r, u, http.StatusSeeOther)
	return nil
}

// refused shows the endpoint's page again with a refusal of the
// operations layer, or passes on any other error.
func (d *Dashboard) refused(q *request, err error, extra webhookData) error {
	msg, status, ok := shownAgain(err)
	if !ok {
		return err
	}
	extra.Error = msg
	return d.renderWebhook(q, status, extra)
}

// shownAgain tells whether a refusal is shown on the page the form came
// from (bad input, a conflict) with its status; not found and forbidden
// get their own page.
func shownAgain(err error) (string, int, bool) {
	e, ok := operations.AsError(err)
	switch {
	case !ok:
		return "", 0, false
	case e.Kind == operations.Invalid:
		return e.Error(), http.StatusBadRequest, true
	case e.Kind == operations.Conflict:
		return e.Error(), http.StatusConflict, true
	}
	return "", 0, false
}

func (d *Dashboard) updateEvents(q *request) error {
	f := q.r.PostForm
	form := endpointForm{URL: strings.TrimSpace(f.Get("url")), Description: strings.TrimSpace(f.Get("description")), Events: f["events"]}
	events := form.Events
	if events == nil {
		events = []string{} // none ticked: the operations layer says what is wrong
	}
	_, err := d.Ops.EndpointUpdate(q.ctx(), q.account.ID, q.r.PathValue("id"), operations.EndpointPatch{
		URL: &form.URL, Description: &form.Description, Events: &events})
	if err != nil {
		if e, ok := operations.AsError(err); ok {
			form.Error = e.Error()
		}
		return d.refused(q, err, webhookData{Edit: form})
	}
	return d.done(q, "updated", -1)
}

func (d *Dashboard) enable(q *request) error  { return d.setActive(q, true) }
func (d *Dashboard) disable(q *request) error { return d.setActive(q, false) }

func (d *Dashboard) setActive(q *request, active bool) error {
	if _, err := d.Ops.EndpointSetActive(q.ctx(), q.account.ID, q.r.PathValue("id"), active); err != nil {
		return d.refused(q, err, webhookData{})
	}
	if active {
		return d.done(q, "enabled", -1)
	}
	return d.done(q, "disabled", -1)
}

func (d *Dashboard) rotate(q *request) error {
	grace, err := strconv.ParseInt(q.r.PostFormValue("grace_period_seconds"), 10, 64)
	if err != nil {
		return d.refused(q, operations.Invalidf("grace_period_seconds", "choose a grace period from the list"), webhookData{})
	}
	rot, err := d.Ops.EndpointRotateSecret(q.ctx(), q.account.ID, q.r.PathValue("id"), grace)
	if err != nil {
		return d.refused(q, err, webhookData{})
	}
	// Shown in this answer only, as at creation.
	notice := "New signing secret created. The old one stopped working."
	if grace > 0 {
		notice = "New signing secret created. The old one keeps signing (a second signature) for the grace period."
	}
	return d.renderWebhook(q, http.StatusOK, webhookData{Rotation: &rot, Notice: notice})
}

func (d *Dashboard) sendTest(q *request) error {
	if _, err := d.Ops.EndpointSendTest(q.ctx(), q.account.ID, q.r.PathValue("id")); err != nil {
		return d.refused(q, err, webhookData{})
	}
	return d.done(q, "test", -1)
}

func (d *Dashboard) deliverQueued(q *request) error {
	n, err := d.Ops.EndpointDeliverQueued(q.ctx(), q.account.ID, q.r.PathValue("id"))
	if err != nil {
		return d.refused(q, err, webhookData{})
	}
	return d.done(q, "delivered", n)
}

// recoverFailed re-sends failed deliveries since a time the form gives as
// an HTML datetime-local in UTC.
func (d *Dashboard) recoverFailed(q *request) error {
	raw := strings.TrimSpace(q.r.PostFormValue("since"))
	rfc := raw
	if len(raw) == len("2006-01-02T15:04") {
		rfc = raw + ":00Z"
	} else if len(raw) == len("2006-01-02T15:04:05") {
		rfc = raw + "Z"
	}
	since, err := operations.ParseTime("since", rfc)
	if err != nil {
		return d.refused(q, err, webhookData{RecoverFrom: raw})
	}
	n, err := d.Ops.DeliveriesRecover(q.ctx(), q.account.ID, q.r.PathValue("id"), since, nil)
	if err != nil {
		return d.refused(q, err, webhookData{RecoverFrom: raw})
	}
	return d.done(q, "recovered", n)
}

func (d *Dashboard) deleteWebhook(q *request) error {
	if q.r.PostFormValue("confirm") != "yes" {
		if _, err := d.Ops.Endpoint(q.ctx(), q.account.ID, q.r.PathValue("id")); err != nil {
			return err
		}
		return d.refused(q, operations.Invalidf("confirm", "tick the box to confirm that you want to delete this endpoint"), webhookData{})
	}
	if err := d.Ops.EndpointDelete(q.ctx(), q.account.ID, q.r.PathValue("id")); err != nil {
		return d.refused(q, err, webhookData{})
	}
	http.Redirect(q.w, q.r, "/?done=deleted", http.StatusSeeOther)
	return nil
}
