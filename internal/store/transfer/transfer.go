// Package transfer moves a single SQLite node's data into PostgreSQL, so
// that an operator who outgrows one machine keeps everything: accounts,
// keys, members, the catalog, endpoints with their sealed secrets, events,
// deliveries with their attempts, stats, idempotency records and credit
// alerts. Both schemas have the same tables and columns (the engine maps
// one way), so the copy is table by table, seqs kept.
package transfer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the source's driver
)

// tables in an order that needs no deferred checks, with what is copied.
// processes are not: they are the source's live processes.
var tables = []string{
	"accounts", "api_keys", "members", "sessions", "event_types", "endpoints", "endpoint_secrets", "subscriptions",
	"counters", "events", "deliveries", "attempts", "endpoint_stats", "idempotency_keys",
	"credit_thresholds", "credit_balances",
}

// sequenced are the tables whose seq is an identity.
var sequenced = []string{"accounts", "api_keys", "members", "endpoints", "endpoint_secrets", "events", "deliveries", "attempts"}

// SQLiteToPostgres copies the SQLite database at path into the PostgreSQL
// database at url, which must be migrated and hold nothing but what
// migrate seeds. The source is read in one transaction (a consistent
// view); the target is written in one, so a failed copy leaves it as it
// was. Leases are cleared: whatever held them was the stopped SQLite node.
// progress (may be nil) is told each table's row count.
func SQLiteToPostgres(ctx context.Context, path, url string, progress func(table string, rows int)) error {
	src, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer src.Close()
	stx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer func() { _ = stx.Rollback() }()

	dst, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect to the target: %w", err)
	}
	defer dst.Close(context.WithoutCancel(ctx))
	var used int
	if err := dst.QueryRow(ctx, `SELECT (SELECT count(*) FROM accounts WHERE id <> 'acc_operator') + (SELECT count(*) FROM events)
		+ (SELECT count(*) FROM api_keys)`).Scan(&used); err != nil {
		return fmt.Errorf("check the target (run hookrelay migrate on it first): %w", err)
	}
	if used > 0 {
		return errors.New("the target database already holds data: copy into a new, migrated database")
	}
	tx, err := dst.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "TRUNCATE "+strings.Join(tables, ", ")); err != nil {
		return fmt.Errorf("empty the target: %w", err)
	}
	for _, t := range tables {
		n, err := copyTable(ctx, stx, tx, t)
		if err != nil {
			return fmt.Errorf("copy %s: %w", t, err)
		}
		if progress != nil {
			progress(t, n)
		}
	}
	for _, t := range sequenced {
		// New rows continue after the copied ones.
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, 'seq'), COALESCE((SELECT max(seq) FROM `+t+`), 0) + 1, false)`,
			t); err != nil {
			return fmt.Errorf("continue the seqs of %s: %w", t, err)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE endpoints SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner IS NOT NULL`); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// copyTable copies one table's rows with COPY, converting each value to
// the target column's type (SQLite keeps booleans as integers).
func copyTable(ctx context.Context, src *sql.Tx, dst pgx.Tx, table string) (int, error) {
	types := map[string]string{}
	rows, err := dst.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1`, table)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return 0, err
		}
		types[name] = typ
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	r, err := src.QueryContext(ctx, "SELECT * FROM "+table)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cols, err := r.Columns()
	if err != nil {
		return 0, err
	}
	for _, c := range cols {
		if _, ok := types[c]; !ok {
			return 0, fmt.Errorf("column %s is not in the target: are both databases migrated to this version?", c)
		}
	}
	var out [][]any
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return 0, err
		}
		for i, c := range cols {
			if vals[i], err = convert(vals[i], types[c]); err != nil {
				return 0, fmt.Errorf("%s: %w", c, err)
			}
		}
		out = append(out, vals)
	}
	if err := r.Err(); err != nil {
		return 0, err
	}
	n, err := dst.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(out))
	return int(n), err
}

// convert turns a SQLite value into one of the PostgreSQL column's type.
func convert(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "boolean":
		switch x := v.(type) {
		case int64:
			return x != 0, nil
		case bool:
			return x, nil
		}
	case "text":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case "bigint", "integer":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			return int64(x), nil
		}
	case "double precision":
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	}
	return nil, fmt.Errorf("cannot copy a %T into a %s column", v, typ)
}
