// Package sqlite is the embedded default driver of the store, on
// modernc.org/sqlite (pure Go, so the binary builds with CGO_ENABLED=0).
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
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite implementation of store.Store.
type Store struct {
	w  *sql.DB // exactly one connection: all writes
	r  *sql.DB // read-only pool
	wc *stmtCache
	rd pool // reads through prepared statements

	wmu     sync.Mutex // serialises write transactions with their PRAGMA synchronous
	durable bool       // the writer's current synchronous mode is FULL

	subs subscriptionCache
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path. It does not
// migrate; call Migrate.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
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
		return "file:" + path + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn([]string{"cache_size(-32000)"}, "immediate"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Create the file and switch it to WAL before readers open it.
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn([]string{"cache_size(-16000)", "query_only(1)"}, ""))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(0)
	wc := newStmtCache(w)
	return &Store{w: w, r: r, wc: wc, rd: pool{newStmtCache(r)}, durable: true}, nil
}

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

// Migrate applies pending migrations.
func (s *Store) Migrate(ctx context.Context) error {
	_, err := s.MigrationsApply(ctx)
	return err
}

// MigrationsApply applies pending migrations and names each one applied.
func (s *Store) MigrationsApply(ctx context.Context) ([]string, error) {
	p, err := s.provider()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	applied := make([]string, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Path)
	}
	return applied, nil
}

// Ready checks that the database answers and has no pending migration.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	p, err := s.provider()
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if pending {
		return errors.New("database schema is not current: run hookrelay migrate")
	}
	return nil
}

// tx runs fn in a durable write transaction (BEGIN IMMEDIATE on the one
// writer, fsynced at commit): anything the API acknowledges.
func (s *Store) tx(ctx context.Context, fn func(*wtx) error) error { return s.write(ctx, true, fn) }

// txLazy runs fn in a write transaction that is not fsynced at commit
// (synchronous=NORMAL): the dispatcher's bookkeeping — leases, attempt
// results, pruning. A power cut may lose the last of these; the database
// stays consistent and the deliveries concerned are simply sent again.
// The next durable commit's fsync covers them too.
func (s *Store) txLazy(ctx context.Context, fn func(*wtx) error) error {
	return s.write(ctx, false, fn)
}

// exec runs one durable statement.
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.tx(ctx, func(tx *wtx) error {
		var err error
		res, err = tx.ExecContext(ctx, q, args...)
		return err
	})
	return res, err
}

func (s *Store) write(ctx context.Context, durable bool, fn func(*wtx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
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
	// connection is free. Queries built per call (IN lists of varying
	// length) are not worth keeping.
	for _, q := range w.misses {
		if !strings.Contains(q, "IN (?,") {
			_, _ = s.wc.get(ctx, q)
		}
	}
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromNullMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

func nullMS(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: ms(*t), Valid: true}
}

// mapErr turns driver errors into the store's shared errors.
func mapErr(err error) error {
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
			return fmt.Errorf("%w: %s", webhook.ErrConflict, se.Error())
		}
	}
	return err
}

// likeEscape escapes LIKE wildcards so a search matches literally.
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}
