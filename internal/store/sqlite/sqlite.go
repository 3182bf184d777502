// Package sqlite is the embedded default driver of the store, on
// modernc.org/sqlite (pure Go, so the binary builds with CGO_ENABLED=0). It
// holds SQLite's SQL (sql.go), its connections and how its errors map; the
// product's rules are the engine's (internal/store/engine).
//
// SQLite allows one writer at a time. Rather than let many connections fight
// for the write lock (SQLITE_BUSY, retries), the driver keeps exactly one
// writer connection whose transactions start with BEGIN IMMEDIATE, and a
// pool of read-only connections that WAL mode lets run beside it. Throughput
// comes from batching: callers hand over many publishes or attempt results
// at once, and each batch costs one transaction and one fsync
// (synchronous=FULL, so a committed publish survives power loss).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/engine"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is store.Store on a SQLite file: the engine on this driver.
type Store struct {
	*engine.Engine

	w  *sql.DB // exactly one connection: all writes
	r  *sql.DB // read-only pool
	wc *stmtCache
	rd pool // reads through prepared statements

	// wmu serialises write transactions with their PRAGMA synchronous: a
	// channel of one token rather than a mutex, so that a writer waiting
	// behind a long batch gives up when its context ends (a release at
	// shutdown must not outlive the shutdown's deadline).
	wmu     chan struct{}
	durable bool // the writer's current synchronous mode is FULL

	path    string
	created bool
	health  store.WriteHealth // the last write's outcome, for Ready
}

var (
	_ store.Store   = (*Store)(nil)
	_ engine.Driver = (*Store)(nil)
)

// Open opens the database file at path, creating it when it does not exist
// (mode 0600: it holds every tenant's data; SQLite gives its WAL and
// shared-memory files the same mode). The directory must exist: a typo in
// a path must not grow a tree of directories. It does not migrate; call
// Migrate. Created reports whether this call made the file.
func Open(path string) (*Store, error) { return open(path, true) }

// OpenExisting opens a database that already exists. A missing file is an
// error matching fs.ErrNotExist, and nothing is created.
func OpenExisting(path string) (*Store, error) { return open(path, false) }

func open(path string, create bool) (*Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	created := false
	if create {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		switch {
		case err == nil:
			created = true
			if err := f.Close(); err != nil {
				return nil, fmt.Errorf("create database %s: %w", path, err)
			}
		case errors.Is(err, fs.ErrExist):
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("create database %s: directory %s does not exist", path, filepath.Dir(path))
		default:
			return nil, fmt.Errorf("create database: %w", err)
		}
	} else if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("database %s does not exist: %w", path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("open database: %w", err)
	}
	s, err := openFile(path)
	if err != nil {
		if created {
			_ = os.Remove(path)
		}
		return nil, err
	}
	s.created, s.path = created, path
	return s, nil
}

// uriPath escapes what a file: URI would read as its query or fragment.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

func openFile(path string) (*Store, error) {
	common := []string{
		"busy_timeout(10000)",
		"journal_mode(WAL)",
		"synchronous(FULL)",
		"temp_store(MEMORY)",
	}
	dsn := func(extra []string, txlock string) string {
		q := url.Values{}
		for _, p := range append(common, extra...) {
			q.Add("_pragma", p)
		}
		if txlock != "" {
			q.Set("_txlock", txlock)
		}
		// mode=rw: SQLite never creates the file; open made it, 0600.
		q.Set("mode", "rw")
		return "file:" + uriPath.Replace(path) + "?" + q.Encode()
	}
	// Memory goes to the writer's page cache, which keeps what it wrote:
	// the indexes of the deliveries table are written on every publish and
	// every result. A reader's cache is emptied each time it starts a
	// transaction after a write, which under load is every time; a small
	// one serves the pages of one transaction. 64 MB + 4 × 4 MB.
	w, err := sql.Open("sqlite", dsn([]string{"cache_size(-64000)"}, "immediate"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Switch the file to WAL before readers open it.
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, classify(err))
	}
	r, err := sql.Open("sqlite", dsn([]string{"cache_size(-4000)", "query_only(1)"}, ""))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(0)
	wc := newStmtCache(w)
	s := &Store{w: w, r: r, wc: wc, rd: pool{newStmtCache(r)}, durable: true, wmu: make(chan struct{}, 1)}
	s.Engine = engine.New(s)
	return s, nil
}

// SQL is SQLite's statements.
func (s *Store) SQL() *engine.SQL { return &statements }

// Read is the read-only pool.
func (s *Store) Read() engine.Querier { return s.rd }

// Write runs fn in a transaction on the one writer (BEGIN IMMEDIATE).
// durable commits with synchronous=FULL (fsynced: anything the API
// acknowledges); otherwise NORMAL, for the dispatcher's bookkeeping, which
// the next durable commit's fsync covers too.
func (s *Store) Write(ctx context.Context, durable bool, fn func(engine.Tx) error) error {
	return s.Err(s.write(ctx, durable, func(tx *wtx) error { return fn(tx) }))
}

// ReadTx runs fn in one read-only transaction on a reader connection.
func (s *Store) ReadTx(ctx context.Context, fn func(engine.Querier) error) error {
	return s.Err(s.read(ctx, func(tx *wtx) error { return fn(tx) }))
}

// Created reports whether Open created the database file.
func (s *Store) Created() bool { return s.created }

// Close closes both pools.
func (s *Store) Close() error {
	s.rd.c.close()
	s.wc.close()
	return errors.Join(s.r.Close(), s.w.Close())
}

func (s *Store) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectSQLite3, s.w, sub)
}

// MigrationsApply applies pending migrations and names each one applied.
func (s *Store) MigrationsApply(ctx context.Context) ([]string, error) {
	p, err := s.provider()
	return engine.MigrationsUp(ctx, p, err, classify)
}

// Ready checks that the database answers, takes writes and has no pending
// migration.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", classify(err))
	}
	// A full disk is judged by its free space: a small write may still
	// fit in room a failed one left in the WAL, and successful writes
	// that change nothing say nothing about room.
	if free, ok := freeBytes(filepath.Dir(s.path)); ok && free < minFreeBytes {
		return fmt.Errorf("database does not take writes: the disk holding the database is full (%d bytes free)", free)
	}
	if ue := s.health.Err(); ue != nil {
		// The last write failed for want of storage. A probe write now
		// lets readiness come back by itself once the storage is fixed,
		// even when no request writes in the meantime.
		if err := s.probe(ctx); err != nil {
			if ue := s.health.Err(); ue != nil {
				return fmt.Errorf("database does not take writes: %s", ue.Reason)
			}
			return fmt.Errorf("database does not take writes: %w", err)
		}
	}
	p, err := s.provider()
	return engine.MigrationsCurrent(ctx, p, err, classify)
}

// minFreeBytes is the free space below which the database is not ready:
// SQLite needs room to grow its WAL and checkpoint it.
const minFreeBytes = 1 << 20

// probe writes a page without changing anything: SQLite rewrites a row
// even when an UPDATE sets it to its own value, so the commit needs the
// same room and permissions as any other.
func (s *Store) probe(ctx context.Context) error {
	return s.write(ctx, false, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE counters SET value = value WHERE name = 'subscriptions'`)
		return err
	})
}

// tx runs fn in a durable write transaction (tests write rows in bulk).
func (s *Store) tx(ctx context.Context, fn func(*wtx) error) error { return s.write(ctx, true, fn) }

func (s *Store) write(ctx context.Context, durable bool, fn func(*wtx) error) error {
	select {
	case s.wmu <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait for the writer: %w", context.Cause(ctx))
	}
	defer func() { <-s.wmu }()
	err := classify(s.writeLocked(ctx, durable, fn))
	s.health.Observe(err)
	var ue *store.UnavailableError
	if errors.As(err, &ue) && ue.Reopen {
		// The writer's connection may have been opened read-only (SQLite
		// falls back to that when the file cannot be opened for writing)
		// or lost its file: drop it, so that the next write opens the
		// file afresh and succeeds once the storage is back.
		s.w.SetMaxIdleConns(0)
		s.w.SetMaxIdleConns(1)
		s.durable = true // a new connection starts with synchronous(FULL)
	}
	return err
}

func (s *Store) writeLocked(ctx context.Context, durable bool, fn func(*wtx) error) error {
	if durable != s.durable {
		mode := "NORMAL"
		if durable {
			mode = "FULL"
		}
		if _, err := s.w.ExecContext(ctx, "PRAGMA synchronous = "+mode); err != nil {
			return fmt.Errorf("set synchronous: %w", err)
		}
		s.durable = durable
	}
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	w := &wtx{tx: t, c: s.wc, stmts: map[string]*sql.Stmt{}}
	if err := fn(w); err != nil {
		_ = t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return err
	}
	// Cache what this transaction had to prepare, now that the writer's
	// connection is free. Lists of values come in a few fixed sizes
	// (chunkSizes), so every query text is worth keeping.
	for _, q := range w.misses {
		_, _ = s.wc.get(ctx, q)
	}
	return nil
}

// read runs fn in one read-only transaction on a reader connection, with
// statements from the readers' cache: a consistent view, and one
// page-cache warm-up for many queries.
func (s *Store) read(ctx context.Context, fn func(*wtx) error) error {
	t, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer func() { _ = t.Rollback() }()
	r := &wtx{tx: t, c: s.rd.c, stmts: map[string]*sql.Stmt{}}
	if err := fn(r); err != nil {
		return err
	}
	if err := t.Commit(); err != nil {
		return err
	}
	for _, q := range r.misses {
		_, _ = s.rd.c.get(ctx, q)
	}
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// Err maps SQLite's errors to the store's: no row is webhook.ErrNotFound, a
// unique violation a conflict whose message names no table or column (the
// engine says better where it can), a storage failure ErrUnavailable.
func (s *Store) Err(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return webhook.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &webhook.ConflictError{Message: "an object with this id or name already exists", Err: err}
		}
	}
	return classify(err)
}

// classify wraps the SQLite errors that mean the storage, not the
// request, failed in a store.UnavailableError, by result code: the
// primary code is the low byte of an extended one (SQLITE_IOERR_WRITE is
// SQLITE_IOERR | 3<<8).
func classify(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	ue := &store.UnavailableError{Err: err, Reopen: true}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL:
		ue.Reason, ue.Reopen = "the disk holding the database is full", false
	case sqlite3.SQLITE_READONLY:
		ue.Reason = "the database is read-only"
	case sqlite3.SQLITE_IOERR:
		ue.Reason = "the database file cannot be read or written (I/O error)"
	case sqlite3.SQLITE_CANTOPEN:
		ue.Reason = "the database file cannot be opened"
	case sqlite3.SQLITE_BUSY:
		ue.Reason, ue.Reopen = "the database is locked by another process", false
	default:
		return err
	}
	return ue
}
