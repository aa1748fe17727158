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
