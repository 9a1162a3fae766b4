package apiserver

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

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// validator is implemented by request bodies with field rules.
type validator interface{ Validate() error }

// decodeJSON reads exactly one JSON object into dst, refusing other
// content types (415), unknown fields and malformed JSON (400 with
// per-field details), and bodies over the limit (413); then runs dst's own
// validation.
func decodeJSON(r *http.Request, dst any) error {
	if err := checkContentType(r, "application/json"); err != nil {
		return err
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return validationError(v1.FieldError{Message: "the body must hold one JSON object and nothing after it"})
	}
	if v, ok := dst.(validator); ok {
		return v.Validate()
	}
	return nil
}

// checkContentType refuses a body whose media type is not one of types.
func checkContentType(r *http.Request, types ...string) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	for _, t := range types {
		if err == nil && mt == t {
			return nil
		}
	}
	return newError(http.StatusUnsupportedMediaType, v1.CodeUnsupportedMediaType,
		"the request body must be JSON: send Content-Type: "+strings.Join(types, " or "))
}

// readJSONBody reads a whole body of one of the media types and checks it
// holds exactly one well-formed JSON value.
func readJSONBody(r *http.Request, types ...string) ([]byte, error) {
	if err := checkContentType(r, types...); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err // *http.MaxBytesError maps to 413
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, validationError(v1.FieldError{Message: "the body must hold one JSON value and nothing after it"})
	}
	return body, nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return validationError(v1.FieldError{Message: "the body is empty; send a JSON object"})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return validationError(v1.FieldError{Message: "malformed JSON: the body ends in the middle of a value"})
	case errors.As(err, &syn):
		return validationError(v1.FieldError{Message: fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)})
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return validationError(v1.FieldError{Field: field, Message: "must be a JSON " + jsonKind(typ.Type.Kind().String()) + ", not " + typ.Value})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return validationError(v1.FieldError{Field: name, Message: "unknown field; check its spelling against the API reference"})
	}
	return validationError(v1.FieldError{Message: "malformed JSON: " + err.Error()})
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	}
	return "number"
}
