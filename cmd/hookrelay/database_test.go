package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOnlyServeAndMigrateCreateADatabase: admin commands on a database
// that does not exist fail naming its absolute path and create nothing;
// migrate creates it, says so with the absolute path, and then admin works.
func TestOnlyServeAndMigrateCreateADatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "typo.db")
	var out, errOut bytes.Buffer
	for _, args := range [][]string{
		{"admin", "operator-key", "create", "--database", db},
		{"admin", "account", "create", "--name", "x", "--database", db},
	} {
		err := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), db) || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("%v: %v, want an error naming %s", args, err, db)
		}
		if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%v created the database: %v", args, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("admin left files behind: %v", entries)
	}

	out.Reset()
	if err := run(context.Background(), []string{"migrate", "--database", db}, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "created database "+db) {
		t.Fatalf("migrate did not say it created %s:\n%s", db, out.String())
	}
	fi, err := os.Stat(db)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file: %v %v, want mode 0600", fi, err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"migrate", "--database", db}, nil, &out, &errOut); err != nil || strings.Contains(out.String(), "created") {
		t.Fatalf("second migrate: %v %s", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"admin", "operator-key", "create", "--database", db}, nil, &out, &errOut); err != nil ||
		!strings.HasPrefix(out.String(), "hrop_") {
		t.Fatalf("admin on the migrated database: %v %s", err, out.String())
	}
}
