package app_test

import (
	"context"
	"errors"
	"flag"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/app"
	"github.com/hookrelay/hookrelay/internal/config"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// open runs app.Open with serve's settings on database and returns what it
// logged.
func open(t *testing.T, database string, args ...string) (*app.App, string, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg := config.Register(fs)
	if err := fs.Parse(append([]string{"--database", database, "--addr", "127.0.0.1:0"}, args...)); err != nil {
		t.Fatal(err)
	}
	if err := config.Load(fs, cfg, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a, err := app.Open(context.Background(), cfg, app.Options{Log: slog.New(slog.NewTextHandler(logs, nil))})
	if a != nil {
		t.Cleanup(func() { a.Store.Close() })
	}
	return a, logs.String(), err
}

// TestKeyMustOpenTheDatabasesSecrets: a lost key file, another key file or
// another --encryption-key stops serve at start, naming the key it tried
// and the remedy, instead of serving with every endpoint undeliverable.
func TestKeyMustOpenTheDatabasesSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "hookrelay.db")
	keyFile := db + ".key"

	a, logs, err := open(t, db)
	if err != nil {
		t.Fatal(err)
	}
	// First run: the database and the key are new, and the log says where
	// the key is and that it must be backed up.
	for _, want := range []string{"created a new database", db, "generated a new encryption key", keyFile, "back this file up"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("first run log lacks %q:\n%s", want, logs)
		}
	}
	now := time.Now()
	acc, err := a.Store.AccountCreate(context.Background(), store.AccountCreateParams{ID: webhook.NewID("acc", now), Name: "a", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	id := webhook.NewID("wh", now)
	if _, err := a.Store.EndpointCreate(context.Background(), store.EndpointCreateParams{ID: id, AccountID: acc.ID,
		URL: "https://example.com/", Events: []string{"*"}, Now: now,
		Secret: webhook.EndpointSecret{Ciphertext: a.Box.Seal([]byte("whsec_x"), []byte(id)), Prefix: "whsec_x"}}); err != nil {
		t.Fatal(err)
	}
	fingerprint := a.Box.Fingerprint()
	a.Store.Close()
	original, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}

	// Restarting with the same key is quiet about keys.
	if _, logs, err := open(t, db); err != nil || strings.Contains(logs, "encryption key") || strings.Contains(logs, "created") {
		t.Fatalf("restart: %v\n%s", err, logs)
	}

	t.Run("key file lost", func(t *testing.T) {
		if err := os.Remove(keyFile); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(keyFile, original, 0o600)
		_, _, err := open(t, db)
		for _, want := range []string{keyFile, "missing", "restore", db} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v does not mention %q", err, want)
			}
		}
		if _, err := os.Stat(keyFile); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a new key file was written over the lost one: %v", err)
		}
	})
	t.Run("another key file", func(t *testing.T) {
		if err := os.WriteFile(keyFile, []byte(secretbox.NewKey()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(keyFile, original, 0o600)
		_, _, err := open(t, db)
		for _, want := range []string{"key file " + keyFile, "cannot open the signing secrets", "Restore the key file", db} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v does not mention %q", err, want)
			}
		}
	})
	t.Run("another --encryption-key", func(t *testing.T) {
		_, _, err := open(t, db, "--encryption-key", secretbox.NewKey())
		for _, want := range []string{"--encryption-key", "fingerprint", "cannot open the signing secrets"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v does not mention %q", err, want)
			}
		}
		if strings.Contains(err.Error(), fingerprint) {
			t.Fatalf("error names the right key's fingerprint for a wrong key: %v", err)
		}
	})
	t.Run("the original key given as --encryption-key", func(t *testing.T) {
		if _, _, err := open(t, db, "--encryption-key", strings.TrimSpace(string(original))); err != nil {
			t.Fatal(err)
		}
	})
}

// TestServeCreatesNoDirectories: a database path in a directory that does
// not exist is an error naming it; nothing is created on the way.
func TestServeCreatesNoDirectories(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, _, err := open(t, filepath.Join(dir, "nonexistent", "dir", "x.db"))
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "nonexistent", "dir")) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("error %v, want one naming the missing directory", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nonexistent")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("serve created a directory: %v", err)
	}
}

// TestPostgresNeedsAnEncryptionKey: serve on PostgreSQL without
// --encryption-key stops before connecting (nothing listens at this
// address), saying what to pass and how to make one; with a key it gets as
// far as connecting.
func TestPostgresNeedsAnEncryptionKey(t *testing.T) {
	t.Parallel()
	url := "postgres://hookrelay:s3cret@127.0.0.1:1/none?sslmode=disable&connect_timeout=1"
	_, _, err := open(t, url)
	if err == nil || !strings.Contains(err.Error(), "--encryption-key (or HOOKRELAY_ENCRYPTION_KEY) is required with a PostgreSQL --database") ||
		!strings.Contains(err.Error(), "head -c 32 /dev/urandom | base64") {
		t.Fatalf("serve on PostgreSQL without a key: %v", err)
	}
	_, _, err = open(t, url, "--encryption-key", secretbox.NewKey())
	if err == nil || strings.Contains(err.Error(), "--encryption-key") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("with a key, the error should be about connecting, without the password: %v", err)
	}
}
