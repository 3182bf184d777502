package api

import (
	"net/http"

	"github.com/hookrelay/hookrelay/internal/operations"
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
	if _, err := s.ownEndpoint(r, account); err != nil {
		return err
	}
	var req updateWebhookRequest
	if err := decode(w, r, 64<<10, webhookShape, &req); err != nil {
		return err
	}
	ep, err := s.Ops.EndpointUpdate(r.Context(), account, r.PathValue("webhook_id"), operations.EndpointPatch{
		URL: req.URL, Events: req.Events, Description: req.Description, StrictOrder: req.StrictOrder,
	})
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, toWebhookView(ep))
	return nil
}

type rotateRequest struct {
	GracePeriodSeconds *int64 `json:"grace_period_seconds"`
}

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
	var grace int64
	if req.GracePeriodSeconds != nil {
		grace = *req.GracePeriodSeconds
	}
	rot, err := s.Ops.EndpointRotateSecret(r.Context(), account, r.PathValue("webhook_id"), grace)
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, map[string]string{"secret": rot.Secret, "secret_prefix": rot.SecretPrefix})
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
	since, err := operations.ParseTime("since", *req.Since)
	if err != nil {
		return err
	}
	until, err := operations.ParseTimePtr("until", req.Until)
	if err != nil {
		return err
	}
	n, err := s.Ops.DeliveriesRecover(r.Context(), account, r.PathValue("webhook_id"), since, until)
	if err != nil {
		return err
	}
	writeData(w, http.StatusAccepted, map[string]int{"count": n})
	return nil
}

// hasBody reports whether a request carries a body: action routes accept
// an empty POST as "no options".
func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || r.Header.Get("Content-Type") != "" || len(r.TransferEncoding) > 0
}
