package fulfillment

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// paidOrder has lines li_a ×1, li_b ×2, li_c ×3.
func paidOrder(status Status) Order {
	o := candidate(status, PaymentPaid, 0)
	for i, id := range []string{"li_a", "li_b", "li_c"} {
		o.LineItems = append(o.LineItems, LineItem{ID: id, Quantity: int64(i + 1)})
	}
	return o
}

func TestAcknowledge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from        Status
		pay         PaymentStatus
		wantStatus  Status
		wantChanged bool
		wantErr     error
	}{
		{StatusReadyToShip, PaymentPaid, StatusInFulfillment, true, nil},
		{StatusInFulfillment, PaymentPaid, StatusInFulfillment, false, nil},
		{StatusPartiallyShipped, PaymentPaid, StatusPartiallyShipped, false, nil},
		{StatusShipped, PaymentPaid, StatusShipped, false, nil},
		{StatusAwaitingPayment, PaymentUnpaid, StatusAwaitingPayment, false, ErrConflict},
		{StatusCanceled, PaymentUnpaid, StatusCanceled, false, ErrConflict},
	}
	for _, tt := range tests {
		t.Run(string(tt.from), func(t *testing.T) {
			t.Parallel()
			o := candidate(tt.from, tt.pay, 2)
			got, changed, err := o.Acknowledge("wms", t0)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				var te *Error
				if !errors.As(err, &te) || !strings.Contains(te.Detail, o.ID) {
					t.Errorf("error %v: want an *Error naming the order", err)
				}
				return
			}
			if got.Status != tt.wantStatus || changed != tt.wantChanged || len(got.LineItems) != 2 {
				t.Errorf("got %s changed=%v items=%d, want %s changed=%v items=2", got.Status, changed, len(got.LineItems), tt.wantStatus, tt.wantChanged)
			}
			if changed {
				if got.Acknowledgement == nil || *got.Acknowledgement != (Acknowledgement{By: "wms", At: t0}) || !got.UpdatedAt.Equal(t0) {
					t.Errorf("acknowledgement %+v, updated_at %s", got.Acknowledgement, got.UpdatedAt)
				}
				if again, changed, err := got.Acknowledge("other", t0.Add(time.Hour)); err != nil || changed || again.Acknowledgement.By != "wms" {
					t.Errorf("second acknowledgement: changed=%v err=%v by=%s", changed, err, again.Acknowledgement.By)
				}
			}
		})
	}
}

func TestShipRefusals(t *testing.T) {
	t.Parallel()
	req := func(lines ...ShipmentLine) ShipmentRequest {
		return ShipmentRequest{Carrier: "UPS", TrackingNumber: "1Z999", Lines: lines}
	}
	tests := []struct {
		name   string
		status Status
		req    ShipmentRequest
		want   error
		detail string
	}{
		{"canceled", StatusCanceled, req(), ErrConflict, "canceled"},
		{"unpaid", StatusAwaitingPayment, req(), ErrConflict, "not paid"},
		{"unknown line", StatusInFulfillment, req(ShipmentLine{"li_zz", 1}), ErrInvalid, `no line item "li_zz"`},
		{"over-shipping", StatusReadyToShip, req(ShipmentLine{"li_b", 3}), ErrInvalid, "2 left to ship, asked to ship 3"},
		{"zero quantity", StatusReadyToShip, req(ShipmentLine{"li_b", 0}), ErrInvalid, "at least 1"},
		{"line twice", StatusReadyToShip, req(ShipmentLine{"li_b", 1}, ShipmentLine{"li_b", 1}), ErrInvalid, "twice"},
		{"no carrier", StatusReadyToShip, ShipmentRequest{TrackingNumber: "1Z"}, ErrInvalid, "carrier is required"},
		{"blank tracking number", StatusReadyToShip, ShipmentRequest{Carrier: "UPS", TrackingNumber: "  "}, ErrInvalid, "tracking_number is required"},
		{"bad tracking url", StatusReadyToShip, ShipmentRequest{Carrier: "UPS", TrackingNumber: "1Z", TrackingURL: "javascript:alert(1)"}, ErrInvalid, "tracking_url"},
		{"escape in carrier", StatusReadyToShip, ShipmentRequest{Carrier: "UPS\u001b[31mRED\u001b]0;title\u0007", TrackingNumber: "1Z"}, ErrInvalid, "carrier: control character at byte 3"},
		{"newline in tracking number", StatusReadyToShip, ShipmentRequest{Carrier: "UPS", TrackingNumber: "1Z\nAcknowledged\t2020-01-01 by admin"}, ErrInvalid, "tracking_number: control character"},
		{"DEL in tracking number", StatusReadyToShip, ShipmentRequest{Carrier: "UPS", TrackingNumber: "1Z\x7f"}, ErrInvalid, "tracking_number: control character"},
		{"C1 CSI in tracking url", StatusReadyToShip, ShipmentRequest{Carrier: "UPS", TrackingNumber: "1Z", TrackingURL: "https://t.example/\u009b31m"}, ErrInvalid, "tracking_url: control character"},
		{"long carrier", StatusReadyToShip, ShipmentRequest{Carrier: strings.Repeat("x", 101), TrackingNumber: "1Z"}, ErrInvalid, "carrier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := paidOrder(tt.status)
			got, _, created, err := o.Ship(tt.req, "wms", t0)
			if !errors.Is(err, tt.want) || err == nil || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("err %v, want %v mentioning %q", err, tt.want, tt.detail)
			}
			if created || !reflect.DeepEqual(got, o) {
				t.Errorf("a refused shipment changed the order: created=%v %+v", created, got)
			}
		})
	}
}

func TestShipPartiallyThenRest(t *testing.T) {
	t.Parallel()
	o := paidOrder(StatusReadyToShip)
	o, _, _ = o.Acknowledge("wms", t0)

	first, s1, created, err := o.Ship(ShipmentRequest{
		Carrier: " UPS ", TrackingNumber: "1Z001", TrackingURL: "https://ups.example/1Z001",
		Lines: []ShipmentLine{{"li_b", 1}, {"li_c", 3}},
	}, "wms", t0.Add(time.Minute))
	if err != nil || !created {
		t.Fatalf("first shipment: created=%v err=%v", created, err)
	}
	if first.Status != StatusPartiallyShipped || len(first.Shipments) != 1 || len(o.Shipments) != 0 {
		t.Fatalf("after the first: %s with %d shipments (input now has %d)", first.Status, len(first.Shipments), len(o.Shipments))
	}
	want := Shipment{ID: ShipmentID(o.ID, "1Z001"), Carrier: "UPS", TrackingNumber: "1Z001", TrackingURL: "https://ups.example/1Z001",
		Lines: []ShipmentLine{{"li_b", 1}, {"li_c", 3}}, CreatedBy: "wms", CreatedAt: t0.Add(time.Minute)}
	if !reflect.DeepEqual(s1, want) || !reflect.DeepEqual(first.Shipments[0], want) {
		t.Errorf("shipment\n got %+v\nwant %+v", s1, want)
	}
	if left := first.LeftToShip(); !reflect.DeepEqual(left, map[string]int64{"li_a": 1, "li_b": 1, "li_c": 0}) {
		t.Errorf("left to ship %v", left)
	}

	// The same parcel reported again, even with another body: same shipment.
	again, s, created, err := first.Ship(ShipmentRequest{Carrier: "DHL", TrackingNumber: "1Z001"}, "other", t0.Add(2*time.Minute))
	if err != nil || created || !reflect.DeepEqual(s, want) || !reflect.DeepEqual(again, first) {
		t.Errorf("replay: created=%v err=%v shipment %+v", created, err, s)
	}

	// No lines: everything left.
	done, s2, created, err := first.Ship(ShipmentRequest{Carrier: "UPS", TrackingNumber: "1Z002"}, "wms2", t0.Add(3*time.Minute))
	if err != nil || !created {
		t.Fatalf("second shipment: created=%v err=%v", created, err)
	}
	if done.Status != StatusShipped || !reflect.DeepEqual(s2.Lines, []ShipmentLine{{"li_a", 1}, {"li_b", 1}}) || !done.UpdatedAt.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("after the rest: %s, lines %+v, updated %s", done.Status, s2.Lines, done.UpdatedAt)
	}
	if len(done.LineItems) != 3 || done.Acknowledgement == nil {
		t.Errorf("line items %d, acknowledgement %+v: lost on the way", len(done.LineItems), done.Acknowledgement)
	}
	if _, _, _, err := done.Ship(ShipmentRequest{Carrier: "UPS", TrackingNumber: "1Z003"}, "wms", t0); !errors.Is(err, ErrConflict) {
		t.Errorf("a new parcel for a shipped order: %v, want ErrConflict", err)
	}
	if _, s, created, err := done.Ship(ShipmentRequest{TrackingNumber: "1Z001"}, "wms", t0); err != nil || created || s.ID != want.ID {
		t.Errorf("replay after shipping in full: created=%v err=%v", created, err)
	}
}

// Shipping a ready_to_ship order at once, without an acknowledgement.
func TestShipWithoutAcknowledgement(t *testing.T) {
	t.Parallel()
	got, _, created, err := paidOrder(StatusReadyToShip).Ship(ShipmentRequest{Carrier: "USPS", TrackingNumber: "9400"}, "wms", t0)
	if err != nil || !created || got.Status != StatusShipped || got.Acknowledgement != nil {
		t.Fatalf("status %s created=%v err=%v ack %+v", got.Status, created, err, got.Acknowledgement)
	}
}

// Payment events arriving after the warehouse moved the order (a redelivered
// checkout.session.completed, a stale async_payment event) never move it
// back, nor lose its lines, acknowledgement or shipments.
func TestMergeNeverUndoesWarehouseWork(t *testing.T) {
	t.Parallel()
	acked, _, _ := paidOrder(StatusReadyToShip).Acknowledge("wms", t0)
	partial, _, _, _ := acked.Ship(ShipmentRequest{Carrier: "UPS", TrackingNumber: "1", Lines: []ShipmentLine{{"li_a", 1}}}, "wms", t0)
	shipped, _, _, _ := partial.Ship(ShipmentRequest{Carrier: "UPS", TrackingNumber: "2"}, "wms", t0)
	late := []Order{
		candidate(StatusReadyToShip, PaymentPaid, 0),
		candidate(StatusReadyToShip, PaymentPaid, 5),
		candidate(StatusAwaitingPayment, PaymentUnpaid, 2),
		candidate(StatusCanceled, PaymentUnpaid, 0),
	}
	for _, o := range []Order{acked, partial, shipped} {
		for _, ev := range late {
			got, changed := o.Merge(ev)
			if changed || got.Status != o.Status || !reflect.DeepEqual(got, o) {
				t.Errorf("%s merged with a late %s event: changed=%v, now %s with %d lines, %d shipments",
					o.Status, ev.Status, changed, got.Status, len(got.LineItems), len(got.Shipments))
			}
		}
	}
}

func TestOrderJSONAlwaysHasShipments(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(candidate(StatusReadyToShip, PaymentPaid, 1))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"shipments":[]`) || strings.Contains(string(b), "acknowledgement") {
		t.Errorf("JSON %s: want shipments [] and no acknowledgement", b)
	}
	var back Order
	if err := json.Unmarshal(b, &back); err != nil || back.ID != OrderID("cs_1") || len(back.LineItems) != 1 {
		t.Errorf("round trip: %v %+v", err, back)
	}
}
