package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/store"
)

type publishRequest struct {
	EventType *string         `json:"event_type"`
	Data      json.RawMessage `json:"data"`
	SubjectID *string         `json:"subject_id"`
	EventID   *string         `json:"event_id"`
	AccountID *string         `json:"account_id"`
}

type publishResponse struct {
	EventID    string `json:"event_id"`
	Deliveries int    `json:"deliveries"`
}

func (s *Server) publishEvent(w http.ResponseWriter, r *http.Request, c caller) error {
	var req publishRequest
	if err := decode(w, r, maxBodyBytes, publishShape, &req); err != nil {
		return err
	}
	ev, aerr := s.validateEvent(r, c, req, "", map[string]string{})
	if aerr != nil {
		return aerr
	}
	results, err := s.Publisher.Publish(r.Context(), []store.PublishEvent{ev})
	if err != nil {
		return err
	}
	res := results[0]
	writeData(w, http.StatusAccepted, publishResponse{EventID: res.Event.ID, Deliveries: res.Event.Deliveries})
	return nil
}

type batchItem struct {
	EventID    string `json:"event_id"`
	Deliveries int    `json:"deliveries"`
	Duplicate  bool   `json:"duplicate"`
}

// publishBatch commits up to 1,000 events in one transaction. Every item is
// validated first; one invalid item rejects the batch and nothing is
// stored, so a client fixes it and resends the whole batch (idempotent with
// event_id) instead of reconciling a partial success.
//
// The body (up to 32 MiB) is decoded as it streams in, one item at a time,
// so that what is held is the validated events, not also the raw body and
// intermediate copies of it.
func (s *Server) publishBatch(w http.ResponseWriter, r *http.Request, c caller) error {
	events, aerr := s.readBatch(w, r, c)
	if aerr != nil {
		return aerr
	}
	results, err := s.Publisher.Publish(r.Context(), events)
	if err != nil {
		return err
	}
	out := make([]batchItem, len(results))
	for i, res := range results {
		out[i] = batchItem{EventID: res.Event.ID, Deliveries: res.Event.Deliveries, Duplicate: res.Duplicate}
	}
	writeData(w, http.StatusAccepted, out)
	return nil
}

// validateEvent checks one publish item completely and returns what to
// commit. defaultAccount is a batch's top-level account_id.
// accounts remembers the accounts already resolved in this request.
func (s *Server) validateEvent(r *http.Request, c caller, req publishRequest, defaultAccount string,
	accounts map[string]string) (store.PublishEvent, *apiError) {
	bodyAccount := defaultAccount
	if req.AccountID != nil {
		bodyAccount = *req.AccountID
	}
	account, aerr := s.resolveAccount(r, c, bodyAccount, accounts)
	if aerr != nil {
		return store.PublishEvent{}, aerr
	}
	ev, aerr := s.eventFields(r.Context(), req)
	ev.AccountID = account
	return ev, aerr
}

// resolveAccount is accountFor, remembering answers in accounts.
func (s *Server) resolveAccount(r *http.Request, c caller, bodyAccount string, accounts map[string]string) (string, *apiError) {
	if account, ok := accounts[bodyAccount]; ok {
		return account, nil
	}
	account, aerr := s.accountFor(r, c, bodyAccount)
	if aerr != nil {
		return "", aerr
	}
	accounts[bodyAccount] = account
	return account, nil
}

// eventFields checks an item's fields other than its account.
func (s *Server) eventFields(ctx context.Context, req publishRequest) (store.PublishEvent, *apiError) {
	var ev store.PublishEvent
	if req.EventType == nil || *req.EventType == "" {
		return ev, invalid("event_type", "is required")
	}
	name := *req.EventType
	if aerr := s.checkPublishable(ctx, name); aerr != nil {
		return ev, aerr
	}
	data := bytes.TrimSpace(req.Data)
	if len(data) == 0 || bytes.Equal(data, []byte("null")) {
		return ev, invalid("data", "is required and must be a JSON object")
	}
	if data[0] != '{' {
		return ev, invalid("data", "must be a JSON object")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return ev, invalid("data", "is not valid JSON: %v", err)
	}
	if compact.Len() > maxPayloadBytes {
		return ev, errorf(http.StatusRequestEntityTooLarge, "payload_too_large",
			"data: must be at most %d bytes, got %d", maxPayloadBytes, compact.Len())
	}
	ev = store.PublishEvent{Type: name, Data: compact.Bytes()}
	if req.SubjectID != nil {
		if aerr := checkIdentifier("subject_id", *req.SubjectID, false); aerr != nil {
			return ev, aerr
		}
		ev.SubjectID = *req.SubjectID
	}
	if req.EventID != nil {
		if aerr := checkIdentifier("event_id", *req.EventID, true); aerr != nil {
			return ev, aerr
		}
		ev.EventID = *req.EventID
	}
	return ev, nil
}

func (s *Server) checkPublishable(ctx context.Context, name string) *apiError {
	t, ok, err := s.Catalog.Lookup(ctx, name)
	switch {
	case err != nil:
		return errorf(http.StatusInternalServerError, "internal_error", "could not read the event catalog")
	case !ok:
		return invalid("event_type", "unknown event type %q; add it to the catalog first with hookrelay admin event-type create --name %q --description … (or POST /v1/event-types)",
			operations.Truncate(name, 100), operations.Truncate(name, 100))
	case t.Reserved:
		return invalid("event_type", "%q is reserved: hookrelay publishes it itself", name)
	}
	return nil
}

// checkIdentifier accepts 1-255 printable ASCII characters: ids appear in
// URLs, logs and headers, where anything else causes trouble. Event ids are
// stricter still (no spaces).
func checkIdentifier(field, v string, strict bool) *apiError {
	if v == "" {
		return invalid(field, "must not be empty")
	}
	if len(v) > 255 {
		return invalid(field, "must be at most 255 characters")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		ok := c > 0x20 && c < 0x7f
		if !strict {
			ok = ok || c == ' '
		}
		if !ok {
			return invalid(field, "must be printable ASCII%s", map[bool]string{true: " without spaces", false: ""}[strict])
		}
	}
	return nil
}

func (s *Server) listEventTypes(w http.ResponseWriter, r *http.Request, c caller) error {
	types, err := s.Store.EventTypeList(r.Context())
	if err != nil {
		return err
	}
	views := make([]eventTypeView, len(types))
	for i, t := range types {
		views[i] = toEventTypeView(t)
	}
	writeList(w, views, "")
	return nil
}
