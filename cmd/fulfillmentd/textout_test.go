package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/store"
)

func TestPrintable(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"Ada Lovelace", "Ada Lovelace"},
		{"Zoë Müller, 東京, ★", "Zoë Müller, 東京, ★"},
		{`C:\path "quoted"`, `C:\path "quoted"`},
		{"UPS\x1b[31mRED\x1b]0;title\x07", `UPS\x1b[31mRED\x1b]0;title\a`},
		{"1Z\nAcknowledged\t2020-01-01 by admin", `1Z\nAcknowledged\t2020-01-01 by admin`},
		{"del\x7f c1\u009b31m", `del\x7f c1\u009b31m`},
		{"bidi \u202egnp.exe", `bidi \u202egnp.exe`},
		{"bad \xff utf-8", `bad \xff utf-8`},
		{"cr\r", `cr\r`},
	}
	for _, tt := range tests {
		if got := printable(tt.in); got != tt.want {
			t.Errorf("printable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := printableLines("{\n  \"a\": \"\u009b\"\n}"); got != "{\n  \"a\": \"\\u009b\"\n}" {
		t.Errorf("printableLines: %q", got)
	}
}

// hostile is text a buyer (through Stripe) or a warehouse could store: a
// colour change, a terminal title, a forged table row, a bidi override.
const hostile = "X\x1b[31mRED\x1b]0;owned\x07\nAcknowledged\t2020-01-01 by admin\u009b\u202e"

// controlFree fails the test if out holds a control or format character
// other than the newlines and tabs the table layout itself writes.
func controlFree(t *testing.T, name, out string) {
	t.Helper()
	for i, r := range out {
		if r != '\n' && !unicode.IsPrint(r) && r != ' ' {
			t.Errorf("%s: raw %U at byte %d:\n%s", name, r, i, out)
			return
		}
	}
	if strings.Contains(out, "\nAcknowledged\t2020") || strings.Contains(out, "\nAcknowledged  2020") {
		t.Errorf("%s: a forged row:\n%s", name, out)
	}
}

// TestTextOutputsEscapeControls: hostile text in every field the CLI
// prints reaches the terminal escaped in text and table outputs, and exact
// in JSON.
func TestTextOutputsEscapeControls(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "fulfillment.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	at := time.Date(2025, 3, 14, 15, 0, 0, 0, time.UTC)
	o := fulfillment.Order{ID: fulfillment.OrderID("cs_hostile"), CheckoutSessionID: "cs_hostile", Status: fulfillment.StatusReadyToShip,
		PaymentStatus: fulfillment.PaymentPaid, Mode: "payment", Currency: "usd", AmountTotal: 100,
		Customer: fulfillment.Customer{Email: hostile + "@example.com", Name: hostile, Phone: hostile},
		Shipping: &fulfillment.Shipping{Name: hostile, Address: fulfillment.Address{Line1: hostile, City: hostile, Country: "US"}},
		LineItems: []fulfillment.LineItem{{ID: "li_h", ProductID: "prod_h", Description: hostile, Quantity: 1, Currency: "usd", AmountTotal: 100,
			CrossSell: true, CrossSellOf: hostile}},
		CreatedAt: at, UpdatedAt: at}
	if _, _, err := db.Record(context.Background(), "evt_hostile", fulfillment.EventSessionCompleted, o); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordDeadLetter(context.Background(), fulfillment.DeadLetter{EventID: "evt_dl_hostile", EventType: "checkout.session.completed",
		Subject: "stripe.events.checkout.session.completed", Payload: []byte(`{"id":"evt_dl_hostile","name":"\u009b31m` + "\x7f" + `"}`),
		Error: hostile, Attempts: 1, FirstFailedAt: at, LastFailedAt: at}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"orders", "list"},
		{"orders", "show", "cs_hostile"},
		{"dlq", "list"},
		{"dlq", "show", "evt_dl_hostile"},
	} {
		out, err := runCLI(t, dir, args...)
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		controlFree(t, strings.Join(args, " "), out)
	}
	out, err := runCLI(t, dir, "orders", "show", "cs_hostile")
	if err != nil || !strings.Contains(out, `X\x1b[31mRED\x1b]0;owned\a\nAcknowledged\t2020-01-01 by admin\u009b\u202e`) {
		t.Errorf("orders show does not show the escaped text: %v\n%s", err, out)
	}

	// Shipments and acknowledgements stored before warehouse input was
	// checked print escaped too.
	var buf strings.Builder
	o.Acknowledgement = &fulfillment.Acknowledgement{By: hostile, At: at}
	o.Shipments = []fulfillment.Shipment{{ID: "shp_h", Carrier: hostile, TrackingNumber: hostile, CreatedBy: hostile, CreatedAt: at,
		Lines: []fulfillment.ShipmentLine{{LineItemID: hostile, Quantity: 1}}}}
	printOrder(&buf, o)
	controlFree(t, "printOrder", buf.String())
	buf.Reset()
	printOrders(&buf, []fulfillment.Order{o})
	controlFree(t, "demo table", buf.String())

	// JSON stays exact.
	out, err = runCLI(t, dir, "orders", "show", "cs_hostile", "--format", "json")
	var got fulfillment.Order
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.Customer.Name != hostile || got.LineItems[0].Description != hostile {
		t.Errorf("orders show --format json changed the text: %v\n%s", err, out)
	}
}
