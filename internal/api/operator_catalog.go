package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// checkExample accepts a JSON object of at most a payload's size and
// returns it compacted; empty or null is no example.
func checkExample(raw json.RawMessage) (json.RawMessage, *apiError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, invalid("example", "must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, invalid("example", "is not valid JSON: %v", err)
	}
	if buf.Len() > maxPayloadBytes {
		return nil, invalid("example", "must be at most %d bytes, got %d", maxPayloadBytes, buf.Len())
	}
	return buf.Bytes(), nil
}

// checkTypeDescription accepts 1-500 characters once trimmed; lines and
// tabs are fine, other control characters are not.
func checkTypeDescription(d string) (string, *apiError) {
	d = strings.TrimSpace(d)
	if d == "" {
		return "", invalid("description", "is required")
	}
	if n := utf8.RuneCountInString(d); n > maxDescription {
		return "", invalid("description", "must be at most %d characters, got %d", maxDescription, n)
	}
	if strings.ContainsFunc(d, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
		return "", invalid("description", "must not contain control characters other than newlines and tabs")
	}
	return d, nil
}

// createEventType adds a type to the catalog. A deprecated type takes no
// new subscriptions; it can still be published.
func (s *Server) createEventType(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		Name        *string         `json:"name"`
		Description *string         `json:"description"`
		Example     json.RawMessage `json:"example"`
		Deprecated  *bool           `json:"deprecated"`
	}
	if err := decode(w, r, maxBodyBytes, eventTypeShape, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return invalid("name", "is required")
	}
	if err := webhook.ValidateEventTypeName(*req.Name); err != nil {
		return invalid("name", "%s", err.Error())
	}
	if webhook.IsReservedEventType(*req.Name) {
		return invalid("name", "%q is reserved: hookrelay publishes it itself", *req.Name)
	}
	if req.Description == nil {
		return invalid("description", "is required")
	}
	description, aerr := checkTypeDescription(*req.Description)
	if aerr != nil {
		return aerr
	}
	example, aerr := checkExample(req.Example)
	if aerr != nil {
		return aerr
	}
	t, err := s.Store.EventTypeCreate(r.Context(), store.EventTypeCreateParams{
		Name: *req.Name, Description: description, Example: example, Now: s.Clock.Now(),
		Deprecated: req.Deprecated != nil && *req.Deprecated,
	})
	if err != nil {
		return err
	}
	s.Catalog.Invalidate()
	writeData(w, http.StatusCreated, toEventTypeView(t))
	return nil
}

// updateEventType changes a type's description, example (null removes
// it) or deprecated flag. Deprecating keeps existing subscriptions.
func (s *Server) updateEventType(w http.ResponseWriter, r *http.Request, c caller) error {
	var req struct {
		Description field[string]          `json:"description"`
		Example     field[json.RawMessage] `json:"example"`
		Deprecated  field[bool]            `json:"deprecated"`
	}
	name := r.PathValue("name")
	types, err := s.Store.EventTypeList(r.Context())
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(types, func(t webhook.EventType) bool { return t.Name == name }) {
		return notFound("event type")
	}
	if err := decode(w, r, maxBodyBytes, eventTypePatch, &req); err != nil {
		return err
	}
	if webhook.IsReservedEventType(name) {
		return invalid("name", "%q is reserved: hookrelay's own types cannot be changed", name)
	}
	if !req.Description.Set && !req.Example.Set && !req.Deprecated.Set {
		return invalid("body", "nothing to change: give description, example or deprecated")
	}
	p := store.EventTypeUpdateParams{Name: name, Now: s.Clock.Now()}
	if req.Description.Set {
		if req.Description.Null {
			return invalid("description", "must be a string, not null")
		}
		d, aerr := checkTypeDescription(req.Description.V)
		if aerr != nil {
			return aerr
		}
		p.Description = &d
	}
	if req.Example.Set {
		ex, aerr := checkExample(req.Example.V) // null: no example
		if aerr != nil {
			return aerr
		}
		p.SetExample, p.Example = true, ex
	}
	if req.Deprecated.Set {
		if req.Deprecated.Null {
			return invalid("deprecated", "must be a boolean, not null")
		}
		p.Deprecated = &req.Deprecated.V
	}
	t, err := s.Store.EventTypeUpdate(r.Context(), p)
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound("event type")
	}
	if err != nil {
		return err
	}
	s.Catalog.Invalidate()
	writeData(w, http.StatusOK, toEventTypeView(t))
	return nil
}
