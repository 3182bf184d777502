package app

import (
	"context"
	"errors"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
)

// Migrate opens the configured database, creating it when missing, and
// applies its pending migrations: `hookrelay migrate`. It returns the open
// store and the migrations applied.
func Migrate(ctx context.Context, cfg *config.Config) (store.Store, []string, error) {
	if cfg.IsPostgres() {
		return nil, nil, errors.New("PostgreSQL storage is not part of this build yet; use a SQLite file for --database")
	}
	s, err := sqlite.Open(cfg.Database)
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
