package store

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// line is a line item of product, amount_total, tagged as the cross-sell
// of base when base != "".
type line struct {
	product string
	total   int64
	base    string
}

func reportOrder(session string, st fulfillment.Status, ps fulfillment.PaymentStatus, currency string, total int64, created time.Time, lines ...line) fulfillment.Order {
	o := fulfillment.Order{
		ID: fulfillment.OrderID(session), CheckoutSessionID: session, Status: st, PaymentStatus: ps,
		Mode: "payment", Currency: currency, AmountSubtotal: total, AmountTotal: total,
		CreatedAt: created, UpdatedAt: created,
	}
	for i, l := range lines {
		o.LineItems = append(o.LineItems, fulfillment.LineItem{
			ID: fmt.Sprintf("li_%s_%d", session, i), ProductID: l.product, Quantity: 1, Currency: currency,
			AmountSubtotal: l.total, AmountTotal: l.total, CrossSell: l.base != "", CrossSellOf: l.base,
		})
	}
	return o
}

// TestCrossSellReport checks every figure against orders whose figures are
// known, and which orders count: paid (warehouse statuses included), not
// awaiting payment, not canceled, recorded since the given time.
func TestCrossSellReport(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	since := at(0)
	before := since.Add(-time.Hour)
	const (
		cam, cloth, sd = "prod_camera", "prod_cloth", "prod_sd"
		paid, unpaid   = fulfillment.PaymentPaid, fulfillment.PaymentUnpaid
	)
	ready := fulfillment.StatusReadyToShip
	orders := []fulfillment.Order{
		reportOrder("cs_r1", ready, paid, "usd", 10900, at(1), line{cam, 10000, ""}, line{cloth, 900, cam}),
		// A cross-sell line of quantity 2 is one line: its whole amount counts.
		reportOrder("cs_r2", ready, paid, "usd", 12000, at(2), line{cam, 10200, ""}, line{cloth, 1800, cam}),
		reportOrder("cs_r3", ready, paid, "usd", 9999, at(3), line{cam, 9999, ""}),
		// Not paid: neither counts.
		reportOrder("cs_r4", fulfillment.StatusAwaitingPayment, unpaid, "usd", 10900, at(4), line{cam, 10000, ""}, line{cloth, 900, cam}),
		reportOrder("cs_r5", fulfillment.StatusCanceled, unpaid, "usd", 10900, at(5), line{cam, 10000, ""}, line{cloth, 900, cam}),
		// Canceled after payment (refunded): not a sale either.
		reportOrder("cs_r5b", fulfillment.StatusCanceled, paid, "usd", 10900, at(5), line{cam, 10000, ""}, line{cloth, 900, cam}),
		// Another currency: its own row.
		reportOrder("cs_r6", ready, paid, "eur", 8000, at(6), line{cam, 7300, ""}, line{cloth, 700, cam}),
		// Free, and the cloth was not tagged (bought on its own): without.
		reportOrder("cs_r7", ready, fulfillment.PaymentNoPaymentRequired, "usd", 0, at(7), line{cam, 0, ""}, line{cloth, 0, ""}),
		// Recorded before the window.
		reportOrder("cs_r8", ready, paid, "usd", 10900, before, line{cam, 10000, ""}, line{cloth, 900, cam}),
		// A warehouse status (issue 4) still counts as paid.
		reportOrder("cs_r9", fulfillment.StatusShipped, paid, "usd", 11000, at(9), line{cam, 10100, ""}, line{cloth, 900, cam}),
		// Two camera lines: the order counts once.
		reportOrder("cs_r10", ready, paid, "usd", 20000, at(10), line{cam, 9550, ""}, line{cam, 9550, ""}, line{cloth, 900, cam}),
		// The cloth is the camera's cross-sell here, not the SD card's.
		reportOrder("cs_r11", ready, paid, "usd", 5000, at(11), line{sd, 2000, ""}, line{cam, 2100, ""}, line{cloth, 900, cam}),
	}
	for i, o := range orders {
		mustRecord(t, db, fmt.Sprintf("evt_r%d", i), fulfillment.EventSessionCompleted, o)
	}
	pairs := []fulfillment.CrossSellPair{{Base: cam, CrossSell: cloth}, {Base: "prod_tent", CrossSell: "prod_stakes"}, {Base: sd, CrossSell: cloth}}

	got, err := db.CrossSellReport(context.Background(), pairs, since)
	if err != nil {
		t.Fatal(err)
	}
	want := []fulfillment.CrossSellStats{
		{CrossSellPair: pairs[0], Currency: "eur", OrdersWithBase: 1, OrdersWithCrossSell: 1, CrossSellRevenue: 700, OrderValueWith: 8000},
		// r1, r2, r9, r10, r11 with; r3, r7 without.
		{CrossSellPair: pairs[0], Currency: "usd", OrdersWithBase: 7, OrdersWithCrossSell: 5, CrossSellRevenue: 5400,
			OrderValueWith: 10900 + 12000 + 11000 + 20000 + 5000, OrderValueWithout: 9999},
		{CrossSellPair: pairs[1]},
		{CrossSellPair: pairs[2], Currency: "usd", OrdersWithBase: 1, OrderValueWithout: 5000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("report:\n got %+v\nwant %+v", got, want)
	}
	usd := got[1]
	if r := usd.AttachRate(); r != 5.0/7.0 {
		t.Errorf("attach rate %v, want 5/7", r)
	}
	if a := usd.AverageOrderValueWith(); a != 11780 {
		t.Errorf("average with %d, want 11780", a)
	}
	if a := usd.AverageOrderValueWithout(); a != 5000 { // 9999 / 2 = 4999.5, rounded half up
		t.Errorf("average without %d, want 5000", a)
	}
	if a := got[0].AverageOrderValueWithout(); a != 0 {
		t.Errorf("average without, no such order: %d, want 0", a)
	}

	// The zero time: every order, r8 included.
	all, err := db.CrossSellReport(context.Background(), pairs[:1], time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[1].OrdersWithBase != 8 || all[1].OrdersWithCrossSell != 6 || all[1].CrossSellRevenue != 6300 {
		t.Errorf("all time: %+v", all)
	}
}

// TestCrossSellReportMoney: which orders count once money has moved. A
// partial refund holds the order, which still counts at its amount_total;
// an order refunded in full after it shipped keeps its status and counts;
// an order canceled before it shipped (refunded, dispute lost, by the
// merchant) does not. The refunds of the orders counted are summed apart.
func TestCrossSellReportMoney(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	const cam, cloth = "prod_camera", "prod_cloth"
	paid, ready := fulfillment.PaymentPaid, fulfillment.StatusReadyToShip
	partly := reportOrder("cs_m1", ready, paid, "usd", 10900, at(1), line{cam, 10000, ""}, line{cloth, 900, cam})
	partly.AmountRefunded = 900 // the buyer sent the cloth back, say: Stripe does not tell
	afterShipping := reportOrder("cs_m2", fulfillment.StatusShipped, paid, "usd", 10000, at(2), line{cam, 10000, ""})
	afterShipping.AmountRefunded, afterShipping.Refunded = 10000, true
	refunded := reportOrder("cs_m3", ready, paid, "usd", 10900, at(3), line{cam, 10000, ""}, line{cloth, 900, cam})
	refunded.AmountRefunded, refunded.Refunded = 10900, true
	lost := reportOrder("cs_m4", ready, paid, "usd", 10900, at(4), line{cam, 10000, ""}, line{cloth, 900, cam})
	lost.Dispute = &fulfillment.Dispute{ID: "dp_1", Status: "lost", Amount: 10900}
	disputed := reportOrder("cs_m5", ready, paid, "usd", 10000, at(5), line{cam, 10000, ""})
	disputed.Dispute = &fulfillment.Dispute{ID: "dp_2", Status: "needs_response", Amount: 10000}
	merchant := reportOrder("cs_m6", ready, paid, "usd", 10900, at(6), line{cam, 10000, ""}, line{cloth, 900, cam})
	for i, o := range []fulfillment.Order{partly, afterShipping, refunded, lost, disputed, merchant} {
		// The order first, as checkout made it; then Stripe's money event.
		before := o
		before.AmountRefunded, before.Refunded, before.Dispute = 0, false, nil
		mustRecord(t, db, fmt.Sprintf("evt_m%d", i), fulfillment.EventSessionCompleted, before)
		mustRecord(t, db, fmt.Sprintf("evt_m%d_money", i), fulfillment.EventChargeRefunded, o)
	}
	if _, err := db.ChangeOrder(context.Background(), "cs_m6", func(o fulfillment.Order) (fulfillment.Order, bool, error) {
		return o.CancelByMerchant("", "alice", at(7))
	}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]fulfillment.Status{"cs_m1": fulfillment.StatusOnHold, "cs_m2": fulfillment.StatusShipped,
		"cs_m3": fulfillment.StatusCanceled, "cs_m4": fulfillment.StatusCanceled, "cs_m5": fulfillment.StatusOnHold, "cs_m6": fulfillment.StatusCanceled} {
		if o, err := db.Order(context.Background(), id); err != nil || o.Status != want {
			t.Fatalf("%s: %s (%v), want %s", id, o.Status, err, want)
		}
	}
	got, err := db.CrossSellReport(context.Background(), []fulfillment.CrossSellPair{{Base: cam, CrossSell: cloth}}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// m1 with the cloth; m2, m5 without; m3, m4, m6 canceled.
	want := []fulfillment.CrossSellStats{{CrossSellPair: fulfillment.CrossSellPair{Base: cam, CrossSell: cloth}, Currency: "usd",
		OrdersWithBase: 3, OrdersWithCrossSell: 1, CrossSellRevenue: 900, OrderValueWith: 10900, OrderValueWithout: 20000,
		OrdersRefunded: 2, AmountRefunded: 10900}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("report:\n got %+v\nwant %+v", got, want)
	}
}

// TestCrossSellReportReadOnlyBesideWriter: the report reads through a
// read-only handle while the writer holds the file open and keeps writing.
func TestCrossSellReportReadOnlyBesideWriter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fulfillment.db")
	ctx := context.Background()
	w, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pair := []fulfillment.CrossSellPair{{Base: "prod_a", CrossSell: "prod_b"}}
	mustRecord(t, w, "evt_1", fulfillment.EventSessionCompleted,
		reportOrder("cs_ro1", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, "usd", 1500, at(1), line{"prod_a", 1000, ""}, line{"prod_b", 500, "prod_a"}))

	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	mustRecord(t, w, "evt_2", fulfillment.EventSessionCompleted,
		reportOrder("cs_ro2", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, "usd", 1000, at(2), line{"prod_a", 1000, ""}))
	got, err := ro.CrossSellReport(ctx, pair, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].OrdersWithBase != 2 || got[0].OrdersWithCrossSell != 1 || got[0].CrossSellRevenue != 500 ||
		got[0].OrderValueWith != 1500 || got[0].OrderValueWithout != 1000 {
		t.Errorf("report beside the writer: %+v", got)
	}
}

// TestCheckoutDetailsRoundTrip: the columns of migration 0002 keep what
// issue 3 added to orders and line items.
func TestCheckoutDetailsRoundTrip(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	o := order("cs_details", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 3, 1)
	o.Customer.ID = "cus_P0f3a1Yx8wUb3Z"
	o.AmountDiscount, o.AmountTax, o.AmountShipping = 8990, 7416, 1500
	o.LineItems[0].Recurring = &fulfillment.Recurring{Interval: "month", IntervalCount: 1}
	o.LineItems[1].Recurring = &fulfillment.Recurring{Interval: "year", IntervalCount: 2}
	// First known without the details (an event snapshot of an unpaid
	// session), then with them: the update writes them.
	bare := o
	bare.Status, bare.PaymentStatus = fulfillment.StatusAwaitingPayment, fulfillment.PaymentUnpaid
	bare.Customer.ID, bare.AmountDiscount, bare.AmountTax, bare.AmountShipping = "", 0, 0, 0
	mustRecord(t, db, "evt_details_0", fulfillment.EventSessionCompleted, bare)
	got, outcome := mustRecord(t, db, "evt_details", fulfillment.EventSessionAsyncPaymentSucceed, o)
	if outcome != fulfillment.OutcomeUpdated {
		t.Fatalf("outcome %s, want updated", outcome)
	}
	sameOrder(t, "recorded", got, o)
	read, err := db.OrderBySession(context.Background(), "cs_details")
	if err != nil {
		t.Fatal(err)
	}
	sameOrder(t, "read back", read, o)
	if read.LineItems[2].Recurring != nil {
		t.Errorf("one-time line read back as recurring: %+v", read.LineItems[2].Recurring)
	}
}
