package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/internal/store"
)

// readBatch decodes a batch body {"events":[…], "account_id"?} as it is
// read, item by item, with the rules decode applies to whole bodies:
// exact keys, no duplicates, bounded nesting, valid UTF-8, one object.
// Each item is validated as soon as it is read, so the first bad one ends
// the request without reading the rest.
func (s *Server) readBatch(w http.ResponseWriter, r *http.Request, c caller) ([]store.PublishEvent, *apiError) {
	if aerr := checkJSONRequest(r); aerr != nil {
		return nil, aerr
	}
	br := bufio.NewReaderSize(http.MaxBytesReader(w, r.Body, maxBatchBodyBytes), 32<<10)
	if head, _ := br.Peek(2); sniffCompressed(head) != nil {
		return nil, sniffCompressed(head)
	}
	dec := json.NewDecoder(br)
	started := false // a value began: the end of input now means truncated
	fail := func(err error) *apiError {
		if errors.Is(err, io.EOF) && started {
			err = io.ErrUnexpectedEOF
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, errBodyBudget) {
			return bodyReadError(err, maxBatchBodyBytes)
		}
		return decodeError(err, maxBatchBodyBytes)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fail(err)
	}
	started = true
	if tok != json.Delim('{') {
		return nil, errorf(http.StatusBadRequest, "invalid_json", "request body must be a JSON object")
	}

	type item struct {
		ev      store.PublishEvent
		account *string // its own account_id; nil takes the batch's
		field   string
	}
	var items []item
	var top *string
	seen := map[string]bool{}
	accounts := map[string]string{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fail(err)
		}
		key, _ := kt.(string)
		if seen[key] {
			return nil, invalid(key, "duplicate key")
		}
		seen[key] = true
		switch key {
		case "account_id":
			var v any
			if err := dec.Decode(&v); err != nil {
				return nil, fail(err)
			}
			str, ok := v.(string)
			if !ok && v != nil {
				return nil, invalid("account_id", "must be a string")
			}
			if ok {
				top = &str
			}
		case "events":
			tok, err := dec.Token()
			if err != nil {
				return nil, fail(err)
			}
			if tok != json.Delim('[') {
				if d, ok := tok.(json.Delim); ok && d == '{' {
					return nil, invalid("events", "must be an array, got an object")
				}
				return nil, invalid("events", "must be a non-empty array")
			}
			for i := 0; dec.More(); i++ {
				if i == maxBatchEvents {
					return nil, invalid("events", "at most %d events per batch, got more", maxBatchEvents)
				}
				field := "events[" + strconv.Itoa(i) + "]"
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return nil, fail(err)
				}
				req, aerr := decodeItem(raw, field)
				if aerr != nil {
					return nil, aerr
				}
				it := item{account: req.AccountID, field: field}
				if it.account != nil {
					// An item naming its account is resolved before its
					// fields are judged, as a path's object is.
					if it.ev.AccountID, aerr = s.resolveAccount(r, c, *it.account, accounts); aerr != nil {
						return nil, prefixed(aerr, field)
					}
				}
				account := it.ev.AccountID
				if it.ev, aerr = s.eventFields(r.Context(), req); aerr != nil {
					return nil, prefixed(aerr, field)
				}
				it.ev.AccountID = account
				items = append(items, it)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, fail(err)
			}
		default:
			return nil, invalid(key, "unknown field")
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, fail(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil && !isSyntax(err) {
			return nil, fail(err)
		}
		return nil, errorf(http.StatusBadRequest, "invalid_json", "request body must hold a single JSON object")
	}
	if len(items) == 0 {
		return nil, invalid("events", "must be a non-empty array")
	}
	// Items without an account_id of their own take the batch's, which may
	// come after the events in the body.
	bodyAccount := ""
	if top != nil {
		bodyAccount = *top
	}
	events := make([]store.PublishEvent, len(items))
	for i, it := range items {
		if it.account == nil {
			account, aerr := s.resolveAccount(r, c, bodyAccount, accounts)
			if aerr != nil {
				return nil, aerr
			}
			it.ev.AccountID = account
		}
		events[i] = it.ev
	}
	return events, nil
}

// decodeItem checks one batch item strictly and decodes it.
func decodeItem(raw json.RawMessage, field string) (publishRequest, *apiError) {
	var req publishRequest
	if !utf8.Valid(raw) {
		return req, errorf(http.StatusBadRequest, "invalid_json", "request body is not valid UTF-8")
	}
	if aerr := checkStrictAt(raw, field, 2, publishShape); aerr != nil {
		return req, aerr
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return req, invalid(field, "must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if aerr := decodeError(err, maxBatchBodyBytes); aerr.code == "validation_error" {
			return req, prefixed(aerr, field)
		}
		return req, invalid(field, "must be a JSON object")
	}
	return req, nil
}

// prefixed puts an item's field before the message of a field error.
func prefixed(aerr *apiError, field string) *apiError {
	if aerr.code == "validation_error" || aerr.code == "payload_too_large" {
		aerr.message = field + "." + aerr.message
	}
	return aerr
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}
