package operations

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// EventTypeInput adds a type to the catalog; nil means absent.
type EventTypeInput struct {
	Name        *string
	Description *string
	Example     json.RawMessage // empty or null: none
	Deprecated  bool
}

// EventTypePatch changes what is set.
type EventTypePatch struct {
	Description *string
	SetExample  bool            // replace the example with Example (null removes it)
	Example     json.RawMessage //
	Deprecated  *bool
}

// EventTypes lists the catalog by name, the reserved types included.
func (o *Ops) EventTypes(ctx context.Context) ([]webhook.EventType, error) {
	types, err := o.d.Store.EventTypeList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list event types: %w", err)
	}
	return types, nil
}

// EventType returns one type of the catalog.
func (o *Ops) EventType(ctx context.Context, name string) (webhook.EventType, error) {
	types, err := o.EventTypes(ctx)
	if err != nil {
		return webhook.EventType{}, err
	}
	for _, t := range types {
		if t.Name == name {
			return t, nil
		}
	}
	return webhook.EventType{}, notFound("event type")
}

// EventTypeCreate adds a type to the catalog. A deprecated type takes no
// new subscriptions; it can still be published.
func (o *Ops) EventTypeCreate(ctx context.Context, in EventTypeInput) (webhook.EventType, error) {
	if in.Name == nil {
		return webhook.EventType{}, Invalidf("name", "is required")
	}
	if err := webhook.ValidateEventTypeName(*in.Name); err != nil {
		return webhook.EventType{}, Invalidf("name", "%s", err.Error())
	}
	if webhook.IsReservedEventType(*in.Name) {
		return webhook.EventType{}, Invalidf("name", "%q is reserved: hookrelay publishes it itself", *in.Name)
	}
	if in.Description == nil {
		return webhook.EventType{}, Invalidf("description", "is required")
	}
	description, err := typeDescription(*in.Description)
	if err != nil {
		return webhook.EventType{}, err
	}
	example, err := Example(in.Example)
	if err != nil {
		return webhook.EventType{}, err
	}
	t, err := o.d.Store.EventTypeCreate(ctx, store.EventTypeCreateParams{
		Name: *in.Name, Description: description, Example: example, Deprecated: in.Deprecated, Now: o.d.Clock.Now(),
	})
	if err != nil {
		if e, ok := AsError(storeErr(err, "event type")); ok && e.Kind == Conflict {
			return t, &Error{Kind: Conflict, Message: fmt.Sprintf("event type %q already exists", *in.Name)}
		}
		return t, storeErr(err, "event type")
	}
	o.d.Catalog.Invalidate()
	return t, nil
}

// EventTypeUpdate changes a type's description, example or deprecated
// flag. Deprecating keeps existing subscriptions.
func (o *Ops) EventTypeUpdate(ctx context.Context, name string, p EventTypePatch) (webhook.EventType, error) {
	if webhook.IsReservedEventType(name) {
		return webhook.EventType{}, Invalidf("name", "%q is reserved: hookrelay's own types cannot be changed", name)
	}
	if p.Description == nil && !p.SetExample && p.Deprecated == nil {
		return webhook.EventType{}, Invalidf("body", "nothing to change: give description, example or deprecated")
	}
	sp := store.EventTypeUpdateParams{Name: name, Deprecated: p.Deprecated, Now: o.d.Clock.Now()}
	if p.Description != nil {
		d, err := typeDescription(*p.Description)
		if err != nil {
			return webhook.EventType{}, err
		}
		sp.Description = &d
	}
	if p.SetExample {
		ex, err := Example(p.Example)
		if err != nil {
			return webhook.EventType{}, err
		}
		sp.SetExample, sp.Example = true, ex
	}
	t, err := o.d.Store.EventTypeUpdate(ctx, sp)
	if err != nil {
		return t, storeErr(err, "event type")
	}
	o.d.Catalog.Invalidate()
	return t, nil
}

// EventTypeDelete removes a type from the catalog and returns it. Reserved
// types and types an endpoint subscribes to are a Conflict.
func (o *Ops) EventTypeDelete(ctx context.Context, name string) (webhook.EventType, error) {
	t, err := o.EventType(ctx, name)
	if err != nil {
		if e, ok := AsError(err); ok && e.Kind == NotFound {
			return t, notFound(fmt.Sprintf("event type %q", name))
		}
		return t, err
	}
	if err := o.d.Store.EventTypeDelete(ctx, store.EventTypeDeleteParams{Name: name}); err != nil {
		return t, storeErr(err, "event type")
	}
	o.d.Catalog.Invalidate()
	return t, nil
}

// Example accepts a JSON object of at most a payload's size and returns
// it compacted; empty or null is no example.
func Example(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, Invalidf("example", "must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, Invalidf("example", "is not valid JSON: %v", err)
	}
	if buf.Len() > MaxPayloadBytes {
		return nil, Invalidf("example", "must be at most %d bytes, got %d", MaxPayloadBytes, buf.Len())
	}
	return buf.Bytes(), nil
}

// typeDescription accepts 1-500 characters once trimmed; lines and tabs
// are fine, other control characters are not.
func typeDescription(d string) (string, error) {
	d = strings.TrimSpace(d)
	if d == "" {
		return "", Invalidf("description", "is required")
	}
	if n := utf8.RuneCountInString(d); n > MaxDescription {
		return "", Invalidf("description", "must be at most %d characters, got %d", MaxDescription, n)
	}
	if strings.ContainsFunc(d, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) {
		return "", Invalidf("description", "must not contain control characters other than newlines and tabs")
	}
	return d, nil
}
