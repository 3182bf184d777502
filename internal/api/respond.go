package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/internal/operations"
)

// apiError is an error with its HTTP status and stable code. Handlers
// return one; anything else becomes a 500 whose details are logged, not
// sent.
type apiError struct {
	status     int
	code       string
	message    string
	retryAfter int // seconds, for 429
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// invalid is a 400 naming the field at fault.
func invalid(field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "validation_error",
		message: field + ": " + fmt.Sprintf(format, args...)}
}

func notFound(what string) *apiError {
	return errorf(http.StatusNotFound, "not_found", "%s not found", what)
}

type envelope struct {
	Success    bool      `json:"success"`
	Data       any       `json:"data,omitempty"`
	NextCursor *string   `json:"next_cursor,omitempty"`
	Error      *errorDTO `json:"error,omitempty"`
}

// listEnvelope always carries next_cursor, null on the last page.
type listEnvelope struct {
	Success    bool    `json:"success"`
	Data       any     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

type errorDTO struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	// No HTML escaping: a delivery's payload must show the exact bytes sent
	// (json.Marshal would turn "<" into "\u003c" inside it).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode ends the body with "\n"
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"success":false,"error":{"code":"internal_error","message":"could not encode the response"}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeData(w http.ResponseWriter, status int, data any) {
	writeJSON(w, status, envelope{Success: true, Data: data})
}

func writeList[T any](w http.ResponseWriter, items []T, next string) {
	if items == nil {
		items = []T{}
	}
	var cursor *string
	if next != "" {
		cursor = &next
	}
	writeJSON(w, http.StatusOK, listEnvelope{Success: true, Data: items, NextCursor: cursor})
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hookrelay"`)
	}
	writeJSON(w, e.status, envelope{Error: &errorDTO{Code: e.code, Message: e.message}})
}

// decode reads a JSON request body into v strictly: the right content
// type, at most limit bytes, valid UTF-8, exactly the keys of s (no
// duplicates, exact case), bounded nesting, no trailing data. Every
// failure names what is wrong.
func decode(w http.ResponseWriter, r *http.Request, limit int64, s shape, v any) *apiError {
	if aerr := checkJSONRequest(r); aerr != nil {
		return aerr
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return bodyReadError(err, limit)
	}
	if aerr := sniffCompressed(body); aerr != nil {
		return aerr
	}
	// encoding/json would silently turn invalid UTF-8 into U+FFFD, storing
	// something other than what was sent.
	if !utf8.Valid(body) {
		return errorf(http.StatusBadRequest, "invalid_json", "request body is not valid UTF-8")
	}
	if aerr := checkStrict(body, s); aerr != nil {
		return aerr
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, "invalid_json", "request body must hold a single JSON object")
	}
	return nil
}

// checkJSONRequest checks that a request says it sends uncompressed JSON
// in UTF-8.
func checkJSONRequest(r *http.Request) *apiError {
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Type must be application/json, got %q", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "charset must be utf-8, got %q", cs)
	}
	return checkEncoding(r)
}

// checkEncoding refuses compressed bodies: the API reads JSON as sent.
func checkEncoding(r *http.Request) *apiError {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"Content-Encoding %q is not supported: send the JSON body uncompressed", operations.Truncate(ce, 50))
	}
	return nil
}

// sniffCompressed refuses a gzip body sent without its Content-Encoding,
// which would otherwise be reported as invalid UTF-8.
func sniffCompressed(body []byte) *apiError {
	if len(body) >= 2 && body[0] == 0x1f && body[1] == 0x8b {
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"the request body is gzip-compressed: send the JSON body uncompressed")
	}
	return nil
}

// bodyReadError explains why a request body could not be read.
func bodyReadError(err error, limit int64) *apiError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(limit)
	}
	if errors.Is(err, errBodyBudget) {
		return busy()
	}
	return errorf(http.StatusBadRequest, "invalid_request", "could not read the request body: %v", err)
}

func tooLarge(limit int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, "payload_too_large", "request body exceeds %d bytes", limit)
}

func decodeError(err error, limit int64) *apiError {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return tooLarge(limit)
	case errors.Is(err, errBodyBudget):
		return busy()
	case errors.As(err, &syn):
		return errorf(http.StatusBadRequest, "invalid_json", "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return errorf(http.StatusBadRequest, "invalid_json", "request body must be a JSON object")
		}
		// Value is "number 1.5" for a number, the JSON kind otherwise.
		got := strings.TrimPrefix(typ.Value, "number ")
		return invalid(field, "must be %s, got %s", jsonKind(typ.Type.Kind().String()), got)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "invalid_json", "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "invalid_json", "request body is truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalid(name, "unknown field")
	}
	return errorf(http.StatusBadRequest, "invalid_json", "invalid JSON: %s", err.Error())
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "int", "int64", "int32", "uint", "uint64":
		return "an integer"
	case "float64", "float32":
		return "a number"
	}
	return goKind
}
