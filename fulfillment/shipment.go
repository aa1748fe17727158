package fulfillment

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// The warehouse side of an order: a warehouse acknowledges a paid order
// (in_fulfillment) and reports shipments against its line items
// (partially_shipped, then shipped). The rules are pure functions of the
// order; stores persist what they return.

// Acknowledgement records that a warehouse has taken the order.
type Acknowledgement struct {
	By string    `json:"by"` // API token name of the warehouse
	At time.Time `json:"at"`
}

// ShipmentLine is a quantity of one line item in a shipment.
type ShipmentLine struct {
	LineItemID string `json:"id"`
	Quantity   int64  `json:"quantity"`
}

// Shipment is one parcel a warehouse sent, identified within its order by
// its tracking number.
type Shipment struct {
	ID             string         `json:"id"`
	Carrier        string         `json:"carrier"`
	TrackingNumber string         `json:"tracking_number"`
	TrackingURL    string         `json:"tracking_url,omitempty"`
	Lines          []ShipmentLine `json:"line_items"`
	CreatedBy      string         `json:"created_by"` // API token name
	CreatedAt      time.Time      `json:"created_at"`
}

// ShipmentRequest is what a warehouse reports. No Lines means everything
// left to ship.
type ShipmentRequest struct {
	Carrier        string
	TrackingNumber string
	TrackingURL    string
	Lines          []ShipmentLine
}

// Limits on the text of a shipment request.
const (
	maxCarrierLen  = 100
	maxTrackingLen = 200
	maxURLLen      = 2048
)

// ShipmentID is the stable id of the shipment with this tracking number in
// this order: reporting the same parcel twice yields the same id.
func ShipmentID(orderID, trackingNumber string) string {
	sum := sha256.Sum256([]byte(orderID + "\x00" + trackingNumber))
	return "shp_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:15]))
}

// Acknowledge returns the order once the warehouse named by has taken it:
// a ready_to_ship order becomes in_fulfillment (changed is true). An order
// the warehouse already has (in_fulfillment or later) is returned as it is:
// acknowledging is idempotent. A canceled or unpaid order is an ErrConflict.
func (o Order) Acknowledge(by string, at time.Time) (next Order, changed bool, err error) {
	switch o.Status {
	case StatusReadyToShip:
		o.Status = StatusInFulfillment
		o.Acknowledgement = &Acknowledgement{By: by, At: at.UTC()}
		o.ChangedBy = Actor{Kind: ActorWarehouse, Name: by}
		o.UpdatedAt = at.UTC()
		return o, true, nil
	case StatusInFulfillment, StatusPartiallyShipped, StatusShipped:
		return o, false, nil
	}
	return o, false, notShippable(o)
}

func notShippable(o Order) error {
	switch o.Status {
	case StatusCanceled:
		return Errorf(CodeConflict, "order %s is canceled", o.ID)
	case StatusAwaitingPayment:
		return Errorf(CodeConflict, "order %s is not paid yet (%s)", o.ID, o.Status)
	}
	return Errorf(CodeConflict, "order %s is %s", o.ID, o.Status)
}

// Ship returns the order with the shipment req added by the warehouse named
// by, and the shipment. The order becomes partially_shipped, or shipped once
// every quantity has shipped; an order that was not acknowledged skips
// in_fulfillment.
//
// A tracking number the order already has returns the order unchanged and
// that existing shipment (created is false), whatever the rest of req says:
// reporting a parcel is idempotent. Otherwise a canceled, unpaid or already
// shipped order is an ErrConflict, and a request naming an unknown line item,
// a quantity below 1 or above what is left to ship, a line twice, or missing
// carrier or tracking number, is an ErrInvalid.
func (o Order) Ship(req ShipmentRequest, by string, at time.Time) (next Order, s Shipment, created bool, err error) {
	req.Carrier, req.TrackingNumber = strings.TrimSpace(req.Carrier), strings.TrimSpace(req.TrackingNumber)
	req.TrackingURL = strings.TrimSpace(req.TrackingURL)
	for _, existing := range o.Shipments {
		if existing.TrackingNumber == req.TrackingNumber && req.TrackingNumber != "" {
			return o, existing, false, nil
		}
	}
	switch o.Status {
	case StatusReadyToShip, StatusInFulfillment, StatusPartiallyShipped:
	case StatusShipped:
		return o, Shipment{}, false, Errorf(CodeConflict, "order %s has shipped in full already", o.ID)
	default:
		return o, Shipment{}, false, notShippable(o)
	}
	if err := req.validate(); err != nil {
		return o, Shipment{}, false, err
	}

	left := o.LeftToShip()
	lines := req.Lines
	if len(lines) == 0 {
		for _, li := range o.LineItems {
			if n := left[li.ID]; n > 0 {
				lines = append(lines, ShipmentLine{LineItemID: li.ID, Quantity: n})
			}
		}
		if len(lines) == 0 {
			return o, Shipment{}, false, Errorf(CodeConflict, "order %s has nothing left to ship", o.ID)
		}
	} else {
		lines = append([]ShipmentLine(nil), lines...)
		seen := make(map[string]bool, len(lines))
		for _, l := range lines {
			n, known := left[l.LineItemID]
			switch {
			case !known:
				return o, Shipment{}, false, Errorf(CodeInvalid, "order %s has no line item %q", o.ID, l.LineItemID)
			case seen[l.LineItemID]:
				return o, Shipment{}, false, Errorf(CodeInvalid, "line item %s is listed twice", l.LineItemID)
			case l.Quantity < 1:
				return o, Shipment{}, false, Errorf(CodeInvalid, "line item %s: quantity %d, want at least 1", l.LineItemID, l.Quantity)
			case l.Quantity > n:
				return o, Shipment{}, false, Errorf(CodeInvalid, "line item %s: %d left to ship, asked to ship %d", l.LineItemID, n, l.Quantity)
			}
			seen[l.LineItemID] = true
		}
	}

	s = Shipment{
		ID:             ShipmentID(o.ID, req.TrackingNumber),
		Carrier:        req.Carrier,
		TrackingNumber: req.TrackingNumber,
		TrackingURL:    req.TrackingURL,
		Lines:          lines,
		CreatedBy:      by,
		CreatedAt:      at.UTC(),
	}
	// A new slice: the caller's order keeps its own.
	o.Shipments = append(append(make([]Shipment, 0, len(o.Shipments)+1), o.Shipments...), s)
	o.ChangedBy = Actor{Kind: ActorWarehouse, Name: by}
	o.Status = StatusShipped
	for _, n := range o.LeftToShip() {
		if n > 0 {
			o.Status = StatusPartiallyShipped
			break
		}
	}
	o.UpdatedAt = at.UTC()
	return o, s, true, nil
}

func (r ShipmentRequest) validate() error {
	for _, f := range []struct{ name, value string }{
		{"carrier", r.Carrier}, {"tracking_number", r.TrackingNumber}, {"tracking_url", r.TrackingURL},
	} {
		if i := controlAt(f.value); i >= 0 {
			return Errorf(CodeInvalid, "%s: control character at byte %d: want printable text (no C0/C1 controls or DEL)", f.name, i)
		}
	}
	switch {
	case r.Carrier == "":
		return Errorf(CodeInvalid, "carrier is required")
	case r.TrackingNumber == "":
		return Errorf(CodeInvalid, "tracking_number is required")
	case len(r.Carrier) > maxCarrierLen || !utf8.ValidString(r.Carrier):
		return Errorf(CodeInvalid, "carrier: want at most %d bytes of text", maxCarrierLen)
	case len(r.TrackingNumber) > maxTrackingLen || !utf8.ValidString(r.TrackingNumber):
		return Errorf(CodeInvalid, "tracking_number: want at most %d bytes of text", maxTrackingLen)
	}
	if r.TrackingURL != "" {
		u, err := url.Parse(r.TrackingURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(r.TrackingURL) > maxURLLen {
			return Errorf(CodeInvalid, "tracking_url: want an http(s) URL of at most %d bytes", maxURLLen)
		}
	}
	return nil
}

// controlAt is the byte offset of the first control character of s (C0,
// DEL or C1: what a terminal acts on), or -1. Warehouse text is printed by
// the CLI and shown to operators: it must not carry terminal escapes.
func controlAt(s string) int {
	for i, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return i
		}
	}
	return -1
}

// LeftToShip is, per line item id, the quantity no shipment has covered yet.
func (o Order) LeftToShip() map[string]int64 {
	left := make(map[string]int64, len(o.LineItems))
	for _, li := range o.LineItems {
		left[li.ID] += li.Quantity
	}
	for _, s := range o.Shipments {
		for _, l := range s.Lines {
			left[l.LineItemID] -= l.Quantity
		}
	}
	return left
}

// MarshalJSON encodes the order with "shipments": [] rather than null when
// it has none, so warehouses can always iterate it.
func (o Order) MarshalJSON() ([]byte, error) {
	type plain Order // without this method
	p := plain(o)
	if p.Shipments == nil {
		p.Shipments = []Shipment{}
	}
	return json.Marshal(p)
}
