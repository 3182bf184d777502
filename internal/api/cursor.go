package api

import (
	"encoding/base64"
	"net/http"

	"github.com/hookrelay/hookrelay/internal/operations"
	"github.com/hookrelay/hookrelay/internal/secretbox"
	"github.com/hookrelay/hookrelay/internal/store"
)

// A store's cursor is a position in a table (a sequence number shared by
// every account), so handing it out as is would tell a client how busy
// other tenants are, and let it be replayed on any list. The API seals it
// instead (XChaCha20-Poly1305 under a key derived from the encryption
// key), bound to the list it came from: the route, the account and the
// objects named in the path. A cursor is opaque, and any other list (or
// another account) refuses it with 400.

// listing is one list request: page size, the store's position to go on
// from, and what its cursors are bound to.
type listing struct {
	limit int
	after string // the store's cursor, "" from the start
	given string // the cursor as the client sent it
	scope []byte
	box   *secretbox.Box
}

// listParams reads ?limit= (default 50, max 250) and ?cursor= for the
// list r asks for on account ("" for lists that belong to no account).
func (s *Server) listParams(r *http.Request, account string) (listing, *apiError) {
	q := r.URL.Query()
	l := listing{limit: 50, given: q.Get("cursor"), box: s.cursors,
		scope: []byte("cursor\x00" + r.Pattern + "\x00" + account + "\x00" + r.PathValue("account_id") + "\x00" + r.PathValue("webhook_id"))}
	n, err := operations.ParseLimit(q.Get("limit"))
	if err != nil {
		e, _ := operations.AsError(err)
		return l, refusal(e)
	}
	l.limit = n
	if l.given == "" {
		return l, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(l.given)
	if err == nil {
		var pos []byte
		if pos, err = l.box.Open(raw, l.scope); err == nil {
			l.after = string(pos)
			return l, nil
		}
	}
	return l, invalid("cursor", "is not a cursor this API issued for this list")
}

// next seals the store's cursor of the next page ("" on the last).
func (l listing) next(position string) string {
	if position == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(l.box.Seal([]byte(position), l.scope))
}

// writePage writes one page of a store list, each item through view.
func writePage[T, V any](w http.ResponseWriter, l listing, page store.Page[T], view func(T) V) {
	views := make([]V, len(page.Items))
	for i, it := range page.Items {
		views[i] = view(it)
	}
	writeList(w, views, l.next(page.NextCursor))
}
