// Package postgres is the store's driver for several nodes: any number of
// hookrelay processes share one PostgreSQL database. It holds PostgreSQL's
// SQL (sql.go), a connection pool sized by the caller, how errors map, and
// the LISTEN connection that wakes this process's dispatcher when another
// node publishes; the product's rules are the engine's.
//
// Where SQLite's one writer serialises everything, here each statement that
// reads before it writes locks what it read (FOR UPDATE, FOR SHARE, FOR
// UPDATE SKIP LOCKED for claims); engine.SQL says which, and the engine's
// comments say why each is enough. Transactions run at READ COMMITTED, so a
// statement that waited for a lock sees what the holder committed. A
// transaction that still fails to serialise (a deadlock between two
// nodes) is run again, whole.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/store/engine"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

//go:embed migrations/*.sql
var migrations embed.FS

// channel is the notification channel of due work: endpoint ids,
// comma-separated.
const channel = "hookrelay_due"

// Options size the pool.
type Options struct {
	// MaxConns caps the connections this process opens (the LISTEN
	// connection is one more). 0 takes 10.
	MaxConns int
}

// Store is store.Store on PostgreSQL: the engine on this driver.
type Store struct {
	*engine.Engine

	url    string
	pool   *pgxpool.Pool
	db     *sql.DB
	rd     rebound
	health store.WriteHealth
}

var (
	_ store.Store   = (*Store)(nil)
	_ engine.Driver = (*Store)(nil)
)

// Open connects to the database at url (postgres://…). It does not
// migrate; call Migrate.
func Open(ctx context.Context, url string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %s", redact(err))
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 10
	}
	cfg.MaxConns = int32(o.MaxConns)
	cfg.MinConns = min(2, cfg.MaxConns)
	cfg.ConnConfig.RuntimeParams["application_name"] = "hookrelay"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %s", redact(err))
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres %s: %w", safeURL(url), classify(err))
	}
	db := stdlib.OpenDBFromPool(pool)
	s := &Store{url: url, pool: pool, db: db, rd: rebound{db}}
	s.Engine = engine.New(s)
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	err := s.db.Close()
	s.pool.Close()
	return err
}

// SQL is PostgreSQL's statements.
func (s *Store) SQL() *engine.SQL { return &statements }

// Read is the pool.
func (s *Store) Read() engine.Querier { return s.rd }

// ReadTx runs fn in one read-only REPEATABLE READ transaction: one
// snapshot for all its queries.
func (s *Store) ReadTx(ctx context.Context, fn func(engine.Querier) error) error {
	t, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return s.Err(err)
	}
	defer func() { _ = t.Rollback() }()
	if err := fn(rebound{t}); err != nil {
		return s.Err(err)
	}
	return s.Err(t.Commit())
}

// Write runs fn in a READ COMMITTED transaction. Commits that need not be
// durable skip waiting for the WAL flush (synchronous_commit = off): a
// crash may lose the last of them, never corrupt anything. A transaction
// that fails to serialise is run again, up to a few times.
func (s *Store) Write(ctx context.Context, durable bool, fn func(engine.Tx) error) error {
	var err error
	for try := 0; try < 5; try++ {
		err = s.write(ctx, durable, fn)
		if !retryable(err) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(try+1) * 5 * time.Millisecond)
	}
	err = s.Err(err)
	s.health.Observe(err)
	return err
}

func (s *Store) write(ctx context.Context, durable bool, fn func(engine.Tx) error) error {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if !durable {
		if _, err := t.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			_ = t.Rollback()
			return err
		}
	}
	if err := fn(rebound{t}); err != nil {
		_ = t.Rollback()
		return err
	}
	return t.Commit()
}

// retryable: the database gave up on the transaction to let another go
// first (serialization_failure, deadlock_detected).
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

func (s *Store) provider() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	// Nodes starting together migrate one at a time.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, s.db, sub, goose.WithSessionLocker(locker))
}

// MigrationsApply applies pending migrations and names each one applied.
func (s *Store) MigrationsApply(ctx context.Context) ([]string, error) {
	p, err := s.provider()
	return engine.MigrationsUp(ctx, p, err, classify)
}

// Ready checks that the database answers, takes writes and has no pending
// migration.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", classify(err))
	}
	if ue := s.health.Err(); ue != nil {
		// The last write failed for want of storage: probe with a write so
		// that readiness comes back by itself once it is fixed.
		if err := s.Write(ctx, false, func(tx engine.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE counters SET value = value WHERE name = 'subscriptions'`)
			return err
		}); err != nil {
			return fmt.Errorf("database does not take writes: %w", err)
		}
	}
	var readOnly string
	if err := s.db.QueryRowContext(ctx, `SHOW transaction_read_only`).Scan(&readOnly); err != nil {
		return fmt.Errorf("database unreachable: %w", classify(err))
	}
	if readOnly == "on" {
		return errors.New("database does not take writes: connected to a read-only server (a standby?)")
	}
	p, err := s.provider()
	return engine.MigrationsCurrent(ctx, p, err, classify)
}

// Err maps PostgreSQL's errors to the store's.
func (s *Store) Err(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return webhook.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return &webhook.ConflictError{Message: "an object with this id or name already exists", Err: err}
	}
	return classify(err)
}

// classify wraps the errors that mean the storage, not the request,
// failed in a store.UnavailableError.
func classify(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100":
			return &store.UnavailableError{Reason: "the disk holding the database is full", Err: err}
		case strings.HasPrefix(pe.Code, "53"):
			return &store.UnavailableError{Reason: "the database is out of resources", Err: err}
		case pe.Code == "25006":
			return &store.UnavailableError{Reason: "the database is read-only", Err: err}
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"):
			return &store.UnavailableError{Reason: "the database cannot be reached", Err: err}
		}
		return err
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.SafeToRetry(err) || errors.Is(err, sql.ErrConnDone) {
		return &store.UnavailableError{Reason: "the database cannot be reached", Err: err}
	}
	return err
}

// rebound runs statements written with ? placeholders, numbering them as
// PostgreSQL wants ($1, $2, …). Statements already numbered pass as they are.
type rebound struct {
	q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
		QueryRowContext(context.Context, string, ...any) *sql.Row
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}
}

var rebinds sync.Map // query → numbered query

func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	if v, ok := rebinds.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	out := b.String()
	rebinds.Store(q, out)
	return out
}

func (r rebound) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return r.q.QueryContext(ctx, rebind(q), args...)
}

func (r rebound) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return r.q.QueryRowContext(ctx, rebind(q), args...)
}

func (r rebound) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return r.q.ExecContext(ctx, rebind(q), args...)
}

// safeURL is url without its password, for messages.
func safeURL(url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		return "(unparsable URL)"
	}
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// redact keeps a URL's password out of a parse error.
func redact(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		if j := strings.Index(msg[i:], "@"); j > 0 {
			return msg[:i+3] + "…" + msg[i+j:]
		}
	}
	return msg
}
