package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/hookrelay/hookrelay/internal/operations"
)

// shape lists the keys an object may have, each with the shape of its
// value (nil: any value). "[]" is the shape of an array's items.
type shape map[string]shape

// maxDepth bounds nesting: deeper documents are refused before they reach
// code (or receivers) that recurse on them.
const maxDepth = 32

// checkStrict walks a JSON document and refuses what encoding/json would
// accept silently: duplicate keys (the last would win, so two parsers may
// disagree on what was sent), keys that only match a field when case is
// ignored, numbers no float64 holds, and nesting deeper than maxDepth.
// Errors name the path at fault.
func checkStrict(body []byte, s shape) *apiError { return checkStrictAt(body, "", 0, s) }

// checkStrictAt is checkStrict for a value found at path, depth levels
// into a body (an item of a batch read as it streams).
func checkStrictAt(body []byte, path string, depth int, s shape) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := walk(dec, path, depth, s); err != nil {
		// The decoder reports the end of input as io.EOF even inside an
		// object: only a body with nothing in it is empty.
		if errors.Is(err, io.EOF) && len(bytes.TrimSpace(body)) > 0 {
			err = io.ErrUnexpectedEOF
		}
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return decodeError(err, 0)
		}
		var ae *apiError
		if errors.As(err, &ae) {
			return ae
		}
		return errorf(400, "invalid_json", "invalid JSON: %v", err)
	}
	return nil
}

// walk reads one value; depth counts the objects and arrays around it (the
// body itself is 0).
func walk(dec *json.Decoder, path string, depth int, s shape) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		if depth > maxDepth {
			return invalid(fieldName(path), "nested deeper than %d levels", maxDepth)
		}
		switch v {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				key := kt.(string)
				p := join(path, key)
				if seen[key] {
					return invalid(p, "duplicate key")
				}
				seen[key] = true
				var sub shape
				if s != nil {
					var ok bool
					if sub, ok = s[key]; !ok {
						return invalid(p, "unknown field")
					}
				}
				if err := walk(dec, p, depth+1, sub); err != nil {
					return err
				}
			}
		case '[':
			for i := 0; dec.More(); i++ {
				if err := walk(dec, path+"["+strconv.Itoa(i)+"]", depth+1, s["[]"]); err != nil {
					return err
				}
			}
		}
		_, err := dec.Token() // the closing delimiter
		return err
	case json.Number:
		if _, err := strconv.ParseFloat(string(v), 64); err != nil {
			return invalid(fieldName(path), "number %s is out of range", operations.Truncate(string(v), 40))
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func fieldName(path string) string {
	if path == "" {
		return "body"
	}
	return path
}

var (
	publishShape = shape{"event_type": nil, "data": nil, "subject_id": nil, "event_id": nil, "account_id": nil}
	webhookShape = shape{"url": nil, "events": nil, "description": nil, "strict_order": nil}
)
