package dashboard

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

type deliveryData struct {
	layout
	Endpoint webhook.Endpoint
	Delivery webhook.Delivery
	Attempts []attemptView
}

type attemptView struct {
	N               int
	Attempt         webhook.Attempt
	RequestHeaders  []headerLine
	ResponseHeaders []headerLine
}

type headerLine struct{ Name, Value string }

func (d *Dashboard) deliveryPage(q *request) error {
	ep, err := d.Ops.Endpoint(q.ctx(), q.account.ID, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	dl, err := d.Ops.Delivery(q.ctx(), q.account.ID, ep.ID, q.r.PathValue("did"))
	if err != nil {
		return err
	}
	var body struct {
		Timestamp string `json:"webhook_timestamp"`
	}
	_ = json.Unmarshal(dl.Payload, &body)
	msg := signing.Message{DeliveryID: dl.ID, EventType: dl.EventType, Timestamp: body.Timestamp, Body: dl.Payload}
	data := deliveryData{Endpoint: ep, Delivery: dl}
	// Newest attempt first, as the events table orders deliveries.
	for i := len(dl.Attempts) - 1; i >= 0; i-- {
		a := dl.Attempts[i]
		data.Attempts = append(data.Attempts, attemptView{N: i + 1, Attempt: a,
			RequestHeaders: d.requestHeaders(msg, a), ResponseHeaders: lines(a.ResponseHeaders)})
	}
	data.layout = d.layout(q, "webhooks")
	data.Title = "Delivery " + dl.ID
	d.render(q.w, http.StatusOK, "delivery", data)
	return nil
}

// requestHeaders rebuilds the headers an attempt was sent with. They are a
// function of the delivery and the attempt's time, so none is stored; the
// signatures are not shown since the secret that made them may be gone.
func (d *Dashboard) requestHeaders(msg signing.Message, a webhook.Attempt) []headerLine {
	h := http.Header{}
	d.Signer.Apply(h, msg, nil, a.AttemptedAt)
	out := lines(h)
	for _, name := range d.Signer.SignatureHeaders() {
		out = append(out, headerLine{Name: name, Value: "(signature of this request; not stored)"})
	}
	return out
}

func lines(h http.Header) []headerLine {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	var out []headerLine
	for _, k := range names {
		out = append(out, headerLine{Name: k, Value: strings.Join(h[k], ", ")})
	}
	return out
}

func (d *Dashboard) replay(q *request) error {
	id := q.r.PathValue("id")
	if _, err := d.Ops.DeliveryReplay(q.ctx(), q.account.ID, id, q.r.PathValue("did")); err != nil {
		return d.refused(q, err, webhookData{})
	}
	// Back where the Replay button was: the delivery's page or the table.
	if q.r.PostFormValue("from") == "delivery" {
		http.Redirect(q.w, q.r, "/webhooks/"+url.PathEscape(id)+"/deliveries/"+url.PathEscape(q.r.PathValue("did"))+"?done=replayed", http.StatusSeeOther)
		return nil
	}
	return d.done(q, "replayed", -1)
}
