package sqlite

import (
	"context"
	"database/sql"

	"github.com/hookrelay/hookrelay/internal/store"
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

var _ scanner = (*sql.Rows)(nil)

// listPage reads up to limit items of a query that asks for limit+1 rows,
// setting the cursor to the last item's seq when there are more.
func listPage[T any](ctx context.Context, q querier, page *store.Page[T], limit int, query string, args []any,
	scan func(scanner) (int64, T, error)) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var last int64
	for rows.Next() {
		seq, item, err := scan(rows)
		if err != nil {
			return err
		}
		if len(page.Items) == limit {
			page.NextCursor = store.EncodeCursor(last)
			break
		}
		page.Items = append(page.Items, item)
		last = seq
	}
	return rows.Err()
}
