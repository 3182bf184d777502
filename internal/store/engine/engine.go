// Package engine is hookrelay's store: every product rule about what is
// stored — the status an attempt leads to, the operational events emitted
// with a change, the queue's limits, queued_count, the hourly endpoint
// stats, the primary owner, ids and the wire body — written once, above the
// database. It implements store.Store on a Driver, which holds the SQL of
// one database and the code that runs it: sqlite (embedded, one writer) and
// postgres (several nodes). The engine runs its rules inside a transaction
// the driver hands it (Driver.Write), so a rule and the rows it changes
// commit together on either database.
//
// # Ordering with several writers
//
// Lists read oldest first (GET /v1/events, the queued list) and the
// dispatcher's due scan continue from a position: the seq of the last row
// read. That is only safe if no row can later commit with a smaller seq.
// Every transaction that inserts events or deliveries therefore takes the
// publish clock first (SQL.PublishClock: one row, locked until commit on
// PostgreSQL; SQLite's one writer already serialises it) and draws its seqs
// after that, so seqs are in commit order. The clock also makes publish
// times monotone across nodes: a publish is stamped no earlier than the
// last one committed, so (due time, seq) — the due order — is commit order
// for first attempts, and no fresh delivery lands behind a due scan's
// position. Retries, replays and released queues do become due behind it
// by design; the dispatcher rescans from the head for them.
package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/internal/store"
	"github.com/hookrelay/hookrelay/internal/webhook"
)

// Querier runs statements: a pool or a transaction.
type Querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// Tx is a write transaction.
type Tx interface {
	Querier
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// Driver is one database: its connections, its SQL and how its errors map.
type Driver interface {
	// SQL is the driver's statements.
	SQL() *SQL
	// Read is the pool that reads outside write transactions.
	Read() Querier
	// ReadTx runs fn in one read-only transaction: one consistent view for
	// many queries (and on SQLite one page-cache warm-up).
	ReadTx(ctx context.Context, fn func(Querier) error) error
	// Write runs fn in one write transaction and commits it. durable asks
	// for the commit to be on disk before Write returns (anything the API
	// acknowledges); bookkeeping the dispatcher can redo passes false. A
	// driver may run fn again after a serialisation failure, so fn starts
	// from scratch each time. Errors come back mapped (Err).
	Write(ctx context.Context, durable bool, fn func(Tx) error) error
	// Err maps a driver error to the store's: no row is
	// webhook.ErrNotFound, a unique violation a *webhook.ConflictError
	// (with a generic message), a failure of the storage itself a
	// *store.UnavailableError; anything else is returned as is.
	Err(err error) error
	MigrationsApply(ctx context.Context) ([]string, error)
	Ready(ctx context.Context) error
	Close() error
}

// Engine implements store.Store on a Driver.
type Engine struct {
	d    Driver
	q    *SQL
	subs subscriptionCache
}

var _ store.Store = (*Engine)(nil)

// New returns an engine on d.
func New(d Driver) *Engine { return &Engine{d: d, q: d.SQL()} }

// Driver returns the engine's driver.
func (e *Engine) Driver() Driver { return e.d }

// Migrate applies pending migrations.
func (e *Engine) Migrate(ctx context.Context) error {
	_, err := e.d.MigrationsApply(ctx)
	return err
}

// MigrationsApply applies pending migrations and names each one applied.
func (e *Engine) MigrationsApply(ctx context.Context) ([]string, error) {
	return e.d.MigrationsApply(ctx)
}

// Ready reports whether the database answers, takes writes and is current.
func (e *Engine) Ready(ctx context.Context) error { return e.d.Ready(ctx) }

// Close closes the driver.
func (e *Engine) Close() error { return e.d.Close() }

// InTx runs fn in a durable write transaction. Tests use it to hold a
// transaction open while other handles write.
func (e *Engine) InTx(ctx context.Context, fn func(Tx) error) error { return e.d.Write(ctx, true, fn) }

func (e *Engine) tx(ctx context.Context, fn func(Tx) error) error { return e.d.Write(ctx, true, fn) }

// txLazy is a transaction whose commit may skip the fsync: the
// dispatcher's bookkeeping (leases, attempt results, pruning). A power cut
// may lose the last of these; the deliveries concerned are sent again.
func (e *Engine) txLazy(ctx context.Context, fn func(Tx) error) error {
	return e.d.Write(ctx, false, fn)
}

// exec runs one durable statement.
func (e *Engine) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := e.tx(ctx, func(tx Tx) error {
		var err error
		res, err = tx.ExecContext(ctx, q, args...)
		return err
	})
	return res, err
}

// mapErr maps a driver error (see Driver.Err).
func (e *Engine) mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return webhook.ErrNotFound
	}
	return e.d.Err(err)
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

// nullString stores "" as NULL.
func nullString(v string) sql.NullString { return sql.NullString{String: v, Valid: v != ""} }

// likePattern makes a LIKE pattern that matches s literally, anywhere.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// errDisabled is the conflict of an action that sends to a disabled endpoint.
var errDisabled = webhook.Conflict("the endpoint is disabled; enable it first")

// wrap names the operation an error came from.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}
