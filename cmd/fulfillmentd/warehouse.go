package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// orderStore is what the warehouse API reads and changes.
type orderStore interface {
	orderReader
	ChangeOrder(ctx context.Context, id string, change func(fulfillment.Order) (fulfillment.Order, bool, error)) (fulfillment.Order, error)
}

// maxRequestBody caps a /v1 request body: a shipment of a few hundred
// lines fits many times over.
const maxRequestBody = 64 << 10

// handleAcknowledge: POST /v1/orders/{id}/acknowledge. The warehouse has
// taken the order: ready_to_ship → in_fulfillment, recorded under the
// token's name; 200 with the order, also when it was acknowledged (or
// shipped) before. The body may be empty or {}.
func handleAcknowledge(log *slog.Logger, orders orderStore, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var none struct{}
		if err := decodeJSON(w, r, &none, true); err != nil {
			writeError(w, r, log, err)
			return
		}
		by := tokenName(r.Context())
		o, err := orders.ChangeOrder(r.Context(), r.PathValue("id"), func(o fulfillment.Order) (fulfillment.Order, bool, error) {
			return o.Acknowledge(by, now())
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusOK, o)
	})
}

// shipmentBody is the body of POST /v1/orders/{id}/shipments.
type shipmentBody struct {
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"tracking_number"`
	TrackingURL    string `json:"tracking_url"`
	// LineItems nil (absent or null) ships everything left.
	LineItems *[]struct {
		ID       string `json:"id"`
		Quantity int64  `json:"quantity"`
	} `json:"line_items"`
}

// handleCreateShipment: POST /v1/orders/{id}/shipments. 201 with the order
// for a new shipment, 200 with the order unchanged for a tracking number the
// order has already (a retried request).
func handleCreateShipment(log *slog.Logger, orders orderStore, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body shipmentBody
		if err := decodeJSON(w, r, &body, false); err != nil {
			writeError(w, r, log, err)
			return
		}
		req := fulfillment.ShipmentRequest{Carrier: body.Carrier, TrackingNumber: body.TrackingNumber, TrackingURL: body.TrackingURL}
		if body.LineItems != nil {
			if len(*body.LineItems) == 0 {
				writeProblem(w, http.StatusUnprocessableEntity, "line_items is empty: list what the parcel holds, or leave line_items out to ship everything left")
				return
			}
			for _, l := range *body.LineItems {
				req.Lines = append(req.Lines, fulfillment.ShipmentLine{LineItemID: l.ID, Quantity: l.Quantity})
			}
		}
		by := tokenName(r.Context())
		created := false
		o, err := orders.ChangeOrder(r.Context(), r.PathValue("id"), func(o fulfillment.Order) (fulfillment.Order, bool, error) {
			next, _, isNew, err := o.Ship(req, by, now())
			created = isNew
			return next, isNew, err
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
			w.Header().Set("Location", "/v1/orders/"+o.ID)
		}
		writeJSON(w, status, o)
	})
}

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
