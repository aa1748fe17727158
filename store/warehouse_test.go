package store

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

func acknowledge(by string, at time.Time) func(fulfillment.Order) (fulfillment.Order, bool, error) {
	return func(o fulfillment.Order) (fulfillment.Order, bool, error) { return o.Acknowledge(by, at) }
}

func ship(req fulfillment.ShipmentRequest, by string, at time.Time) func(fulfillment.Order) (fulfillment.Order, bool, error) {
	return func(o fulfillment.Order) (fulfillment.Order, bool, error) {
		next, _, created, err := o.Ship(req, by, at)
		return next, created, err
	}
}

// outboxOf is the outbox rows of one order, oldest first.
func outboxOf(t testing.TB, db *DB, orderID string) []outboxRow {
	t.Helper()
	var rows []outboxRow
	if err := db.reader.Select(&rows, `SELECT change_seq, change_id, order_id, status, payload, created_at
		FROM outbox WHERE order_id = ? ORDER BY change_seq`, orderID); err != nil {
		t.Fatal(err)
	}
	return rows
}

// Every change, whoever makes it, writes exactly one outbox row whose
// payload is the order as read back; idempotent requests write nothing.
func TestChangeOrderWarehouseLifecycle(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	const session = "cs_wh_1"
	created, _ := mustRecord(t, db, "evt_1", fulfillment.EventSessionCompleted,
		order(session, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 3, 0))
	id := created.ID
	lines := created.LineItems // quantities 1, 2, 3

	steps := []struct {
		name       string
		change     func(fulfillment.Order) (fulfillment.Order, bool, error)
		wantStatus fulfillment.Status
		wantWrite  bool
	}{
		{"acknowledge", acknowledge("wms", at(10)), fulfillment.StatusInFulfillment, true},
		{"acknowledge again", acknowledge("other", at(11)), fulfillment.StatusInFulfillment, false},
		{"ship part", ship(fulfillment.ShipmentRequest{Carrier: "UPS", TrackingNumber: "1Z1",
			Lines: []fulfillment.ShipmentLine{{LineItemID: lines[1].ID, Quantity: 2}}}, "wms", at(12)), fulfillment.StatusPartiallyShipped, true},
		{"same parcel again", ship(fulfillment.ShipmentRequest{Carrier: "UPS", TrackingNumber: "1Z1"}, "wms", at(13)), fulfillment.StatusPartiallyShipped, false},
		{"ship the rest", ship(fulfillment.ShipmentRequest{Carrier: "DHL", TrackingNumber: "JD2", TrackingURL: "https://dhl.example/JD2"}, "wms2", at(14)), fulfillment.StatusShipped, true},
	}
	seq := changeSeq(t, db, session)
	rows := 1
	for _, st := range steps {
		got, err := db.ChangeOrder(ctx, session, st.change) // by session id; order id below
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got.Status != st.wantStatus {
			t.Errorf("%s: status %s, want %s", st.name, got.Status, st.wantStatus)
		}
		stored, err := db.Order(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		sameOrder(t, st.name+": stored", stored, got)
		next := changeSeq(t, db, session)
		if (next > seq) != st.wantWrite {
			t.Errorf("%s: change_seq %d → %d, want a new one: %v", st.name, seq, next, st.wantWrite)
		}
		if st.wantWrite {
			rows++
		}
		box := outboxOf(t, db, id)
		if len(box) != rows {
			t.Fatalf("%s: %d outbox rows, want %d", st.name, len(box), rows)
		}
		last := box[len(box)-1]
		want, _ := json.Marshal(stored)
		if last.ChangeSeq != next || last.Status != string(stored.Status) || string(last.Payload) != string(want) || last.ChangeID != ChangeID(id, next) {
			t.Errorf("%s: outbox row %d %s %s\npayload %s\n   want %s", st.name, last.ChangeSeq, last.ChangeID, last.Status, last.Payload, want)
		}
		seq = next
	}

	final, err := db.Order(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if final.Acknowledgement == nil || final.Acknowledgement.By != "wms" || !final.Acknowledgement.At.Equal(at(10)) {
		t.Errorf("acknowledgement %+v", final.Acknowledgement)
	}
	if len(final.Shipments) != 2 || final.Shipments[0].CreatedBy != "wms" || final.Shipments[1].CreatedBy != "wms2" ||
		final.Shipments[1].TrackingURL != "https://dhl.example/JD2" || len(final.Shipments[1].Lines) != 2 {
		t.Errorf("shipments %+v", final.Shipments)
	}
	if len(final.LineItems) != 3 {
		t.Errorf("%d line items", len(final.LineItems))
	}

	// A late payment event keeps every bit of it, and writes no change.
	late, outcome := mustRecord(t, db, "evt_late", fulfillment.EventSessionAsyncPaymentSucceed,
		order(session, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 3, 20))
	if outcome != fulfillment.OutcomeUnchanged {
		t.Errorf("late event outcome %s", outcome)
	}
	sameOrder(t, "after a late event", late, final)
	if n := len(outboxOf(t, db, id)); n != rows {
		t.Errorf("late event wrote an outbox row: %d", n)
	}
}

func TestChangeOrderRefusals(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	mustRecord(t, db, "evt_c", fulfillment.EventSessionAsyncPaymentFailed,
		order("cs_canceled", fulfillment.StatusCanceled, fulfillment.PaymentUnpaid, 2, 0))
	paid, _ := mustRecord(t, db, "evt_p", fulfillment.EventSessionCompleted,
		order("cs_paid", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 2, 1))
	before := count(t, db, `SELECT count(*) FROM outbox`)

	if _, err := db.ChangeOrder(ctx, "cs_nope", acknowledge("wms", at(2))); !errors.Is(err, fulfillment.ErrNotFound) {
		t.Errorf("unknown order: %v", err)
	}
	if _, err := db.ChangeOrder(ctx, "cs_canceled", acknowledge("wms", at(2))); !errors.Is(err, fulfillment.ErrConflict) {
		t.Errorf("canceled: %v", err)
	}
	over := fulfillment.ShipmentRequest{Carrier: "UPS", TrackingNumber: "1", Lines: []fulfillment.ShipmentLine{{LineItemID: paid.LineItems[0].ID, Quantity: 9}}}
	if _, err := db.ChangeOrder(ctx, paid.ID, ship(over, "wms", at(2))); !errors.Is(err, fulfillment.ErrInvalid) {
		t.Errorf("over-shipping: %v", err)
	}
	dropLines := func(o fulfillment.Order) (fulfillment.Order, bool, error) {
		o.LineItems, o.Status = nil, fulfillment.StatusShipped
		return o, true, nil
	}
	if _, err := db.ChangeOrder(ctx, paid.ID, dropLines); err == nil || !strings.Contains(err.Error(), "line items") {
		t.Errorf("a change dropping line items: %v", err)
	}
	if after := count(t, db, `SELECT count(*) FROM outbox`); after != before {
		t.Errorf("refused changes wrote %d outbox rows", after-before)
	}
	if got, _ := db.Order(ctx, paid.ID); got.Status != fulfillment.StatusReadyToShip || len(got.LineItems) != 2 {
		t.Errorf("refused changes changed the order: %s, %d lines", got.Status, len(got.LineItems))
	}
}

func TestOutboxRecordPublishPrune(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	select {
	case <-db.OutboxWritten():
		t.Fatal("signal before any write")
	default:
	}
	a := order("cs_ob_a", fulfillment.StatusAwaitingPayment, fulfillment.PaymentUnpaid, 1, 0)
	mustRecord(t, db, "evt_a1", fulfillment.EventSessionCompleted, a)
	mustRecord(t, db, "evt_a1", fulfillment.EventSessionCompleted, a) // duplicate
	mustRecord(t, db, "evt_a2", fulfillment.EventSessionCompleted, a) // unchanged
	mustRecord(t, db, "evt_b1", fulfillment.EventSessionCompleted, order("cs_ob_b", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 1, 1))
	mustRecord(t, db, "evt_a3", fulfillment.EventSessionAsyncPaymentSucceed, order("cs_ob_a", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 1, 2))
	select {
	case <-db.OutboxWritten():
	default:
		t.Fatal("no signal after writes")
	}

	pending, err := db.PendingChanges(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range pending {
		got = append(got, c.OrderID[:8]+" "+string(c.Status))
		var o fulfillment.Order
		if err := json.Unmarshal(c.Payload, &o); err != nil || o.ID != c.OrderID || o.Status != c.Status || c.ID != ChangeID(c.OrderID, c.Seq) {
			t.Errorf("change %d: payload %s (%v)", c.Seq, c.Payload, err)
		}
	}
	want := []string{
		fulfillment.OrderID("cs_ob_a")[:8] + " awaiting_payment",
		fulfillment.OrderID("cs_ob_b")[:8] + " ready_to_ship",
		fulfillment.OrderID("cs_ob_a")[:8] + " ready_to_ship",
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pending %v, want %v", got, want)
	}
	if page, _ := db.PendingChanges(ctx, 2); len(page) != 2 || page[1].Seq != pending[1].Seq {
		t.Errorf("limit 2: %+v", page)
	}

	if err := db.MarkPublished(ctx, []int64{pending[0].Seq, pending[1].Seq}, at(100)); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkPublished(ctx, []int64{pending[0].Seq}, at(500)); err != nil { // again: keeps the first time
		t.Fatal(err)
	}
	rest, _ := db.PendingChanges(ctx, 10)
	if len(rest) != 1 || rest[0].Seq != pending[2].Seq {
		t.Fatalf("after marking: %+v", rest)
	}
	n, err := db.PruneOutbox(ctx, at(101))
	if err != nil || n != 2 {
		t.Errorf("prune: %d rows, %v; want 2", n, err)
	}
	if c := count(t, db, `SELECT count(*) FROM outbox`); c != 1 {
		t.Errorf("%d rows left, want the unpublished one", c)
	}
}

func TestListOrdersUpdatedSinceAndWarehouseData(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	for i, s := range []string{"cs_us_0", "cs_us_1", "cs_us_2"} {
		mustRecord(t, db, "evt_"+s, fulfillment.EventSessionCompleted, order(s, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 2, i*1000))
	}
	if _, err := db.ChangeOrder(ctx, "cs_us_0", ship(fulfillment.ShipmentRequest{Carrier: "UPS", TrackingNumber: "T0"}, "wms", at(5000))); err != nil {
		t.Fatal(err)
	}
	page, err := db.ListOrders(ctx, fulfillment.ListParams{UpdatedSince: at(1000)})
	if err != nil {
		t.Fatal(err)
	}
	if got := sessionsOf(page.Orders); strings.Join(got, ",") != "cs_us_1,cs_us_2,cs_us_0" {
		t.Fatalf("updated since at(1000): %v", got)
	}
	shipped := page.Orders[2]
	if shipped.Status != fulfillment.StatusShipped || len(shipped.Shipments) != 1 || len(shipped.Shipments[0].Lines) != 2 {
		t.Errorf("shipped order in the page: %s %+v", shipped.Status, shipped.Shipments)
	}
	one, _ := db.Order(ctx, "cs_us_0")
	sameOrder(t, "page vs single read", shipped, one)
	if page.Orders[0].Shipments != nil {
		t.Errorf("unshipped order has shipments %+v", page.Orders[0].Shipments)
	}
	page, _ = db.ListOrders(ctx, fulfillment.ListParams{UpdatedSince: at(1001), Status: fulfillment.StatusReadyToShip})
	if got := sessionsOf(page.Orders); strings.Join(got, ",") != "cs_us_2" {
		t.Errorf("ready_to_ship updated since at(1001): %v", got)
	}
}

func TestOpenReadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f.db")
	if _, err := OpenReadOnly(ctx, path); err == nil {
		t.Fatal("opened a missing file")
	}
	w, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mustRecord(t, w, "evt_1", fulfillment.EventSessionCompleted, order("cs_ro", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 2, 0))

	r, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The writer keeps writing while the reader reads.
	mustRecord(t, w, "evt_2", fulfillment.EventSessionCompleted, order("cs_ro2", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 1, 1))
	page, err := r.ListOrders(ctx, fulfillment.ListParams{})
	if err != nil || len(page.Orders) != 2 {
		t.Fatalf("read-only list: %d orders, %v", len(page.Orders), err)
	}
	if _, err := r.ChangeOrder(ctx, "cs_ro", acknowledge("wms", at(3))); err == nil {
		t.Error("a write through a read-only DB succeeded")
	}
	if _, _, err := r.Record(ctx, "evt_3", fulfillment.EventSessionCompleted, order("cs_ro3", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 1, 1)); err == nil {
		t.Error("Record through a read-only DB succeeded")
	}

	// With serve stopped (no -wal or -shm file left), it reads all the same.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r2, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatalf("read-only open of a closed database: %v", err)
	}
	if page, err := r2.ListOrders(ctx, fulfillment.ListParams{}); err != nil || len(page.Orders) != 2 {
		t.Errorf("read-only list of a closed database: %d orders, %v", len(page.Orders), err)
	}
	_ = r2.Close()
	w2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()

	// A database this build would still have to migrate is refused.
	if _, err := w2.writer.Exec(`DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(ctx, path); err == nil || !strings.Contains(err.Error(), "older") {
		t.Errorf("old schema: %v", err)
	}
}
