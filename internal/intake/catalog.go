package intake

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/internal/webhook"
)

// CatalogSource reads the event-type catalog.
type CatalogSource interface {
	EventTypeList(ctx context.Context) ([]webhook.EventType, error)
}

// Catalog caches the event-type catalog: every publish checks its type, and
// the catalog changes rarely. A name not found triggers a reload (at most
// every missReload), so a type created by another process is usable at
// once, while a flood of bad names cannot turn into a flood of queries.
type Catalog struct {
	src CatalogSource
	ttl time.Duration

	mu       sync.Mutex
	types    map[string]webhook.EventType
	loadedAt time.Time
}

const missReload = 200 * time.Millisecond

// NewCatalog returns a cache that reloads at least every ttl.
func NewCatalog(src CatalogSource, ttl time.Duration) *Catalog {
	return &Catalog{src: src, ttl: ttl}
}

// Lookup returns the type named name, if it exists.
func (c *Catalog) Lookup(ctx context.Context, name string) (webhook.EventType, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	age := time.Since(c.loadedAt)
	if c.types == nil || age > c.ttl {
		if err := c.load(ctx); err != nil {
			return webhook.EventType{}, false, err
		}
		age = 0
	}
	t, ok := c.types[name]
	if !ok && age > missReload {
		if err := c.load(ctx); err != nil {
			return webhook.EventType{}, false, err
		}
		t, ok = c.types[name]
	}
	return t, ok, nil
}

// Invalidate forces a reload on the next lookup (after this process
// changed the catalog).
func (c *Catalog) Invalidate() {
	c.mu.Lock()
	c.types = nil
	c.mu.Unlock()
}

func (c *Catalog) load(ctx context.Context) error {
	list, err := c.src.EventTypeList(ctx)
	if err != nil {
		return fmt.Errorf("load event types: %w", err)
	}
	m := make(map[string]webhook.EventType, len(list))
	for _, t := range list {
		m[t.Name] = t
	}
	c.types, c.loadedAt = m, time.Now()
	return nil
}
