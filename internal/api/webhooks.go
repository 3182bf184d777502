package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/internal/ssrf"
	"github.com/hookrelay/hookrelay/internal/store"
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
	if req.URL == nil {
		return invalid("url", "is required")
	}
	if err := s.validateURL(r.Context(), *req.URL); err != nil {
		return err
	}
	events, aerr := s.validateSubscriptions(r.Context(), account, req.Events, nil)
	if aerr != nil {
		return aerr
	}
	description := ""
	if req.Description != nil {
		description = *req.Description
		if n := utf8.RuneCountInString(description); n > maxDescription {
			return invalid("description", "must be at most %d characters, got %d", maxDescription, n)
		}
	}

	secret, err := signing.NewSecret()
	if err != nil {
		return err
	}
	now := s.Clock.Now()
	id := webhook.NewID("wh", now)
	ep, err := s.Store.EndpointCreate(r.Context(), store.EndpointCreateParams{
		ID:          id,
		AccountID:   account,
		URL:         *req.URL,
		Description: description,
		Events:      events,
		StrictOrder: req.StrictOrder != nil && *req.StrictOrder,
		Secret: webhook.EndpointSecret{
			Ciphertext: s.Box.Seal([]byte(secret), []byte(id)),
			Prefix:     signing.DisplayPrefix(secret),
		},
		Now: now,
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
	ep, err := s.Store.EndpointGet(r.Context(), store.EndpointGetParams{
		AccountID: account, ID: r.PathValue("webhook_id"), Now: s.Clock.Now(),
	})
	if errors.Is(err, webhook.ErrNotFound) {
		return ep, notFound("webhook")
	}
	return ep, err
}

func (s *Server) validateURL(ctx context.Context, raw string) *apiError {
	if n := utf8.RuneCountInString(raw); n > maxURLLength {
		return invalid("url", "must be at most %d characters, got %d", maxURLLength, n)
	}
	if strings.TrimSpace(raw) == "" {
		return invalid("url", "is required")
	}
	if err := s.CheckURL(ctx, raw); err != nil {
		return invalid("url", "%s%s", err.Error(), devHint(raw, err))
	}
	return nil
}

// devHint tells a developer pointing an endpoint at their own machine
// (plain http, localhost) how the server allows it.
func devHint(raw string, err error) string {
	var se *ssrf.Error
	if !errors.As(err, &se) {
		return ""
	}
	if se.Category == ssrf.CategoryLoopback || strings.HasPrefix(strings.ToLower(raw), "http://") && strings.Contains(se.Reason, "https") {
		return "; for local development, start hookrelay serve with --dev-allow-localhost to allow http:// and loopback receivers"
	}
	return ""
}

// validateSubscriptions checks an endpoint's event list against the
// catalog and normalises it: duplicates removed, ["*"] alone. A deprecated
// type is refused unless it is in current (the endpoint already has it:
// deprecation stops new subscriptions, not existing ones).
func (s *Server) validateSubscriptions(ctx context.Context, account string, events, current []string) ([]string, *apiError) {
	if len(events) == 0 {
		return nil, invalid("events", "must be a non-empty array of event type names, or [\"*\"]")
	}
	if len(events) > maxEventTypes {
		return nil, invalid("events", "at most %d event types per endpoint, got %d", maxEventTypes, len(events))
	}
	if slices.Contains(events, "*") {
		if len(events) > 1 {
			return nil, invalid("events", `"*" already subscribes to every type; list it alone`)
		}
		return []string{"*"}, nil
	}
	var out []string
	for i, name := range events {
		field := "events[" + strconv.Itoa(i) + "]"
		t, ok, err := s.Catalog.Lookup(ctx, name)
		if err != nil {
			return nil, errorf(http.StatusInternalServerError, "internal_error", "could not read the event catalog")
		}
		switch {
		case !ok:
			return nil, invalid(field, "unknown event type %q; GET /v1/event-types lists the catalog, and the operator adds types with hookrelay admin event-type create (or POST /v1/event-types)", name)
		case t.Deprecated && !slices.Contains(current, name):
			return nil, invalid(field, "event type %q is deprecated and takes no new subscriptions", name)
		case name == webhook.EventTypeTest:
			return nil, invalid(field, "%q is sent on demand to any endpoint and needs no subscription", name)
		case t.Reserved && account != webhook.OperatorAccountID:
			return nil, invalid(field, "%q is an operational event, published only to the operator account", name)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
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
	search := r.URL.Query().Get("search")
	if len(search) > 200 {
		return invalid("search", "must be at most 200 characters")
	}
	page, err := s.Store.EndpointList(r.Context(), store.EndpointListParams{
		AccountID: account, Now: s.Clock.Now(), Search: search, Cursor: l.after, Limit: l.limit,
	})
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
	ep, err := s.Store.EndpointGet(r.Context(), store.EndpointGetParams{
		AccountID: account, ID: r.PathValue("webhook_id"), Now: s.Clock.Now(),
	})
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("webhook")
	}
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
	err := s.Store.EndpointDelete(r.Context(), store.EndpointDeleteParams{AccountID: account, ID: id, Now: s.Clock.Now()})
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("webhook")
	}
	if err != nil {
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
	id := r.PathValue("webhook_id")
	now := s.Clock.Now()
	data, _ := json.Marshal(struct {
		WebhookID string `json:"webhook_id"`
		Message   string `json:"message"`
	}{id, "This is a test event from hookrelay."})
	d, err := s.Store.DeliveryCreateTest(r.Context(), store.DeliveryCreateTestParams{
		AccountID: account, EndpointID: id, EventID: webhook.NewID("evt", now), DeliveryID: webhook.NewID("dlv", now),
		Data: data, Now: now,
	})
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("webhook")
	}
	if err != nil {
		return err
	}
	s.Wake([]string{id})
	writeData(w, http.StatusAccepted, toDeliveryView(d))
	return nil
}
