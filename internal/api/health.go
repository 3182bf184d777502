package api

import (
	"errors"
	"net/http"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// reasonManual is recorded when an owner disables an endpoint.
const reasonManual = "disabled by an owner"

func (s *Server) enableWebhook(w http.ResponseWriter, r *http.Request, c caller) error {
	return s.toggle(w, r, c, true)
}

func (s *Server) disableWebhook(w http.ResponseWriter, r *http.Request, c caller) error {
	return s.toggle(w, r, c, false)
}

// toggle is idempotent: enabling an active endpoint (or disabling a
// disabled one) answers its current state and publishes nothing.
func (s *Server) toggle(w http.ResponseWriter, r *http.Request, c caller, enable bool) error {
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	id := r.PathValue("webhook_id")
	var err error
	if enable {
		_, err = s.Store.EndpointEnable(r.Context(), store.EndpointEnableParams{AccountID: account, ID: id, Now: s.Clock.Now()})
	} else {
		_, err = s.Store.EndpointDisable(r.Context(), store.EndpointDisableParams{AccountID: account, ID: id,
			Reason: reasonManual, Now: s.Clock.Now()})
	}
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("webhook")
	}
	if err != nil {
		return err
	}
	if enable {
		s.Wake([]string{id})
	}
	ep, err := s.Store.EndpointGet(r.Context(), store.EndpointGetParams{AccountID: account, ID: id, Now: s.Clock.Now()})
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, toWebhookView(ep))
	return nil
}

func (s *Server) listQueued(w http.ResponseWriter, r *http.Request, c caller) error {
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
	page, err := s.Store.DeliveryQueuedList(r.Context(), store.DeliveryQueuedListParams{
		AccountID: account, EndpointID: r.PathValue("webhook_id"), Cursor: l.after, Limit: l.limit,
	})
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("webhook")
	}
	if err != nil {
		return err
	}
	writePage(w, l, page, toDeliveryView)
	return nil
}

func (s *Server) deliverQueued(w http.ResponseWriter, r *http.Request, c caller) error {
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	id := r.PathValue("webhook_id")
	n, err := s.Store.DeliveriesQueuedDeliver(r.Context(), store.DeliveriesQueuedDeliverParams{
		AccountID: account, EndpointID: id, Now: s.Clock.Now(),
	})
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("webhook")
	}
	if err != nil {
		return err
	}
	if n > 0 {
		s.Wake([]string{id})
	}
	writeData(w, http.StatusAccepted, map[string]int{"count": n})
	return nil
}
