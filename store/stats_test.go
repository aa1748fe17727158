package store

import (
	"context"
	"fmt"
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
	if len(s.OrdersByStatus) != 0 || s.DeadLetters != 0 || s.OutboxPending != 0 || s.ProcessedEvents != 0 {
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
	if s.OrdersByStatus[fulfillment.StatusReadyToShip] != 2 || s.OrdersByStatus[fulfillment.StatusAwaitingPayment] != 1 ||
		s.ProcessedEvents != 3 || s.OutboxPending != 3 {
		t.Errorf("after three orders: %+v", s)
	}
}
