package api

import (
	"encoding/json"
	"net/http"

	"github.com/hookrelay/hookrelay/internal/operations"
)

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
	t, err := s.Ops.EventTypeCreate(r.Context(), operations.EventTypeInput{Name: req.Name, Description: req.Description,
		Example: req.Example, Deprecated: req.Deprecated != nil && *req.Deprecated})
	if err != nil {
		return err
	}
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
	if _, err := s.Ops.EventType(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	if err := decode(w, r, maxBodyBytes, eventTypePatch, &req); err != nil {
		return err
	}
	var p operations.EventTypePatch
	if req.Description.Set {
		if req.Description.Null {
			return invalid("description", "must be a string, not null")
		}
		p.Description = &req.Description.V
	}
	if req.Example.Set {
		p.SetExample, p.Example = true, req.Example.V // null: no example
	}
	if req.Deprecated.Set {
		if req.Deprecated.Null {
			return invalid("deprecated", "must be a boolean, not null")
		}
		p.Deprecated = &req.Deprecated.V
	}
	t, err := s.Ops.EventTypeUpdate(r.Context(), r.PathValue("name"), p)
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, toEventTypeView(t))
	return nil
}
