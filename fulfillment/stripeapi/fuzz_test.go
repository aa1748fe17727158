package stripeapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"testing"

	"github.com/stripe/stripe-go/v76"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
)

// fixtureSeeds are the sessions and line items of fixtures.FS stripe/*.json.
func fixtureSeeds(f *testing.F) (sessions []json.RawMessage, lineItems []json.RawMessage) {
	f.Helper()
	names, err := fs.Glob(fixtures.FS, path.Join("stripe", "*.json"))
	if err != nil || len(names) == 0 {
		f.Fatalf("fixtures: %v (%d files)", err, len(names))
	}
	for _, name := range names {
		data, err := fs.ReadFile(fixtures.FS, name)
		if err != nil {
			f.Fatal(err)
		}
		var fx struct {
			Session   json.RawMessage `json:"session"`
			LineItems json.RawMessage `json:"line_items"`
		}
		if err := json.Unmarshal(data, &fx); err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		sessions = append(sessions, fx.Session)
		lineItems = append(lineItems, fx.LineItems)
	}
	return sessions, lineItems
}

// FuzzLineItemsToOrder drives the real path from Stripe's line items to an
// order: stripe-go decodes a JSON array of line items (as the list endpoint
// returns them), LineItemFromStripe maps each, and Processor.Process turns a
// paid checkout.session.completed event into an order with them, tagging
// cross-sells. Properties: it never panics; every line maps field for field
// (product id from price.product, expanded or not); the order keeps the
// lines in Stripe's order; a line is tagged as a cross-sell exactly when its
// product is the configured cross-sell of another product in the order;
// processing a second event for the session leaves one order with the same
// lines.
//
// Seeds: the fixtures' line items and testdata/fuzz/FuzzLineItemsToOrder.
func FuzzLineItemsToOrder(f *testing.F) {
	_, lineItems := fixtureSeeds(f)
	for _, li := range lineItems {
		f.Add([]byte(li))
	}
	cross := fulfillment.CrossSells{"prod_camera": "prod_lens_cloth", "prod_gen_0001": "prod_gen_0002"}

	f.Fuzz(func(t *testing.T, data []byte) {
		var raw []json.RawMessage
		if json.Unmarshal(data, &raw) != nil || len(raw) == 0 || len(raw) > 200 {
			return
		}
		decoded := make([]*stripe.LineItem, len(raw))
		items := make([]fulfillment.LineItem, len(raw))
		for i, r := range raw {
			var sli stripe.LineItem
			if json.Unmarshal(r, &sli) != nil {
				return // stripe-go's own decode error: the client reports it
			}
			decoded[i] = &sli
			items[i] = stripeapi.LineItemFromStripe(&sli)
			checkLineItem(t, &sli, items[i])
		}

		reader := &fixedReader{items: items}
		orders := newMemOrders()
		p := &fulfillment.Processor{Stripe: reader, Orders: orders, CrossSells: cross}
		session := fulfillment.Session{ID: "cs_test_fuzz", Status: "complete", PaymentStatus: fulfillment.PaymentPaid, Mode: "payment", Currency: "usd"}
		ev := fulfillment.Event{ID: "evt_fuzz_1", Type: fulfillment.EventSessionCompleted, Session: session}
		res, err := p.Process(context.Background(), ev)
		if err != nil {
			t.Fatalf("Process: %v", err)
		}
		o := res.Order
		if len(o.LineItems) != len(decoded) {
			t.Fatalf("order has %d lines, Stripe listed %d", len(o.LineItems), len(decoded))
		}
		present := map[string]bool{}
		for _, li := range o.LineItems {
			present[li.ProductID] = true
		}
		for i, li := range o.LineItems {
			if li.ID != decoded[i].ID || li.Quantity != decoded[i].Quantity {
				t.Fatalf("line %d is %s×%d, Stripe listed %s×%d", i, li.ID, li.Quantity, decoded[i].ID, decoded[i].Quantity)
			}
			isCross := false
			for base, c := range cross {
				if c == li.ProductID && li.ProductID != "" && present[base] {
					isCross = true
				}
			}
			if li.CrossSell != isCross {
				t.Fatalf("line %d (product %q) cross_sell=%v, want %v (products %v)", i, li.ProductID, li.CrossSell, isCross, present)
			}
		}

		ev2 := fulfillment.Event{ID: "evt_fuzz_2", Type: fulfillment.EventSessionCompleted, Session: session}
		res2, err := p.Process(context.Background(), ev2)
		if err != nil {
			t.Fatalf("second Process: %v", err)
		}
		if len(orders.orders) != 1 || !reflect.DeepEqual(res2.Order.LineItems, o.LineItems) {
			t.Fatalf("second event changed the lines or added an order: %d orders", len(orders.orders))
		}
	})
}

// checkLineItem compares a mapped line with what stripe-go decoded.
func checkLineItem(t *testing.T, sli *stripe.LineItem, li fulfillment.LineItem) {
	t.Helper()
	want := fulfillment.LineItem{
		ID: sli.ID, Description: sli.Description, Quantity: sli.Quantity, Currency: string(sli.Currency),
		AmountSubtotal: sli.AmountSubtotal, AmountDiscount: sli.AmountDiscount, AmountTax: sli.AmountTax, AmountTotal: sli.AmountTotal,
	}
	if sli.Price != nil {
		want.PriceID = sli.Price.ID
		if sli.Price.Product != nil {
			want.ProductID = sli.Price.Product.ID
		}
	}
	got := fulfillment.LineItem{
		ID: li.ID, Description: li.Description, Quantity: li.Quantity, Currency: li.Currency,
		AmountSubtotal: li.AmountSubtotal, AmountDiscount: li.AmountDiscount, AmountTax: li.AmountTax, AmountTotal: li.AmountTotal,
		PriceID: li.PriceID, ProductID: li.ProductID,
	}
	if got != want {
		t.Fatalf("LineItemFromStripe:\n got %+v\nwant %+v", got, want)
	}
}

// fixedReader is Stripe with one session and fixed line items.
type fixedReader struct{ items []fulfillment.LineItem }

func (r *fixedReader) Session(_ context.Context, id string) (fulfillment.Session, error) {
	return fulfillment.Session{ID: id, Status: "complete", PaymentStatus: fulfillment.PaymentPaid}, nil
}

func (r *fixedReader) LineItems(context.Context, string) (fulfillment.Lines, error) {
	return fulfillment.Lines{Items: append([]fulfillment.LineItem(nil), r.items...), Requests: 1}, nil
}

func (r *fixedReader) SessionWithLineItems(ctx context.Context, id string) (fulfillment.Session, fulfillment.Lines, error) {
	s, _ := r.Session(ctx, id)
	lines, _ := r.LineItems(ctx, id)
	return s, lines, nil
}

// memOrders is the OrderStore contract in memory: one order per session,
// each event recorded once, Merge on update.
type memOrders struct {
	orders map[string]fulfillment.Order
	events map[string]bool
}

func newMemOrders() *memOrders {
	return &memOrders{orders: map[string]fulfillment.Order{}, events: map[string]bool{}}
}

func (m *memOrders) OrderBySession(_ context.Context, id string) (fulfillment.Order, error) {
	o, ok := m.orders[id]
	if !ok {
		return o, fmt.Errorf("order %s: %w", id, fulfillment.ErrNotFound)
	}
	return o, nil
}

func (m *memOrders) OrderByPayment(_ context.Context, p fulfillment.Payment) (fulfillment.Order, error) {
	for _, o := range m.orders {
		if p.PaymentIntent != "" && o.Payment().PaymentIntent == p.PaymentIntent {
			return o, nil
		}
	}
	return fulfillment.Order{}, fulfillment.ErrNotFound
}

func (m *memOrders) EventProcessed(_ context.Context, id string) (bool, error) {
	return m.events[id], nil
}

func (m *memOrders) Record(_ context.Context, eventID, _ string, c fulfillment.Order) (fulfillment.Order, fulfillment.Outcome, error) {
	id := c.CheckoutSessionID
	if m.events[eventID] {
		return m.orders[id], fulfillment.OutcomeDuplicate, nil
	}
	m.events[eventID] = true
	cur, ok := m.orders[id]
	if !ok {
		m.orders[id] = c
		return c, fulfillment.OutcomeCreated, nil
	}
	merged, changed := cur.Merge(c)
	m.orders[id] = merged
	if changed {
		return merged, fulfillment.OutcomeUpdated, nil
	}
	return merged, fulfillment.OutcomeUnchanged, nil
}
