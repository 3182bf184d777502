package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
)

// Migrate opens the configured database, creating it when missing (created
// is told its absolute path), and applies its pending migrations:
// `hookrelay migrate`. It returns the open store and the migrations
// applied.
func Migrate(ctx context.Context, cfg *config.Config, created func(path string)) (store.Store, []string, error) {
	if cfg.IsPostgres() {
		return nil, nil, errors.New("PostgreSQL storage is not part of this build yet; use a SQLite file for --database")
	}
	path, err := filepath.Abs(cfg.Database)
	if err != nil {
		return nil, nil, fmt.Errorf("--database %s: %w", cfg.Database, err)
	}
	s, err := sqlite.Open(path)
	if err != nil {
		return nil, nil, err
	}
	if s.Created() && created != nil {
		created(path)
	}
	applied, err := s.MigrationsApply(ctx)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, applied, nil
}
