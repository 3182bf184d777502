package api

import (
	"net/http"

	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

type createWebhookRequest struct {
	URL         *string  `json:"url"`
	Events      []string `json:"events"`
	Description *string  `json:"description"`
	StrictOrder *bool    `json:"strict_order"`
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, c caller) error {
	var req createWebhookRequest
	if err := decode(w, r, 64<<10, webhookShape, &req); err != nil {
		return err
	}
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	ep, secret, err := s.Ops.EndpointCreate(r.Context(), account, operations.EndpointInput{
		URL: req.URL, Events: req.Events, Description: req.Description, StrictOrder: req.StrictOrder,
	})
	if err != nil {
		return err
	}
	writeData(w, http.StatusCreated, createdWebhook{
		WebhookID:   ep.ID,
		URL:         ep.URL,
		Events:      ep.Events,
		Description: ep.Description,
		Secret:      secret,
		IsActive:    ep.Status == webhook.EndpointActive,
		CreatedAt:   apiTime(ep.CreatedAt),
	})
	return nil
}

// ownEndpoint finds the webhook named in the path in account. Routes call
// it before they validate anything else, so that a stranger's id is a 404
// whatever the request holds: a 400 would tell them the id exists.
func (s *Server) ownEndpoint(r *http.Request, account string) (webhook.Endpoint, error) {
	return s.Ops.Endpoint(r.Context(), account, r.PathValue("webhook_id"))
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, c caller) error {
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	l, aerr := s.listParams(r, account)
	if aerr != nil {
		return aerr
	}
	page, err := s.Ops.EndpointList(r.Context(), account, r.URL.Query().Get("search"), l.after, l.limit)
	if err != nil {
		return err
	}
	writePage(w, l, page, toWebhookView)
	return nil
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, c caller) error {
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	ep, err := s.ownEndpoint(r, account)
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, toWebhookView(ep))
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, c caller) error {
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	id := r.PathValue("webhook_id")
	if err := s.Ops.EndpointDelete(r.Context(), account, id); err != nil {
		return err
	}
	writeData(w, http.StatusOK, map[string]any{"webhook_id": id, "deleted": true})
	return nil
}

func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request, c caller) error {
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	d, err := s.Ops.EndpointSendTest(r.Context(), account, r.PathValue("webhook_id"))
	if err != nil {
		return err
	}
	writeData(w, http.StatusAccepted, toDeliveryView(d))
	return nil
}
