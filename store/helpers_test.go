package store

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// openTest opens a fresh database file under t.TempDir and closes it at the
// end of the test.
func openTest(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "fulfillmentd.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// at is a test clock reading: distinct per i, with nanoseconds.
func at(i int) time.Time {
	return time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC).Add(time.Duration(i) * time.Millisecond)
}

// items returns n line items of session n-th shape; every third is a cross-sell.
func items(session string, n int) []fulfillment.LineItem {
	out := make([]fulfillment.LineItem, n)
	for i := range out {
		out[i] = fulfillment.LineItem{
			ID:             fmt.Sprintf("li_%s_%03d", session, i),
			ProductID:      fmt.Sprintf("prod_%03d", i),
			PriceID:        fmt.Sprintf("price_%03d", i),
			Description:    fmt.Sprintf("Item %d — « ünïcode » 'quoted'", i),
			Quantity:       int64(i%4 + 1),
			Currency:       "eur",
			AmountSubtotal: int64(1000 + i),
			AmountDiscount: int64(i % 3),
			AmountTax:      int64(i % 7),
			AmountTotal:    int64(1000 + i - i%3 + i%7),
		}
		if i%3 == 2 {
			out[i].CrossSell, out[i].CrossSellOf = true, fmt.Sprintf("prod_%03d", i-1)
		}
	}
	return out
}

// order is a complete order of session in status st/ps, made at clock i.
func order(session string, st fulfillment.Status, ps fulfillment.PaymentStatus, nItems, i int) fulfillment.Order {
	return fulfillment.Order{
		ID:                fulfillment.OrderID(session),
		CheckoutSessionID: session,
		Status:            st,
		PaymentStatus:     ps,
		Mode:              "payment",
		Currency:          "eur",
		AmountSubtotal:    12000,
		AmountTotal:       12950,
		Customer:          fulfillment.Customer{Email: "ada@example.com", Name: "Ada Lovelace", Phone: "+44 20 7946 0958"},
		Shipping: &fulfillment.Shipping{Name: "Ada Lovelace", Address: fulfillment.Address{
			Line1: "12 St James's Square", Line2: "Flat 3", City: "London", State: "", PostalCode: "SW1Y 4JH", Country: "GB",
		}},
		ClientReferenceID: "cart_" + session,
		Metadata:          map[string]string{"channel": "web", "note": `"quoted" & <tagged>`},
		LineItems:         items(session, nItems),
		CreatedAt:         at(i),
		UpdatedAt:         at(i),
	}
}

// sameOrder fails the test when got and want differ, showing the first
// differing line of their JSON.
func sameOrder(t testing.TB, what string, got, want fulfillment.Order) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	gl, wl := strings.Split(string(g), "\n"), strings.Split(string(w), "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var a, b string
		if i < len(gl) {
			a = gl[i]
		}
		if i < len(wl) {
			b = wl[i]
		}
		if a != b {
			t.Fatalf("%s: orders differ at JSON line %d:\n got: %s\nwant: %s", what, i+1, a, b)
		}
	}
	t.Fatalf("%s: orders differ (not in JSON: nil vs empty or time location):\n got: %#v\nwant: %#v", what, got, want)
}

func count(t testing.TB, db *DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.reader.Get(&n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func changeSeq(t testing.TB, db *DB, session string) int64 {
	t.Helper()
	var seq int64
	if err := db.reader.Get(&seq, `SELECT change_seq FROM orders WHERE checkout_session_id = ?`, session); err != nil {
		t.Fatalf("change_seq of %s: %v", session, err)
	}
	return seq
}

func mustRecord(t testing.TB, db *DB, eventID, eventType string, c fulfillment.Order) (fulfillment.Order, fulfillment.Outcome) {
	t.Helper()
	o, out, err := db.Record(context.Background(), eventID, eventType, c)
	if err != nil {
		t.Fatalf("Record %s: %v", eventID, err)
	}
	return o, out
}

// upgradeFrom makes a database of schema version (its first migrations),
// runs the statements on it (the rows an older fulfillmentd wrote), then
// opens it with Open, which applies the rest: what an upgrade does.
func upgradeFrom(t testing.TB, version int, statements ...string) *DB {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fulfillment.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	old, err := sqlx.Open("sqlite3", dsn(path, url.Values{"_txlock": {"immediate"}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, old, ms[:version]); err != nil {
		t.Fatal(err)
	}
	for _, q := range statements {
		if _, err := old.ExecContext(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
