package postgres_test

import (
	"context"
	"testing"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/pgtest"
	"github.com/hookrelay/hookrelay/internal/store/postgres"
	"github.com/hookrelay/hookrelay/internal/store/storetest"
)

var _ store.Store = (*postgres.Store)(nil)

// newDatabase makes a database per test; each handle is a pool of its own,
// as a node would open it.
func newDatabase(t *testing.T) storetest.Handle {
	url := pgtest.URL(t)
	first := true
	return func(t *testing.T) store.Store {
		t.Helper()
		s, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 4})
		if err == nil && first {
			err, first = s.Migrate(context.Background()), false
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, newDatabase)
}

func TestReady(t *testing.T) {
	t.Parallel()
	s, err := postgres.Open(context.Background(), pgtest.URL(t), postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ready(context.Background()); err == nil {
		t.Fatal("Ready before migrating should report pending migrations")
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(context.Background()); err != nil {
		t.Fatalf("Ready after migrating: %v", err)
	}
}
