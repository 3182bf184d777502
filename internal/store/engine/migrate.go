package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"
)

// MigrationsUp applies a driver's pending migrations with goose and names
// each one applied, in order. classify maps the driver's errors.
func MigrationsUp(ctx context.Context, p *goose.Provider, err error, classify func(error) error) ([]string, error) {
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", classify(err))
	}
	applied := make([]string, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Path)
	}
	return applied, nil
}

// MigrationsCurrent reports, in words for /readyz, a schema with pending
// migrations.
func MigrationsCurrent(ctx context.Context, p *goose.Provider, err error, classify func(error) error) error {
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("check migrations: %w", classify(err))
	}
	if pending {
		return errors.New("database schema is not current: run hookrelay migrate")
	}
	return nil
}
