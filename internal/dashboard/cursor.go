package dashboard

import (
	"encoding/base64"

	"github.com/hookrelay/hookrelay/internal/operations"
)

// The store's cursors are positions in tables every account shares, so
// the pages' "more" links carry them sealed, bound to the account and the
// endpoint, as the API's cursors are: a link reveals no position and works
// nowhere else.

func (d *Dashboard) sealCursor(account, endpointID, position string) string {
	if position == "" || d.cursors == nil {
		return position
	}
	return base64.RawURLEncoding.EncodeToString(d.cursors.Seal([]byte(position), cursorScope(account, endpointID)))
}

// openCursor returns the store's position of a cursor from a link.
func (d *Dashboard) openCursor(account, endpointID, given string) (string, error) {
	if given == "" || d.cursors == nil {
		return given, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(given)
	if err == nil {
		var pos []byte
		if pos, err = d.cursors.Open(raw, cursorScope(account, endpointID)); err == nil {
			return string(pos), nil
		}
	}
	return "", operations.Invalidf("cursor", "this link's page is not one of this list; start again from the first page")
}

func cursorScope(account, endpointID string) []byte {
	return []byte("dashboard cursor\x00" + account + "\x00" + endpointID)
}
