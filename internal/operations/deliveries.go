package operations

import (
	"context"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

func secondsDuration(s int64) time.Duration { return time.Duration(s) * time.Second }

// ParseTime reads an RFC 3339 time given in field.
func ParseTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, Invalidf(field, "must be an RFC 3339 time such as 2026-05-12T12:00:00Z, got %q", Truncate(v, 50))
	}
	return t, nil
}

// ParseTimePtr reads an optional time: nil when v is.
func ParseTimePtr(field string, v *string) (*time.Time, error) {
	if v == nil {
		return nil, nil
	}
	t, err := ParseTime(field, *v)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// DeliveryQuery filters an endpoint's delivery log.
type DeliveryQuery struct {
	EventType string
	Status    string // "" for any
	SubjectID string
	Since     *time.Time
	Until     *time.Time
	Cursor    string
	Limit     int // 0: the default
}

// DeliveryList lists an endpoint's deliveries, newest first.
func (o *Ops) DeliveryList(ctx context.Context, account, endpointID string, q DeliveryQuery) (store.Page[webhook.Delivery], error) {
	var none store.Page[webhook.Delivery]
	limit, err := Page(q.Limit)
	if err != nil {
		return none, err
	}
	p := store.DeliveryListParams{AccountID: account, EndpointID: endpointID, EventType: q.EventType,
		SubjectID: q.SubjectID, Cursor: q.Cursor, Limit: limit}
	if q.Status != "" {
		p.Status = webhook.DeliveryStatus(q.Status)
		if !p.Status.Valid() {
			return none, Invalidf("status", "must be one of pending, delivered, failed, queued, dropped; got %q", Truncate(q.Status, 50))
		}
	}
	p.Since, p.Until = roundUpMS(q.Since), roundUpMS(q.Until)
	page, err := o.d.Store.DeliveryList(ctx, p)
	return page, storeErr(err, "webhook")
}

// roundUpMS: the store keeps milliseconds, so a sub-millisecond bound is
// rounded up and still means created_at >= since and created_at < until.
func roundUpMS(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	r := *t
	if c := r.Truncate(time.Millisecond); !c.Equal(r) {
		r = c.Add(time.Millisecond)
	}
	return &r
}

// Delivery returns one delivery with its payload and attempts.
func (o *Ops) Delivery(ctx context.Context, account, endpointID, id string) (webhook.Delivery, error) {
	d, err := o.d.Store.DeliveryGet(ctx, store.DeliveryGetParams{AccountID: account, EndpointID: endpointID, ID: id})
	return d, storeErr(err, "delivery")
}

// DeliveryReplay sends a delivery again at once, with the same id and a
// fresh retry schedule.
func (o *Ops) DeliveryReplay(ctx context.Context, account, endpointID, id string) (webhook.Delivery, error) {
	d, err := o.d.Store.DeliveryReplay(ctx, store.DeliveryReplayParams{
		AccountID: account, EndpointID: endpointID, ID: id, Now: o.d.Clock.Now(),
	})
	if err != nil {
		return d, storeErr(err, "delivery")
	}
	o.d.Wake([]string{endpointID})
	return d, nil
}

// DeliveriesRecover re-sends every failed delivery of the endpoint created
// in [since, until) and says how many.
func (o *Ops) DeliveriesRecover(ctx context.Context, account, endpointID string, since time.Time, until *time.Time) (int, error) {
	if _, err := o.Endpoint(ctx, account, endpointID); err != nil {
		return 0, err
	}
	if until != nil && !until.After(since) {
		return 0, Invalidf("until", "must be after since")
	}
	n, err := o.d.Store.DeliveriesRecover(ctx, store.DeliveriesRecoverParams{
		AccountID: account, EndpointID: endpointID, Since: since, Until: until, Now: o.d.Clock.Now(),
	})
	if err != nil {
		return 0, storeErr(err, "webhook")
	}
	if n > 0 {
		o.d.Wake([]string{endpointID})
	}
	return n, nil
}

// QueuedList lists an endpoint's queued deliveries, oldest first.
func (o *Ops) QueuedList(ctx context.Context, account, endpointID, cursor string, limit int) (store.Page[webhook.Delivery], error) {
	limit, err := Page(limit)
	if err != nil {
		return store.Page[webhook.Delivery]{}, err
	}
	page, err := o.d.Store.DeliveryQueuedList(ctx, store.DeliveryQueuedListParams{
		AccountID: account, EndpointID: endpointID, Cursor: cursor, Limit: limit,
	})
	return page, storeErr(err, "webhook")
}
