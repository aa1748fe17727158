package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// decodeJSON reads the request body strictly into v: one JSON value of at
// most maxRequestBody bytes, no field v does not have. An empty body is
// fine when optional. Failures are fulfillment.CodeBadRequest or CodeTooLarge errors.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	switch {
	case errors.Is(err, io.EOF) && optional:
		return nil
	case err == nil:
		err = dec.Decode(new(json.RawMessage)) // anything after the value?
		if errors.Is(err, io.EOF) {
			return nil
		}
		var tooLarge *http.MaxBytesError
		if !errors.As(err, &tooLarge) {
			return fulfillment.Errorf(fulfillment.CodeBadRequest, "body: want a single JSON object")
		}
	}
	var (
		tooLarge  *http.MaxBytesError
		syntax    *json.SyntaxError
		wrongType *json.UnmarshalTypeError
	)
	detail := err.Error()
	switch {
	case errors.As(err, &tooLarge):
		return fulfillment.Errorf(fulfillment.CodeTooLarge, "body over %d KiB", maxRequestBody>>10)
	case errors.Is(err, io.EOF):
		detail = "empty; want a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		detail = "truncated JSON"
	case errors.As(err, &syntax):
		detail = fmt.Sprintf("not JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &wrongType):
		field := wrongType.Field
		if field == "" {
			field = "the body"
		}
		detail = fmt.Sprintf("%s: want %s, got %s", field, jsonKind(wrongType.Type), wrongType.Value)
	default:
		detail = strings.TrimPrefix(detail, "json: ") // unknown field "x"
	}
	return fulfillment.Errorf(fulfillment.CodeBadRequest, "body: %s", detail)
}

// jsonKind names what JSON value a Go type takes.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}
