package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"unicode/utf8"

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

type batchRequest struct {
	// Items are decoded one by one, so that an error names its index.
	Events    []json.RawMessage `json:"events"`
	AccountID *string           `json:"account_id"`
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
func (s *Server) publishBatch(w http.ResponseWriter, r *http.Request, c caller) error {
	var req batchRequest
	if err := decode(w, r, maxBatchBodyBytes, batchShape, &req); err != nil {
		return err
	}
	if len(req.Events) == 0 {
		return invalid("events", "must be a non-empty array")
	}
	if len(req.Events) > maxBatchEvents {
		return invalid("events", "at most %d events per batch, got %d", maxBatchEvents, len(req.Events))
	}
	top := ""
	if req.AccountID != nil {
		top = *req.AccountID
	}
	events := make([]store.PublishEvent, len(req.Events))
	accounts := map[string]string{} // checked once per batch, not once per item
	for i, raw := range req.Events {
		field := "events[" + strconv.Itoa(i) + "]"
		var item publishRequest
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&item); err != nil {
			if aerr := decodeError(err, maxBatchBodyBytes); aerr.code == "validation_error" {
				aerr.message = field + "." + aerr.message
				return aerr
			}
			return invalid(field, "must be a JSON object")
		}
		ev, aerr := s.validateEvent(r, c, item, top, accounts)
		if aerr != nil {
			if aerr.code == "validation_error" || aerr.code == "payload_too_large" {
				aerr.message = field + "." + aerr.message
			}
			return aerr
		}
		events[i] = ev
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
	var ev store.PublishEvent
	bodyAccount := defaultAccount
	if req.AccountID != nil {
		bodyAccount = *req.AccountID
	}
	account, ok := accounts[bodyAccount]
	if !ok {
		var aerr *apiError
		if account, aerr = s.accountFor(r, c, bodyAccount); aerr != nil {
			return ev, aerr
		}
		accounts[bodyAccount] = account
	}
	if req.EventType == nil || *req.EventType == "" {
		return ev, invalid("event_type", "is required")
	}
	name := *req.EventType
	if aerr := s.checkPublishable(r.Context(), name); aerr != nil {
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
	ev = store.PublishEvent{AccountID: account, Type: name, Data: compact.Bytes()}
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
			truncate(name, 100), truncate(name, 100))
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
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
