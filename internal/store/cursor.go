package store

import (
	"encoding/base64"
	"strconv"
)

// EncodeCursor makes an opaque cursor from a row's position. Positions are
// sequence numbers drawn in commit order (the engine's publish clock), so a
// cursor stays valid and stable, and never skips a row, while several
// nodes insert concurrently.
func EncodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("s" + strconv.FormatInt(seq, 10)))
}

// DecodeCursor reverses EncodeCursor; "" decodes to 0 (the start).
func DecodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 2 || b[0] != 's' {
		return 0, ErrInvalidCursor
	}
	n, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || n <= 0 {
		return 0, ErrInvalidCursor
	}
	return n, nil
}
