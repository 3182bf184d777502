package app

import (
	"context"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/store"
)

// Migrate opens the configured database, creating a missing SQLite file
// (created is told its absolute path), and applies its pending migrations:
// `hookrelay migrate`. It returns the open store and the migrations
// applied.
func Migrate(ctx context.Context, cfg *config.Config, created func(path string)) (store.Store, []string, error) {
	s, err := openDatabase(ctx, cfg, StoreOptions{Create: true, Created: created})
	if err != nil {
		return nil, nil, err
	}
	applied, err := s.MigrationsApply(ctx)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, applied, nil
}
