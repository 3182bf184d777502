package api

import (
	"net/http"
)

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
	ep, err := s.Ops.EndpointSetActive(r.Context(), account, r.PathValue("webhook_id"), enable)
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
	page, err := s.Ops.QueuedList(r.Context(), account, r.PathValue("webhook_id"), l.after, l.limit)
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
	n, err := s.Ops.EndpointDeliverQueued(r.Context(), account, r.PathValue("webhook_id"))
	if err != nil {
		return err
	}
	writeData(w, http.StatusAccepted, map[string]int{"count": n})
	return nil
}
