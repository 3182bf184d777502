package api

import (
	"encoding/json"
	"net/http"

	"github.com/hookrelay/hookrelay/internal/store"
)

type eventView struct {
	EventID    string          `json:"event_id"`
	EventType  string          `json:"event_type"`
	SubjectID  *string         `json:"subject_id"`
	Data       json.RawMessage `json:"data"`
	Deliveries int             `json:"deliveries"`
	CreatedAt  string          `json:"created_at"`
}

// listEvents is the polling API: the account's events oldest first. The
// cursor of the last page is returned too, so a consumer that cannot take
// webhooks polls with it and sees only what is published later.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, c caller) error {
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	l, aerr := s.listParams(r, account)
	if aerr != nil {
		return aerr
	}
	typ := r.URL.Query().Get("event_type")
	if len(typ) > 100 {
		return invalid("event_type", "must be at most 100 characters")
	}
	page, err := s.Store.EventList(r.Context(), store.EventListParams{AccountID: account, EventType: typ, Cursor: l.after, Limit: l.limit})
	if err != nil {
		return err
	}
	views := make([]eventView, len(page.Items))
	for i, e := range page.Items {
		views[i] = eventView{EventID: e.ID, EventType: e.Type, SubjectID: nonEmpty(e.SubjectID), Data: e.Data,
			Deliveries: e.Deliveries, CreatedAt: apiTime(e.CreatedAt)}
	}
	next := l.next(page.NextCursor)
	if next == "" {
		next = l.given // nothing new yet: poll again from the same place
	}
	writeList(w, views, next)
	return nil
}
