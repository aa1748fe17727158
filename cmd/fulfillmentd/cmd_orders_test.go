package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
)

// cliData writes known orders into a database under a fresh data directory
// and leaves it open, as a running serve would: ready_to_ship → acknowledged
// and half shipped (cs_cli_a), awaiting payment with a hostile name
// (cs_cli_b), shipped in one parcel (cs_cli_c).
func cliData(t *testing.T) (dir string, db *store.DB) {
	t.Helper()
	dir = t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "fulfillment.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	at := func(min int) time.Time { return time.Date(2025, 3, 14, 15, min, 0, 0, time.UTC) }
	record := func(o fulfillment.Order) {
		t.Helper()
		o.ID = fulfillment.OrderID(o.CheckoutSessionID)
		if _, _, err := db.Record(context.Background(), "evt_"+o.CheckoutSessionID, fulfillment.EventSessionCompleted, o); err != nil {
			t.Fatal(err)
		}
	}
	change := func(id string, f func(fulfillment.Order) (fulfillment.Order, bool, error)) {
		t.Helper()
		if _, err := db.ChangeOrder(context.Background(), id, f); err != nil {
			t.Fatal(err)
		}
	}
	london := &fulfillment.Shipping{Name: "Ada Lovelace", Address: fulfillment.Address{Line1: "12 St James's Square", Line2: "Flat 3", City: "London", PostalCode: "SW1Y 4JH", Country: "GB"}}
	record(fulfillment.Order{CheckoutSessionID: "cs_cli_a", Status: fulfillment.StatusReadyToShip, PaymentStatus: fulfillment.PaymentPaid,
		Mode: "payment", Currency: "eur", AmountSubtotal: 54900, AmountTotal: 56400,
		Customer: fulfillment.Customer{Email: "ada@example.com", Name: "Ada Lovelace", Phone: "+44 20 7946 0958"}, Shipping: london,
		LineItems: []fulfillment.LineItem{
			{ID: "li_a1", ProductID: "prod_camera", PriceID: "price_camera", Description: "Camera body", Quantity: 1, Currency: "eur", AmountSubtotal: 49900, AmountTotal: 49900},
			{ID: "li_a2", ProductID: "prod_strap", PriceID: "price_strap", Description: "Leather strap, \"brown\"", Quantity: 2, Currency: "eur", AmountSubtotal: 5000, AmountDiscount: 500, AmountTotal: 4500, CrossSell: true, CrossSellOf: "prod_camera"},
		},
		CreatedAt: at(0), UpdatedAt: at(0)})
	record(fulfillment.Order{CheckoutSessionID: "cs_cli_b", Status: fulfillment.StatusAwaitingPayment, PaymentStatus: fulfillment.PaymentUnpaid,
		Mode: "payment", Currency: "jpy", AmountSubtotal: 3000, AmountTotal: 3000,
		Customer:  fulfillment.Customer{Email: "mallory@example.com", Name: "=HYPERLINK(\"http://evil.example\")", Phone: "-1"},
		LineItems: []fulfillment.LineItem{{ID: "li_b1", ProductID: "prod_tea", PriceID: "price_tea", Description: "@tea", Quantity: 3, Currency: "jpy", AmountSubtotal: 3000, AmountTotal: 3000}},
		CreatedAt: at(1), UpdatedAt: at(1)})
	record(fulfillment.Order{CheckoutSessionID: "cs_cli_c", Status: fulfillment.StatusReadyToShip, PaymentStatus: fulfillment.PaymentPaid,
		Mode: "payment", Currency: "usd", AmountSubtotal: 1999, AmountTotal: 1999,
		Customer:  fulfillment.Customer{Email: "grace@example.com", Name: "Grace Hopper"},
		LineItems: []fulfillment.LineItem{{ID: "li_c1", ProductID: "prod_book", PriceID: "price_book", Description: "COBOL manual", Quantity: 1, Currency: "usd", AmountSubtotal: 1999, AmountTotal: 1999}},
		CreatedAt: at(2), UpdatedAt: at(2)})
	change("cs_cli_a", func(o fulfillment.Order) (fulfillment.Order, bool, error) { return o.Acknowledge("wms", at(10)) })
	change("cs_cli_a", func(o fulfillment.Order) (fulfillment.Order, bool, error) {
		next, _, created, err := o.Ship(fulfillment.ShipmentRequest{Carrier: "UPS", TrackingNumber: "1Z999",
			Lines: []fulfillment.ShipmentLine{{LineItemID: "li_a1", Quantity: 1}, {LineItemID: "li_a2", Quantity: 1}}}, "wms", at(20))
		return next, created, err
	})
	change("cs_cli_c", func(o fulfillment.Order) (fulfillment.Order, bool, error) {
		next, _, created, err := o.Ship(fulfillment.ShipmentRequest{Carrier: "USPS", TrackingNumber: "9400 1000"}, "shipbob", at(30))
		return next, created, err
	})
	return dir, db
}

func runCLI(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, envFunc(map[string]string{"FULFILLMENT_DATA_DIR": dir}), &stdout, &stderr)
	return stdout.String(), err
}

func TestOrdersCLI(t *testing.T) {
	t.Parallel()
	dir, db := cliData(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"orders", "list"}, `
ORDER                         CHECKOUT SESSION  STATUS             REASON  PAYMENT  UNITS  SHIPPED  TOTAL       REFUNDED  RISK  CUSTOMER             UPDATED (UTC)
ord_txnpjr5qnhkzvnvzf4tbfqb2  cs_cli_b          awaiting_payment   —       unpaid   3      0        JPY 3000    —         —     mallory@example.com  2025-03-14 15:01:00
ord_w77lqeroqfjvxvvke5n3n6o2  cs_cli_a          partially_shipped  —       paid     3      2        EUR 564.00  —         —     ada@example.com      2025-03-14 15:20:00
ord_nisjc24bsi4w7ktsqcqddktu  cs_cli_c          shipped            —       paid     1      1        USD 19.99   —         —     grace@example.com    2025-03-14 15:30:00
3 orders
`},
		{[]string{"orders", "list", "--status", "shipped", "--format", "csv"}, `
order_id,checkout_session_id,status,payment_status,units,units_shipped,currency,amount_total,customer_email,customer_name,created_at,updated_at,hold_reasons,cancel_reason,amount_refunded,dispute_status,fraud_type
ord_nisjc24bsi4w7ktsqcqddktu,cs_cli_c,shipped,paid,1,1,USD,19.99,grace@example.com,Grace Hopper,2025-03-14T15:02:00Z,2025-03-14T15:30:00Z,,,0.00,,
`},
		{[]string{"orders", "list", "--since", "2025-03-14T15:15:00Z", "--format", "csv"}, `
order_id,checkout_session_id,status,payment_status,units,units_shipped,currency,amount_total,customer_email,customer_name,created_at,updated_at,hold_reasons,cancel_reason,amount_refunded,dispute_status,fraud_type
ord_w77lqeroqfjvxvvke5n3n6o2,cs_cli_a,partially_shipped,paid,3,2,EUR,564.00,ada@example.com,Ada Lovelace,2025-03-14T15:00:00Z,2025-03-14T15:20:00Z,,,0.00,,
ord_nisjc24bsi4w7ktsqcqddktu,cs_cli_c,shipped,paid,1,1,USD,19.99,grace@example.com,Grace Hopper,2025-03-14T15:02:00Z,2025-03-14T15:30:00Z,,,0.00,,
`},
		{[]string{"orders", "list", "--status", "canceled"}, `
ORDER  CHECKOUT SESSION  STATUS  REASON  PAYMENT  UNITS  SHIPPED  TOTAL  REFUNDED  RISK  CUSTOMER  UPDATED (UTC)
0 orders
`},
		{[]string{"orders", "show", "cs_cli_a"}, `
Order             ord_w77lqeroqfjvxvvke5n3n6o2
Checkout Session  cs_cli_a
Status            partially_shipped (payment paid)
Total             EUR 564.00
Customer          Ada Lovelace <ada@example.com>, +44 20 7946 0958
Ship to           Ada Lovelace, 12 St James's Square, Flat 3, London, SW1Y 4JH, GB
Created           2025-03-14T15:00:00Z
Updated           2025-03-14T15:20:00Z
Acknowledged      2025-03-14T15:10:00Z by wms

LINE ITEM  PRODUCT      DESCRIPTION                                           QTY  SHIPPED  TOTAL
li_a1      prod_camera  Camera body                                           1    1        EUR 499.00
li_a2      prod_strap   ★ Leather strap, "brown" (cross-sell of prod_camera)  2    1        EUR 45.00

SHIPMENT                      CARRIER  TRACKING NUMBER  LINES            BY   AT
shp_mupsr2doatehvb53g3xp667u  UPS      1Z999            li_a1×1 li_a2×1  wms  2025-03-14T15:20:00Z
`},
		{[]string{"orders", "show", "ord_txnpjr5qnhkzvnvzf4tbfqb2"}, `
Order             ord_txnpjr5qnhkzvnvzf4tbfqb2
Checkout Session  cs_cli_b
Status            awaiting_payment (payment unpaid)
Total             JPY 3000
Customer          =HYPERLINK("http://evil.example") <mallory@example.com>, -1
Ship to           — (no shipping address)
Created           2025-03-14T15:01:00Z
Updated           2025-03-14T15:01:00Z

LINE ITEM  PRODUCT   DESCRIPTION  QTY  SHIPPED  TOTAL
li_b1      prod_tea  @tea         3    0        JPY 3000

No shipments.
`},
		// One row per line item; formulas a buyer typed are neutralised, phone numbers kept.
		{[]string{"orders", "export", "--format", "csv"}, `
order_id,checkout_session_id,status,payment_status,created_at,updated_at,customer_email,customer_name,customer_phone,ship_to_name,ship_to_line1,ship_to_line2,ship_to_city,ship_to_state,ship_to_postal_code,ship_to_country,line_item_id,product_id,price_id,description,quantity,quantity_shipped,currency,amount_subtotal,amount_discount,amount_tax,amount_total,cross_sell,cross_sell_of,tracking_numbers,payment_intent_id,invoice_id,hold_reasons,hold_since,hold_note,cancel_reason,cancel_note,amount_refunded,dispute_id,dispute_status,dispute_reason,dispute_amount,fraud_warning_id,fraud_type,fraud_actionable
ord_txnpjr5qnhkzvnvzf4tbfqb2,cs_cli_b,awaiting_payment,unpaid,2025-03-14T15:01:00Z,2025-03-14T15:01:00Z,mallory@example.com,"'=HYPERLINK(""http://evil.example"")",-1,,,,,,,,li_b1,prod_tea,price_tea,'@tea,3,0,JPY,3000,0,0,3000,false,,,,,,,,,,0,,,,,,,
ord_w77lqeroqfjvxvvke5n3n6o2,cs_cli_a,partially_shipped,paid,2025-03-14T15:00:00Z,2025-03-14T15:20:00Z,ada@example.com,Ada Lovelace,+44 20 7946 0958,Ada Lovelace,12 St James's Square,Flat 3,London,,SW1Y 4JH,GB,li_a1,prod_camera,price_camera,Camera body,1,1,EUR,499.00,0.00,0.00,499.00,false,,1Z999,,,,,,,,0.00,,,,,,,
ord_w77lqeroqfjvxvvke5n3n6o2,cs_cli_a,partially_shipped,paid,2025-03-14T15:00:00Z,2025-03-14T15:20:00Z,ada@example.com,Ada Lovelace,+44 20 7946 0958,Ada Lovelace,12 St James's Square,Flat 3,London,,SW1Y 4JH,GB,li_a2,prod_strap,price_strap,"Leather strap, ""brown""",2,1,EUR,50.00,5.00,0.00,45.00,true,prod_camera,1Z999,,,,,,,,0.00,,,,,,,
ord_nisjc24bsi4w7ktsqcqddktu,cs_cli_c,shipped,paid,2025-03-14T15:02:00Z,2025-03-14T15:30:00Z,grace@example.com,Grace Hopper,,,,,,,,,li_c1,prod_book,price_book,COBOL manual,1,1,USD,19.99,0.00,0.00,19.99,false,,9400 1000,,,,,,,,0.00,,,,,,,
`},
	}
	for _, tt := range tests {
		out, err := runCLI(t, dir, tt.args...)
		if err != nil {
			t.Errorf("%s: %v", strings.Join(tt.args, " "), err)
			continue
		}
		if want := strings.TrimPrefix(tt.want, "\n"); out != want {
			t.Errorf("%s:\n got:\n%s\nwant:\n%s", strings.Join(tt.args, " "), out, want)
		}
	}

	// JSON and NDJSON carry the orders as the API does.
	out, err := runCLI(t, dir, "orders", "list", "--format", "json")
	var list []fulfillment.Order
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 3 || list[1].CheckoutSessionID != "cs_cli_a" || len(list[1].Shipments) != 1 {
		t.Errorf("list --format json: %v\n%s", err, out)
	}
	out, err = runCLI(t, dir, "orders", "export", "--format", "ndjson")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if err != nil || len(lines) != 3 {
		t.Fatalf("export --format ndjson: %v, %d lines", err, len(lines))
	}
	want, _ := db.Order(context.Background(), "cs_cli_c")
	wantJSON, _ := json.Marshal(want)
	if lines[2] != string(wantJSON) {
		t.Errorf("ndjson line 3:\n got %s\nwant %s", lines[2], wantJSON)
	}
	out, err = runCLI(t, dir, "orders", "show", "cs_cli_c", "--format", "json")
	var shown fulfillment.Order
	if err != nil || json.Unmarshal([]byte(out), &shown) != nil || len(shown.Shipments) != 1 || shown.Shipments[0].CreatedBy != "shipbob" {
		t.Errorf("show --format json: %v\n%s", err, out)
	}

	// --since as a duration counts back from now: only an order changed an hour ago.
	recent := fulfillment.Order{ID: fulfillment.OrderID("cs_cli_recent"), CheckoutSessionID: "cs_cli_recent", Status: fulfillment.StatusReadyToShip,
		PaymentStatus: fulfillment.PaymentPaid, CreatedAt: time.Now().Add(-time.Hour), UpdatedAt: time.Now().Add(-time.Hour)}
	if _, _, err := db.Record(context.Background(), "evt_recent", fulfillment.EventSessionCompleted, recent); err != nil {
		t.Fatal(err)
	}
	for _, since := range []string{"24h", "1d"} {
		out, err = runCLI(t, dir, "orders", "export", "--format", "csv", "--since", since)
		if rows := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(rows) != 2 || !strings.Contains(rows[1], "cs_cli_recent") {
			t.Errorf("--since %s: %v\n%s", since, err, out)
		}
	}
}

func TestOrdersCLIErrors(t *testing.T) {
	t.Parallel()
	dir, _ := cliData(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"orders"}, "missing subcommand"},
		{[]string{"orders", "ship"}, `unknown subcommand "ship"`},
		{[]string{"orders", "show"}, "want an order id"},
		{[]string{"orders", "show", "cs_nope"}, `no order with id or checkout session id "cs_nope"`},
		{[]string{"orders", "list", "--format", "xml"}, `--format "xml"`},
		{[]string{"orders", "list", "--status", "lost"}, `unknown status "lost"`},
		{[]string{"orders", "list", "--since", "yesterday"}, "--since"},
		{[]string{"orders", "export"}, `--format "": want csv or ndjson`},
		{[]string{"orders", "list", "--data-dir", filepath.Join(dir, "nowhere")}, "no such file"},
	}
	for _, tt := range tests {
		if _, err := runCLI(t, dir, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to mention %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
	// No Stripe settings needed, and --data-dir wins over the environment.
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"orders", "list", "--format", "csv", "--data-dir", dir}, envFunc(nil), &stdout, &stderr); err != nil ||
		strings.Count(stdout.String(), "\n") != 4 {
		t.Errorf("--data-dir without environment: %v\n%s%s", err, stdout.String(), stderr.String())
	}
}

// TestOrdersCLIMoney: list, show and export show what Stripe's money
// events and the merchant did to orders, made through the domain's rules:
// a held order (dispute, fraud warning, merchant with a note), a refunded
// one (canceled), a shipped one refunded in part (still shipped), one the
// merchant canceled with a note.
func TestOrdersCLIMoney(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "fulfillment.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	at := func(min int) time.Time { return time.Date(2025, 3, 14, 15, min, 0, 0, time.UTC) }
	order := func(session string, min int) fulfillment.Order {
		t.Helper()
		o := fulfillment.Order{ID: fulfillment.OrderID(session), CheckoutSessionID: session, Status: fulfillment.StatusReadyToShip,
			PaymentStatus: fulfillment.PaymentPaid, Mode: "payment", Currency: "eur", AmountSubtotal: 5000, AmountTotal: 5000,
			PaymentIntentID: fulfillment.OptionalID("pi_" + session[3:]), Customer: fulfillment.Customer{Email: session[3:] + "@example.com"},
			LineItems: []fulfillment.LineItem{{ID: "li_" + session, ProductID: "prod_x", Quantity: 1, Currency: "eur", AmountSubtotal: 5000, AmountTotal: 5000}},
			CreatedAt: at(min), UpdatedAt: at(min)}
		got, _, err := db.Record(ctx, "evt_"+session, fulfillment.EventSessionCompleted, o)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	money := func(o fulfillment.Order, event string, min int, facts func(*fulfillment.Order)) {
		t.Helper()
		facts(&o)
		o.UpdatedAt = at(min)
		if _, _, err := db.Record(ctx, "evt_"+event+"_"+o.CheckoutSessionID, event, o); err != nil {
			t.Fatal(err)
		}
	}
	change := func(id string, f func(fulfillment.Order) (fulfillment.Order, bool, error)) {
		t.Helper()
		if _, err := db.ChangeOrder(ctx, id, f); err != nil {
			t.Fatal(err)
		}
	}
	held := order("cs_m_held", 0)
	money(held, fulfillment.EventDisputeCreated, 10, func(o *fulfillment.Order) {
		o.Dispute = &fulfillment.Dispute{ID: "dp_1", Status: "needs_response", Reason: "fraudulent", Amount: 5000, Created: at(10)}
	})
	money(held, fulfillment.EventEarlyFraudWarningCreated, 11, func(o *fulfillment.Order) {
		o.FraudWarning = &fulfillment.FraudWarning{ID: "issfr_1", FraudType: "made_with_stolen_card", Actionable: true, Created: at(11)}
	})
	change("cs_m_held", func(o fulfillment.Order) (fulfillment.Order, bool, error) {
		return o.HoldByMerchant("call the buyer", "alice", at(12))
	})
	refunded := order("cs_m_refunded", 1)
	money(refunded, fulfillment.EventChargeRefunded, 13, func(o *fulfillment.Order) { o.AmountRefunded, o.Refunded = 5000, true })
	order("cs_m_shipped", 2)
	change("cs_m_shipped", func(o fulfillment.Order) (fulfillment.Order, bool, error) {
		next, _, created, err := o.Ship(fulfillment.ShipmentRequest{Carrier: "DHL", TrackingNumber: "JD1"}, "wms", at(14))
		return next, created, err
	})
	shipped, err := db.Order(ctx, "cs_m_shipped")
	if err != nil {
		t.Fatal(err)
	}
	money(shipped, fulfillment.EventChargeRefunded, 15, func(o *fulfillment.Order) { o.AmountRefunded = 1250 })
	order("cs_m_canceled", 3)
	change("cs_m_canceled", func(o fulfillment.Order) (fulfillment.Order, bool, error) {
		return o.CancelByMerchant("out of stock", "alice", at(16))
	})

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"orders", "list"}, `
ORDER                         CHECKOUT SESSION  STATUS    REASON                          PAYMENT  UNITS  SHIPPED  TOTAL      REFUNDED   RISK                                                 CUSTOMER                UPDATED (UTC)
ord_hjq2sf6a63hquiwmhc675ce3  cs_m_held         on_hold   dispute,fraud_warning,merchant  paid     1      0        EUR 50.00  —          dispute needs_response, fraud made_with_stolen_card  m_held@example.com      2025-03-14 15:12:00
ord_p7le6d3zzcbsolfakgay3ode  cs_m_refunded     canceled  refunded                        paid     1      0        EUR 50.00  EUR 50.00  —                                                    m_refunded@example.com  2025-03-14 15:13:00
ord_mc666547fynsb65awqqtxffo  cs_m_shipped      shipped   —                               paid     1      1        EUR 50.00  EUR 12.50  —                                                    m_shipped@example.com   2025-03-14 15:15:00
ord_h7o2swl5nsq7js4lrsntd5nt  cs_m_canceled     canceled  merchant                        paid     1      0        EUR 50.00  —          —                                                    m_canceled@example.com  2025-03-14 15:16:00
4 orders
`},
		{[]string{"orders", "show", "cs_m_held"}, `
On hold           dispute,fraud_warning,merchant since 2025-03-14T15:10:00Z (held from ready_to_ship): call the buyer
`},
		{[]string{"orders", "show", "cs_m_held"}, `
Dispute           dp_1 needs_response (fraudulent), EUR 50.00
Fraud warning     issfr_1 made_with_stolen_card (actionable)
`},
		{[]string{"orders", "show", "cs_m_refunded"}, `
Canceled          refunded
Total             EUR 50.00
Refunded          EUR 50.00
Payment           pi_m_refunded
`},
		{[]string{"orders", "show", "cs_m_canceled"}, `
Canceled          merchant: out of stock
`},
		{[]string{"orders", "list", "--status", "on_hold", "--format", "csv"}, `
,2025-03-14T15:12:00Z,"dispute,fraud_warning,merchant",,0.00,needs_response,made_with_stolen_card
`},
		{[]string{"orders", "list", "--status", "shipped", "--format", "csv"}, `
,2025-03-14T15:15:00Z,,,12.50,,
`},
		{[]string{"orders", "list", "--status", "canceled", "--format", "csv"}, `
,refunded,50.00,,
`},
		{[]string{"orders", "export", "--format", "csv", "--status", "on_hold"}, `
,pi_m_held,,"dispute,fraud_warning,merchant",2025-03-14T15:10:00Z,call the buyer,,,0.00,dp_1,needs_response,fraudulent,50.00,issfr_1,made_with_stolen_card,true
`},
		{[]string{"orders", "export", "--format", "csv", "--status", "canceled"}, `
,pi_m_canceled,,,,,merchant,out of stock,0.00,,,,,,,
`},
	} {
		out, err := runCLI(t, dir, tt.args...)
		if err != nil {
			t.Errorf("%s: %v", strings.Join(tt.args, " "), err)
			continue
		}
		if want := strings.TrimPrefix(tt.want, "\n"); !strings.Contains(out, want) {
			t.Errorf("%s: output lacks\n%s\ngot:\n%s", strings.Join(tt.args, " "), want, out)
		}
	}
	out, err := runCLI(t, dir, "orders", "export", "--format", "ndjson", "--status", "on_hold")
	var o fulfillment.Order
	if err != nil || json.Unmarshal([]byte(out), &o) != nil || o.Hold == nil || o.Dispute == nil || o.FraudWarning == nil {
		t.Errorf("export --format ndjson --status on_hold: %v\n%s", err, out)
	}
}
