package store

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

func TestStats(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	s, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.OrdersByStatus) != 0 || s.DeadLetters != 0 || s.OutboxPending != 0 || s.ReplaysPending != 0 {
		t.Fatalf("empty database: %+v", s)
	}
	for i, st := range []fulfillment.Status{fulfillment.StatusReadyToShip, fulfillment.StatusReadyToShip, fulfillment.StatusAwaitingPayment} {
		ps := fulfillment.PaymentPaid
		if st == fulfillment.StatusAwaitingPayment {
			ps = fulfillment.PaymentUnpaid
		}
		o := order(fmt.Sprintf("cs_stats_%d", i), st, ps, 2, i)
		if _, _, err := db.Record(ctx, o.CheckoutSessionID+"_evt", "checkout.session.completed", o); err != nil {
			t.Fatal(err)
		}
	}
	if s, err = db.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[fulfillment.Status]int64{fulfillment.StatusReadyToShip: 2, fulfillment.StatusAwaitingPayment: 1}
	if !maps.Equal(s.OrdersByStatus, want) || s.OutboxPending != 3 {
		t.Errorf("after three orders: %+v; want orders %v, 3 pending in the outbox", s, want)
	}
	sameCounts(t, db, s)

	// The delayed payment settles: the counts follow the status change.
	paid := order("cs_stats_2", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 2, 9)
	if _, outcome, err := db.Record(ctx, "cs_stats_2_paid", fulfillment.EventSessionAsyncPaymentSucceed, paid); err != nil || outcome != fulfillment.OutcomeUpdated {
		t.Fatalf("payment settled: %s, %v", outcome, err)
	}
	if s, err = db.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	want = map[fulfillment.Status]int64{fulfillment.StatusReadyToShip: 3, fulfillment.StatusAwaitingPayment: 0}
	if !maps.Equal(s.OrdersByStatus, want) {
		t.Errorf("after the payment settled: %v, want %v", s.OrdersByStatus, want)
	}
	sameCounts(t, db, s)
}

// sameCounts checks the maintained counts against a count of the table.
func sameCounts(t *testing.T, db *DB, s Stats) {
	t.Helper()
	var rows []struct {
		Status string `db:"status"`
		N      int64  `db:"n"`
	}
	if err := db.reader.Select(&rows, `SELECT status, COUNT(*) AS n FROM orders GROUP BY status`); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if got := s.OrdersByStatus[fulfillment.Status(r.Status)]; got != r.N {
			t.Errorf("orders %s: gauge %d, table %d", r.Status, got, r.N)
		}
	}
}

// TestUpgradeTo0005: a database of version 4 gets its orders counted per
// status, and a retry that waited at the upgrade still forgets its dead
// letter when published.
func TestUpgradeTo0005(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := upgradeFrom(t, 4,
		`INSERT INTO orders (id, checkout_session_id, status, payment_status, created_at, updated_at, change_seq) VALUES
			('ord_1', 'cs_1', 'ready_to_ship', 'paid', 'x', 'x', 1), ('ord_2', 'cs_2', 'ready_to_ship', 'paid', 'x', 'x', 2),
			('ord_3', 'cs_3', 'awaiting_payment', 'unpaid', 'x', 'x', 3)`,
		`INSERT INTO dead_letters (event_id, event_type, payload, attempts, first_failed_at, last_failed_at) VALUES
			('evt_waiting', 'checkout.session.completed', X'7b7d', 1, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z'), ('evt_other', 'checkout.session.completed', X'7b7d', 1, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')`,
		`INSERT INTO replays (event_id, event_type, payload, reason, requested_at) VALUES ('evt_waiting', 'checkout.session.completed', X'7b7d', 'dlq retry', 'x')`,
	)
	s, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[fulfillment.Status]int64{fulfillment.StatusReadyToShip: 2, fulfillment.StatusAwaitingPayment: 1}
	if !maps.Equal(s.OrdersByStatus, want) || s.DeadLetters != 2 || s.ReplaysPending != 1 {
		t.Errorf("after the upgrade: %+v; want orders %v, 2 dead letters, 1 replay pending", s, want)
	}
	var id int64
	if err := db.reader.Get(&id, `SELECT id FROM replays WHERE event_id = 'evt_waiting'`); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkReplayed(ctx, id, at(1)); err != nil {
		t.Fatal(err)
	}
	dls, err := db.DeadLetters(ctx)
	if err != nil || len(dls) != 1 || dls[0].EventID != "evt_other" {
		t.Errorf("dead letters after the waiting retry was published: %+v, %v; want evt_other only", dls, err)
	}
}
