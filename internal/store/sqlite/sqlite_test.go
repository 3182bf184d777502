package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
	"github.com/hookrelay/hookrelay/internal/store/storetest"
)

var _ store.Store = (*sqlite.Store)(nil)

func open(t *testing.T) store.Store {
	t.Helper()
	s, err := openPath(filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPath(path string) (*sqlite.Store, error) {
	s, err := sqlite.Open(path)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(context.Background()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// newDatabase makes a database file per test; each handle is a Store of
// its own on it, as a process would open it.
func newDatabase(t *testing.T) storetest.Handle {
	path := filepath.Join(t.TempDir(), "test.db")
	first := true
	return func(t *testing.T) store.Store {
		t.Helper()
		s, err := sqlite.Open(path)
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
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "test.db"))
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
