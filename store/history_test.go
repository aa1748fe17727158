package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// TestOrderHistory: every change, whoever makes it, is in the order's
// history with its time, status, what and by whom, the latest first.
func TestOrderHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	o := order("cs_hist", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 2, 0)
	mustRecord(t, db, "evt_created", fulfillment.EventSessionCompleted, o)
	mustRecord(t, db, "evt_duplicate_no_change", fulfillment.EventSessionCompleted, o)
	steps := []func(fulfillment.Order) (fulfillment.Order, bool, error){
		func(o fulfillment.Order) (fulfillment.Order, bool, error) {
			return o.HoldByMerchant("call buyer", "alice", at(1))
		},
		func(o fulfillment.Order) (fulfillment.Order, bool, error) { return o.ReleaseByMerchant("bob", at(2)) },
		func(o fulfillment.Order) (fulfillment.Order, bool, error) { return o.Acknowledge("wms", at(3)) },
		func(o fulfillment.Order) (fulfillment.Order, bool, error) {
			next, _, created, err := o.Ship(fulfillment.ShipmentRequest{Carrier: "ups", TrackingNumber: "1ZHIST"}, "wms", at(4))
			return next, created, err
		},
	}
	for i, step := range steps {
		got, err := db.ChangeOrder(ctx, o.ID, step)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got.ChangedBy != (fulfillment.Actor{}) {
			t.Errorf("step %d: ChangeOrder returned ChangedBy %v", i, got.ChangedBy)
		}
	}
	hist, err := db.OrderHistory(ctx, "cs_hist")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status fulfillment.Status
		what   string
		by     fulfillment.Actor
	}{
		{fulfillment.StatusShipped, "in_fulfillment → shipped; shipment ups 1ZHIST", fulfillment.Actor{Kind: fulfillment.ActorWarehouse, Name: "wms"}},
		{fulfillment.StatusInFulfillment, "ready_to_ship → in_fulfillment; acknowledged", fulfillment.Actor{Kind: fulfillment.ActorWarehouse, Name: "wms"}},
		{fulfillment.StatusReadyToShip, "on_hold → ready_to_ship; released", fulfillment.Actor{Kind: fulfillment.ActorAdmin, Name: "bob"}},
		{fulfillment.StatusOnHold, "ready_to_ship → on_hold; held: merchant; note: call buyer", fulfillment.Actor{Kind: fulfillment.ActorAdmin, Name: "alice"}},
		{fulfillment.StatusReadyToShip, "created ready_to_ship, 2 line items", fulfillment.Actor{Kind: fulfillment.ActorStripe, Name: "evt_created"}},
	}
	if len(hist) != len(want) {
		t.Fatalf("history has %d entries, want %d: %+v", len(hist), len(want), hist)
	}
	for i, w := range want {
		h := hist[i]
		if h.Status != w.status || h.What != w.what || h.By != w.by {
			t.Errorf("entry %d = %s %q by %v, want %s %q by %v", i, h.Status, h.What, h.By, w.status, w.what, w.by)
		}
		if i > 0 && !(h.Seq < hist[i-1].Seq) {
			t.Errorf("entry %d: seq %d not below %d", i, h.Seq, hist[i-1].Seq)
		}
	}
	if hist[0].At != at(4) || hist[4].At != at(0) {
		t.Errorf("times %v .. %v", hist[0].At, hist[4].At)
	}
	if none, err := db.OrderHistory(ctx, "cs_nope"); err != nil || len(none) != 0 {
		t.Errorf("unknown order: %v %v", none, err)
	}
}

// TestSearchOrders: by order id, session id, email in any case and
// tracking number; by status; newest change first; keyset pages that
// neither repeat nor skip while orders change between pages.
func TestSearchOrders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	for i := range 7 {
		o := order(fmt.Sprintf("cs_s%d", i), fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 3, i)
		o.Customer.Email = fmt.Sprintf("buyer%d@example.com", i%3)
		mustRecord(t, db, fmt.Sprintf("evt_s%d", i), fulfillment.EventSessionCompleted, o)
	}
	if _, err := db.ChangeOrder(ctx, "cs_s2", func(o fulfillment.Order) (fulfillment.Order, bool, error) {
		next, _, created, err := o.Ship(fulfillment.ShipmentRequest{Carrier: "dhl", TrackingNumber: "JD0042"}, "wms", at(10))
		return next, created, err
	}); err != nil {
		t.Fatal(err)
	}
	ids := func(p fulfillment.SummaryPage) []string {
		var out []string
		for _, o := range p.Orders {
			out = append(out, o.CheckoutSessionID)
		}
		return out
	}
	for _, tc := range []struct {
		s    fulfillment.OrderSearch
		want string
	}{
		{fulfillment.OrderSearch{}, "[cs_s2 cs_s6 cs_s5 cs_s4 cs_s3 cs_s1 cs_s0]"},
		{fulfillment.OrderSearch{Query: "BUYER1@example.com"}, "[cs_s4 cs_s1]"},
		{fulfillment.OrderSearch{Query: "JD0042"}, "[cs_s2]"},
		{fulfillment.OrderSearch{Query: "cs_s3"}, "[cs_s3]"},
		{fulfillment.OrderSearch{Query: fulfillment.OrderID("cs_s5")}, "[cs_s5]"},
		{fulfillment.OrderSearch{Query: "nobody"}, "[]"},
		{fulfillment.OrderSearch{Status: fulfillment.StatusPartiallyShipped}, "[]"},
		{fulfillment.OrderSearch{Status: fulfillment.StatusShipped}, "[cs_s2]"},
		{fulfillment.OrderSearch{Status: fulfillment.StatusReadyToShip, Query: "buyer2@example.com"}, "[cs_s5]"},
	} {
		p, err := db.SearchOrders(ctx, tc.s)
		if err != nil {
			t.Fatalf("%+v: %v", tc.s, err)
		}
		if got := fmt.Sprint(ids(p)); got != tc.want {
			t.Errorf("%+v = %s, want %s", tc.s, got, tc.want)
		}
	}
	p, _ := db.SearchOrders(ctx, fulfillment.OrderSearch{Query: "cs_s2"})
	if o := p.Orders[0]; o.Units != 1+2+3 || !o.CrossSell || o.AmountTotal != 12950 || o.Status != fulfillment.StatusShipped {
		t.Errorf("summary %+v", o)
	}

	first, err := db.SearchOrders(ctx, fulfillment.OrderSearch{Limit: 3})
	if err != nil || fmt.Sprint(ids(first)) != "[cs_s2 cs_s6 cs_s5]" || first.Next == "" {
		t.Fatalf("first page %v %q %v", ids(first), first.Next, err)
	}
	// cs_s0 changes between pages: it moves to the top, the rest pages on.
	if _, err := db.ChangeOrder(ctx, "cs_s0", func(o fulfillment.Order) (fulfillment.Order, bool, error) { return o.Acknowledge("wms", at(20)) }); err != nil {
		t.Fatal(err)
	}
	second, _ := db.SearchOrders(ctx, fulfillment.OrderSearch{Limit: 3, Before: first.Next})
	third, _ := db.SearchOrders(ctx, fulfillment.OrderSearch{Limit: 3, Before: second.Next})
	if fmt.Sprint(ids(second)) != "[cs_s4 cs_s3 cs_s1]" || fmt.Sprint(ids(third)) != "[]" || third.Next != "" {
		t.Errorf("pages on: %v (next %q), %v", ids(second), second.Next, ids(third))
	}
	if _, err := db.SearchOrders(ctx, fulfillment.OrderSearch{Before: "x"}); fulfillment.Find(err, fulfillment.CodeBadRequest) == nil {
		t.Errorf("bad cursor: %v", err)
	}
	oldest, ok, err := db.OldestAwaitingPayment(ctx)
	if err != nil || ok {
		t.Errorf("oldest awaiting: %+v %v %v", oldest, ok, err)
	}
}

// TestUpgradeTo0009: orders recorded before the history have none; their
// next change is the first in it, and the searches find them.
func TestUpgradeTo0009(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := upgradeFrom(t, 7, `INSERT INTO orders (id, checkout_session_id, status, payment_status, customer_email, created_at, updated_at, change_seq)
			VALUES ('ord_1', 'cs_1', 'ready_to_ship', 'paid', 'Old@Example.com', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', 1)`)
	if h, err := db.OrderHistory(ctx, "cs_1"); err != nil || len(h) != 0 {
		t.Fatalf("history before: %+v %v", h, err)
	}
	if p, err := db.SearchOrders(ctx, fulfillment.OrderSearch{Query: "old@example.com"}); err != nil || len(p.Orders) != 1 {
		t.Fatalf("search: %+v %v", p, err)
	}
	if _, err := db.ChangeOrder(ctx, "cs_1", func(o fulfillment.Order) (fulfillment.Order, bool, error) { return o.Acknowledge("wms", at(1)) }); err != nil {
		t.Fatal(err)
	}
	if h, err := db.OrderHistory(ctx, "cs_1"); err != nil || len(h) != 1 || h[0].What != "ready_to_ship → in_fulfillment; acknowledged" {
		t.Fatalf("history after: %+v %v", h, err)
	}
}
