package api

import (
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

type updateWebhookRequest struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	StrictOrder *bool     `json:"strict_order"`
}

// updateWebhook changes the fields given; the secret is changed only by
// rotation.
func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request, c caller) error {
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	current, err := s.ownEndpoint(r, account)
	if err != nil {
		return err
	}
	var req updateWebhookRequest
	if err := decode(w, r, 64<<10, webhookShape, &req); err != nil {
		return err
	}
	if req.URL == nil && req.Events == nil && req.Description == nil && req.StrictOrder == nil {
		return invalid("body", "give at least one of url, events, description, strict_order")
	}
	p := store.EndpointUpdateParams{AccountID: account, ID: r.PathValue("webhook_id"), URL: req.URL,
		Description: req.Description, StrictOrder: req.StrictOrder, Now: s.Clock.Now()}
	if req.URL != nil {
		if aerr := s.validateURL(r.Context(), *req.URL); aerr != nil {
			return aerr
		}
	}
	if req.Events != nil {
		events, aerr := s.validateSubscriptions(r.Context(), account, *req.Events, current.Events)
		if aerr != nil {
			return aerr
		}
		p.Events = events
	}
	if req.Description != nil {
		if n := utf8.RuneCountInString(*req.Description); n > maxDescription {
			return invalid("description", "must be at most %d characters, got %d", maxDescription, n)
		}
	}
	ep, err := s.Store.EndpointUpdate(r.Context(), p)
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("webhook")
	}
	if err != nil {
		return err
	}
	s.Wake([]string{ep.ID}) // a held endpoint reloads its URL at its next read
	writeData(w, http.StatusOK, toWebhookView(ep))
	return nil
}

type rotateRequest struct {
	GracePeriodSeconds *int64 `json:"grace_period_seconds"`
}

// maxGrace is the longest rotation grace period (SPEC §2: 0 to 7 days).
const maxGrace = 7 * 24 * time.Hour

// rotateSecret issues a new secret, shown this once. Without a grace
// period the old secret stops signing at once; with one, both sign (two
// signatures per header, newest first) until it ends.
func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request, c caller) error {
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	if _, err := s.ownEndpoint(r, account); err != nil {
		return err
	}
	var req rotateRequest
	if hasBody(r) {
		if err := decode(w, r, 4<<10, shape{"grace_period_seconds": nil}, &req); err != nil {
			return err
		}
	}
	var grace time.Duration
	if req.GracePeriodSeconds != nil {
		g := *req.GracePeriodSeconds
		if g < 0 || g > int64(maxGrace/time.Second) {
			return invalid("grace_period_seconds", "must be from 0 to %d (7 days), got %d", int64(maxGrace/time.Second), g)
		}
		grace = time.Duration(g) * time.Second
	}
	id := r.PathValue("webhook_id")
	secret, err := signing.NewSecret()
	if err != nil {
		return err
	}
	prefix := signing.DisplayPrefix(secret)
	err = s.Store.EndpointRotateSecret(r.Context(), store.EndpointRotateSecretParams{
		AccountID: account, ID: id, Grace: grace, Now: s.Clock.Now(),
		Secret: webhook.EndpointSecret{Ciphertext: s.Box.Seal([]byte(secret), []byte(id)), Prefix: prefix},
	})
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("webhook")
	}
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, map[string]string{"secret": secret, "secret_prefix": prefix})
	return nil
}

type recoverRequest struct {
	Since *string `json:"since"`
	Until *string `json:"until"`
}

// recoverDeliveries re-sends every failed delivery of the endpoint created
// in [since, until).
func (s *Server) recoverDeliveries(w http.ResponseWriter, r *http.Request, c caller) error {
	account, aerr := s.accountFor(r, c, "")
	if aerr != nil {
		return aerr
	}
	if _, err := s.ownEndpoint(r, account); err != nil {
		return err
	}
	var req recoverRequest
	if err := decode(w, r, 4<<10, shape{"since": nil, "until": nil}, &req); err != nil {
		return err
	}
	if req.Since == nil {
		return invalid("since", "is required (RFC 3339)")
	}
	since, err := time.Parse(time.RFC3339Nano, *req.Since)
	if err != nil {
		return invalid("since", "must be an RFC 3339 time such as 2026-05-12T12:00:00Z, got %q", truncate(*req.Since, 50))
	}
	p := store.DeliveriesRecoverParams{AccountID: account, EndpointID: r.PathValue("webhook_id"), Since: since, Now: s.Clock.Now()}
	if req.Until != nil {
		until, err := time.Parse(time.RFC3339Nano, *req.Until)
		if err != nil {
			return invalid("until", "must be an RFC 3339 time, got %q", truncate(*req.Until, 50))
		}
		if !until.After(since) {
			return invalid("until", "must be after since")
		}
		p.Until = &until
	}
	n, err := s.Store.DeliveriesRecover(r.Context(), p)
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("webhook")
	}
	if err != nil {
		return err
	}
	if n > 0 {
		s.Wake([]string{p.EndpointID})
	}
	writeData(w, http.StatusAccepted, map[string]int{"count": n})
	return nil
}

// hasBody reports whether a request carries a body: action routes accept
// an empty POST as "no options".
func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || r.Header.Get("Content-Type") != "" || len(r.TransferEncoding) > 0
}
