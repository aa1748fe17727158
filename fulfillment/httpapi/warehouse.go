package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// Orders is what the warehouse API reads and changes.
type Orders interface {
	OrderReader
	ChangeOrder(ctx context.Context, id string, change func(fulfillment.Order) (fulfillment.Order, bool, error)) (fulfillment.Order, error)
}

// maxRequestBody caps a /v1 request body: a shipment of a few hundred
// lines fits many times over.
const maxRequestBody = 64 << 10

// acknowledge: POST /v1/orders/{id}/acknowledge. The warehouse has
// taken the order: ready_to_ship → in_fulfillment, recorded under the
// token's name; 200 with the order, also when it was acknowledged (or
// shipped) before. The body may be empty or {}.
func acknowledge(log *slog.Logger, orders Orders, now func() time.Time) http.Handler {
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

// createShipment: POST /v1/orders/{id}/shipments. 201 with the order
// for a new shipment, 200 with the order unchanged for a tracking number the
// order has already (a retried request).
func createShipment(log *slog.Logger, orders Orders, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body shipmentBody
		if err := decodeJSON(w, r, &body, false); err != nil {
			writeError(w, r, log, err)
			return
		}
		req := fulfillment.ShipmentRequest{Carrier: body.Carrier, TrackingNumber: body.TrackingNumber, TrackingURL: body.TrackingURL}
		if body.LineItems != nil {
			if len(*body.LineItems) == 0 {
				writeError(w, r, log, fulfillment.Errorf(fulfillment.CodeInvalid, "line_items is empty: list what the parcel holds, or leave line_items out to ship everything left"))
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
