package storetest

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/pgtest"
	"github.com/hookrelay/hookrelay/internal/store/postgres"
	"github.com/hookrelay/hookrelay/internal/store/sqlite"
)

// OnBothDrivers runs fn as two subtests, "sqlite" and "postgres"; Open
// called inside them opens that driver. The PostgreSQL one is skipped,
// saying so, without HOOKRELAY_TEST_POSTGRES. Tests of other packages wrap
// in it the tests where the database matters (publishing, leasing,
// recording, idempotency), so those run on both.
func OnBothDrivers(t *testing.T, fn func(t *testing.T)) {
	t.Run("sqlite", fn)
	t.Run("postgres", fn)
}

// Open opens a fresh, migrated database for the test: PostgreSQL when the
// test runs under OnBothDrivers' "postgres" subtest, SQLite otherwise. It
// closes when the test ends.
func Open(t testing.TB) store.Store {
	t.Helper()
	ctx := context.Background()
	var s store.Store
	var err error
	if OnPostgres(t) {
		s, err = postgres.Open(ctx, pgtest.URL(t), postgres.Options{MaxConns: 4})
	} else {
		s, err = sqlite.Open(filepath.Join(t.TempDir(), "test.db"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// OnPostgres reports whether the test runs under OnBothDrivers' "postgres"
// subtest.
func OnPostgres(t testing.TB) bool {
	return slices.Contains(strings.Split(t.Name(), "/"), "postgres")
}
