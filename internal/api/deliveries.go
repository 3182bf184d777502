package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
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
	p := store.DeliveryListParams{
		AccountID:  account,
		EndpointID: r.PathValue("webhook_id"),
		EventType:  q.Get("event_type"),
		SubjectID:  q.Get("subject_id"),
		Cursor:     l.after,
		Limit:      l.limit,
	}
	if v := q.Get("status"); v != "" {
		p.Status = webhook.DeliveryStatus(v)
		if !p.Status.Valid() {
			return invalid("status", "must be one of pending, delivered, failed, queued, dropped; got %q", truncate(v, 50))
		}
	}
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"since", &p.Since}, {"until", &p.Until}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return invalid(f.name, "must be an RFC 3339 time such as 2026-05-12T12:00:00Z, got %q", truncate(v, 50))
			}
			// The store keeps milliseconds: round up so that a sub-millisecond
			// bound still means created_at >= since and created_at < until.
			if c := t.Truncate(time.Millisecond); !c.Equal(t) {
				t = c.Add(time.Millisecond)
			}
			*f.dst = &t
		}
	}
	page, err := s.Store.DeliveryList(r.Context(), p)
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("webhook")
	}
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
	d, err := s.Store.DeliveryGet(r.Context(), store.DeliveryGetParams{
		AccountID: account, EndpointID: r.PathValue("webhook_id"), ID: r.PathValue("delivery_id"),
	})
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("delivery")
	}
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
	id := r.PathValue("webhook_id")
	d, err := s.Store.DeliveryReplay(r.Context(), store.DeliveryReplayParams{
		AccountID: account, EndpointID: id, ID: r.PathValue("delivery_id"), Now: s.Clock.Now(),
	})
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("delivery")
	}
	if err != nil {
		return err
	}
	s.Wake([]string{id})
	writeData(w, http.StatusAccepted, toDeliveryView(d))
	return nil
}
