package operations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/internal/ssrf"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// EndpointInput creates an endpoint; nil means absent.
type EndpointInput struct {
	URL         *string
	Events      []string
	Description *string
	StrictOrder *bool
}

// EndpointPatch changes what is not nil.
type EndpointPatch struct {
	URL         *string
	Events      *[]string
	Description *string
	StrictOrder *bool
}

// Endpoint returns one endpoint of the account.
func (o *Ops) Endpoint(ctx context.Context, account, id string) (webhook.Endpoint, error) {
	ep, err := o.d.Store.EndpointGet(ctx, store.EndpointGetParams{AccountID: account, ID: id, Now: o.d.Clock.Now()})
	return ep, storeErr(err, "webhook")
}

// EndpointList lists the account's endpoints; search matches URL or
// description.
func (o *Ops) EndpointList(ctx context.Context, account, search, cursor string, limit int) (store.Page[webhook.Endpoint], error) {
	if err := CheckSearch(search); err != nil {
		return store.Page[webhook.Endpoint]{}, err
	}
	limit, err := Page(limit)
	if err != nil {
		return store.Page[webhook.Endpoint]{}, err
	}
	page, err := o.d.Store.EndpointList(ctx, store.EndpointListParams{
		AccountID: account, Now: o.d.Clock.Now(), Search: search, Cursor: cursor, Limit: limit,
	})
	return page, storeErr(err, "webhook")
}

// EndpointCreate adds an endpoint and returns it with its signing secret,
// which is never shown again.
func (o *Ops) EndpointCreate(ctx context.Context, account string, in EndpointInput) (webhook.Endpoint, string, error) {
	if in.URL == nil {
		return webhook.Endpoint{}, "", Invalidf("url", "is required")
	}
	target, err := o.checkURL(ctx, *in.URL)
	if err != nil {
		return webhook.Endpoint{}, "", err
	}
	events, err := o.subscriptions(ctx, account, in.Events, nil)
	if err != nil {
		return webhook.Endpoint{}, "", err
	}
	description := ""
	if in.Description != nil {
		if err := checkDescription(*in.Description); err != nil {
			return webhook.Endpoint{}, "", err
		}
		description = *in.Description
	}
	now := o.d.Clock.Now()
	id := webhook.NewID("wh", now)
	secret, sealed, err := o.newSecret(id)
	if err != nil {
		return webhook.Endpoint{}, "", err
	}
	ep, err := o.d.Store.EndpointCreate(ctx, store.EndpointCreateParams{
		ID: id, AccountID: account, URL: target, Description: description, Events: events,
		StrictOrder: in.StrictOrder != nil && *in.StrictOrder, Secret: sealed, Now: now,
	})
	if err != nil {
		return webhook.Endpoint{}, "", storeErr(err, "webhook")
	}
	return ep, secret, nil
}

// EndpointUpdate changes the fields given; the secret changes only by
// rotation.
func (o *Ops) EndpointUpdate(ctx context.Context, account, id string, p EndpointPatch) (webhook.Endpoint, error) {
	current, err := o.Endpoint(ctx, account, id)
	if err != nil {
		return current, err
	}
	if p.URL == nil && p.Events == nil && p.Description == nil && p.StrictOrder == nil {
		return current, Invalidf("body", "give at least one of url, events, description, strict_order")
	}
	sp := store.EndpointUpdateParams{AccountID: account, ID: id, URL: p.URL, Description: p.Description,
		StrictOrder: p.StrictOrder, Now: o.d.Clock.Now()}
	if p.URL != nil {
		target, err := o.checkURL(ctx, *p.URL)
		if err != nil {
			return current, err
		}
		sp.URL = &target
	}
	if p.Events != nil {
		if sp.Events, err = o.subscriptions(ctx, account, *p.Events, current.Events); err != nil {
			return current, err
		}
	}
	if p.Description != nil {
		if err := checkDescription(*p.Description); err != nil {
			return current, err
		}
	}
	ep, err := o.d.Store.EndpointUpdate(ctx, sp)
	if err != nil {
		return current, storeErr(err, "webhook")
	}
	o.d.Wake([]string{ep.ID}) // a held endpoint reloads its URL at its next read
	return ep, nil
}

// EndpointDelete deletes an endpoint: its pending and queued deliveries
// are cancelled (dropped, and counted so), its log kept until retention.
func (o *Ops) EndpointDelete(ctx context.Context, account, id string) error {
	n, err := o.d.Store.EndpointDelete(ctx, store.EndpointDeleteParams{AccountID: account, ID: id, Now: o.d.Clock.Now()})
	if err != nil {
		return storeErr(err, "webhook")
	}
	o.d.Metrics.DeliveriesDropped(metrics.DropEndpointDeleted, n)
	return nil
}

// EndpointSetActive enables or disables an endpoint and returns it. It is
// idempotent: enabling an active endpoint changes and publishes nothing.
// Enabling leaves queued deliveries queued (EndpointDeliverQueued sends them).
func (o *Ops) EndpointSetActive(ctx context.Context, account, id string, active bool) (webhook.Endpoint, error) {
	now := o.d.Clock.Now()
	var err error
	if active {
		_, err = o.d.Store.EndpointEnable(ctx, store.EndpointEnableParams{AccountID: account, ID: id, Now: now})
	} else {
		_, err = o.d.Store.EndpointDisable(ctx, store.EndpointDisableParams{AccountID: account, ID: id, Reason: reasonManual, Now: now})
	}
	if err != nil {
		return webhook.Endpoint{}, storeErr(err, "webhook")
	}
	if active {
		o.d.Wake([]string{id})
	}
	return o.Endpoint(ctx, account, id)
}

// Rotation is a new secret, shown this once.
type Rotation struct {
	Secret       string
	SecretPrefix string
}

// EndpointRotateSecret issues a new secret. Without a grace period the old
// one stops signing at once; with one (0 to 7 days, in seconds) both sign
// until it ends.
func (o *Ops) EndpointRotateSecret(ctx context.Context, account, id string, graceSeconds int64) (Rotation, error) {
	if _, err := o.Endpoint(ctx, account, id); err != nil {
		return Rotation{}, err
	}
	if graceSeconds < 0 || graceSeconds > MaxGraceSeconds {
		return Rotation{}, Invalidf("grace_period_seconds", "must be from 0 to %d (7 days), got %d", MaxGraceSeconds, graceSeconds)
	}
	secret, sealed, err := o.newSecret(id)
	if err != nil {
		return Rotation{}, err
	}
	err = o.d.Store.EndpointRotateSecret(ctx, store.EndpointRotateSecretParams{
		AccountID: account, ID: id, Secret: sealed, Now: o.d.Clock.Now(),
		Grace: secondsDuration(graceSeconds),
	})
	if err != nil {
		return Rotation{}, storeErr(err, "webhook")
	}
	return Rotation{Secret: secret, SecretPrefix: sealed.Prefix}, nil
}

// EndpointSendTest sends webhook.test to the endpoint at once, whatever it
// subscribes to, and returns the delivery.
func (o *Ops) EndpointSendTest(ctx context.Context, account, id string) (webhook.Delivery, error) {
	now := o.d.Clock.Now()
	data, err := json.Marshal(struct {
		WebhookID string `json:"webhook_id"`
		Message   string `json:"message"`
	}{id, testEventMessage})
	if err != nil {
		return webhook.Delivery{}, err
	}
	d, err := o.d.Store.DeliveryCreateTest(ctx, store.DeliveryCreateTestParams{
		AccountID: account, EndpointID: id, EventID: webhook.NewID("evt", now), DeliveryID: webhook.NewID("dlv", now),
		Data: data, Now: now,
	})
	if err != nil {
		return d, storeErr(err, "webhook")
	}
	o.d.Wake([]string{id})
	return d, nil
}

// EndpointDeliverQueued sends the endpoint's queued deliveries in publish
// order and says how many; a Conflict while it is disabled.
func (o *Ops) EndpointDeliverQueued(ctx context.Context, account, id string) (int, error) {
	n, err := o.d.Store.DeliveriesQueuedDeliver(ctx, store.DeliveriesQueuedDeliverParams{
		AccountID: account, EndpointID: id, Now: o.d.Clock.Now(),
	})
	if err != nil {
		return 0, storeErr(err, "webhook")
	}
	if n > 0 {
		o.d.Wake([]string{id})
	}
	return n, nil
}

func (o *Ops) newSecret(endpointID string) (string, webhook.EndpointSecret, error) {
	secret, err := signing.NewSecret()
	if err != nil {
		return "", webhook.EndpointSecret{}, fmt.Errorf("new signing secret: %w", err)
	}
	return secret, webhook.EndpointSecret{
		Ciphertext: o.d.Box.Seal([]byte(secret), []byte(endpointID)),
		Prefix:     signing.DisplayPrefix(secret),
	}, nil
}

// checkURL validates an endpoint URL and returns the form to store: the
// scheme lowercased, because schemes are case-insensitive (RFC 3986 §3.1)
// and "HTTPS://" shown back in the API and dashboard would look like a
// different endpoint. The rest is kept exactly as given.
func (o *Ops) checkURL(ctx context.Context, raw string) (string, error) {
	if n := utf8.RuneCountInString(raw); n > MaxURLLength {
		return "", Invalidf("url", "must be at most %d characters, got %d", MaxURLLength, n)
	}
	if strings.TrimSpace(raw) == "" {
		return "", Invalidf("url", "is required")
	}
	if o.d.CheckURL != nil {
		if err := o.d.CheckURL(ctx, raw); err != nil {
			return "", Invalidf("url", "%s%s", err.Error(), devHint(raw, err))
		}
	}
	if scheme, rest, ok := strings.Cut(raw, "://"); ok {
		raw = strings.ToLower(scheme) + "://" + rest
	}
	return raw, nil
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

func checkDescription(d string) error {
	if n := utf8.RuneCountInString(d); n > MaxDescription {
		return Invalidf("description", "must be at most %d characters, got %d", MaxDescription, n)
	}
	return nil
}

// subscriptions checks an endpoint's event list against the catalog and
// normalises it: duplicates removed, ["*"] alone. current is what the
// endpoint already subscribes to (deprecation stops new subscriptions,
// not existing ones).
func (o *Ops) subscriptions(ctx context.Context, account string, events, current []string) ([]string, error) {
	if len(events) == 0 {
		return nil, Invalidf("events", "must be a non-empty array of event type names, or [\"*\"]")
	}
	if len(events) > MaxEventTypes {
		return nil, Invalidf("events", "at most %d event types per endpoint, got %d", MaxEventTypes, len(events))
	}
	if slices.Contains(events, "*") {
		if len(events) > 1 {
			return nil, Invalidf("events", `"*" already subscribes to every type; list it alone`)
		}
		return []string{"*"}, nil
	}
	var out []string
	for i, name := range events {
		field := "events[" + strconv.Itoa(i) + "]"
		t, ok, err := o.d.Catalog.Lookup(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("read the event catalog: %w", err)
		}
		if !ok {
			return nil, Invalidf(field, "unknown event type %q; %s", name, catalogListFooter)
		}
		if why := unsubscribable(t, account, current); why != "" {
			return nil, Invalidf(field, "%s", why)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// unsubscribable says why an account's endpoint may not subscribe to t,
// or "" when it may.
func unsubscribable(t webhook.EventType, account string, current []string) string {
	switch {
	case t.Deprecated && !slices.Contains(current, t.Name):
		return fmt.Sprintf("event type %q is deprecated and takes no new subscriptions", t.Name)
	case t.Name == webhook.EventTypeTest:
		return fmt.Sprintf("%q is sent on demand to any endpoint and needs no subscription", t.Name)
	case t.Reserved && account != webhook.OperatorAccountID:
		return fmt.Sprintf("%q is an operational event, published only to the operator account", t.Name)
	}
	return ""
}

// Subscribable lists the catalog's types an endpoint of the account may
// subscribe to, given what it subscribes to now (nil for a new one): what
// the dashboard offers as checkboxes.
func (o *Ops) Subscribable(ctx context.Context, account string, current []string) ([]webhook.EventType, error) {
	types, err := o.d.Store.EventTypeList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list event types: %w", err)
	}
	out := types[:0]
	for _, t := range types {
		if unsubscribable(t, account, current) == "" {
			out = append(out, t)
		}
	}
	return out, nil
}
