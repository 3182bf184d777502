package api

import (
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/internal/operations"
)

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, c caller) error {
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	if _, err := s.ownEndpoint(r, account); err != nil {
		return err
	}
	l, aerr := s.listParams(r, account)
	if aerr != nil {
		return aerr
	}
	q := r.URL.Query()
	dq := operations.DeliveryQuery{EventType: q.Get("event_type"), Status: q.Get("status"), SubjectID: q.Get("subject_id"),
		Cursor: l.after, Limit: l.limit}
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"since", &dq.Since}, {"until", &dq.Until}} {
		if v := q.Get(f.name); v != "" {
			t, err := operations.ParseTime(f.name, v)
			if err != nil {
				return err
			}
			*f.dst = &t
		}
	}
	page, err := s.Ops.DeliveryList(r.Context(), account, r.PathValue("webhook_id"), dq)
	if err != nil {
		return err
	}
	writePage(w, l, page, toDeliveryView)
	return nil
}

func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request, c caller) error {
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	d, err := s.Ops.Delivery(r.Context(), account, r.PathValue("webhook_id"), r.PathValue("delivery_id"))
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, toDeliveryView(d))
	return nil
}

func (s *Server) replayDelivery(w http.ResponseWriter, r *http.Request, c caller) error {
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	d, err := s.Ops.DeliveryReplay(r.Context(), account, r.PathValue("webhook_id"), r.PathValue("delivery_id"))
	if err != nil {
		return err
	}
	writeData(w, http.StatusAccepted, toDeliveryView(d))
	return nil
}
