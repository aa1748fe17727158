package store

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// TestMoneyFactsRoundTrip: the payment ids, refunds, hold, dispute, fraud
// warning and release marks survive the database, an order is found by
// its payment, and each change reaches the outbox with its JSON.
func TestMoneyFactsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	o := order("cs_money", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 2, 0)
	o.PaymentIntentID = "pi_money"
	created, _ := mustRecord(t, db, "evt_1", fulfillment.EventSessionCompleted, o)

	for _, p := range []fulfillment.Payment{{PaymentIntent: "pi_money"}, {PaymentIntent: "pi_nope", Invoice: ""}} {
		got, err := db.OrderByPayment(ctx, p)
		switch {
		case p.PaymentIntent == "pi_money" && (err != nil || got.ID != created.ID):
			t.Fatalf("by %v: %v %s", p, err, got.ID)
		case p.PaymentIntent != "pi_money" && !errors.Is(err, fulfillment.ErrNotFound):
			t.Fatalf("by %v: %v, want not found", p, err)
		}
	}

	facts := fulfillment.Order{ID: o.ID, CheckoutSessionID: o.CheckoutSessionID, UpdatedAt: at(1),
		AmountRefunded: 500,
		Dispute:        &fulfillment.Dispute{ID: "dp_1", Status: "needs_response", Reason: "fraudulent", Amount: 12950, Charge: "ch_1", Created: at(1)},
		FraudWarning:   &fulfillment.FraudWarning{ID: "issfr_1", FraudType: "misc", Actionable: true, Charge: "ch_1", Created: at(1)},
	}
	held, outcome := mustRecord(t, db, "evt_2", fulfillment.EventChargeRefunded, facts)
	if outcome != fulfillment.OutcomeUpdated || held.Status != fulfillment.StatusOnHold || held.Hold == nil || len(held.Hold.Reasons) != 3 {
		t.Fatalf("%s %s %+v", outcome, held.Status, held.Hold)
	}
	read, err := db.Order(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	held.Dispute.Payment, held.FraudWarning.Payment = read.Dispute.Payment, read.FraudWarning.Payment
	sameOrder(t, "held", read, held)

	released, err := db.ChangeOrder(ctx, o.ID, func(o fulfillment.Order) (fulfillment.Order, bool, error) {
		return o.ReleaseByMerchant("alice", at(2))
	})
	if err != nil || released.Status != fulfillment.StatusReadyToShip {
		t.Fatalf("release: %v %s", err, released.Status)
	}
	read, err = db.Order(ctx, o.ID)
	if err != nil || read.Released != (fulfillment.Release{AmountRefunded: 500, DisputeID: "dp_1", FraudWarningID: "issfr_1"}) || read.Status != fulfillment.StatusReadyToShip {
		t.Fatalf("read after release: %v %+v %s", err, read.Released, read.Status)
	}
	// The same facts again hold nothing.
	if _, outcome := mustRecord(t, db, "evt_3", fulfillment.EventDisputeUpdated, facts); outcome != fulfillment.OutcomeUnchanged {
		t.Fatalf("same facts after release: %s", outcome)
	}
	canceled, err := db.ChangeOrder(ctx, o.ID, func(o fulfillment.Order) (fulfillment.Order, bool, error) {
		return o.CancelByMerchant("buyer asked", "alice", at(3))
	})
	if err != nil || canceled.CancelReason != fulfillment.CancelMerchant || canceled.CancelNote != "buyer asked" {
		t.Fatalf("cancel: %v %+v", err, canceled)
	}

	changes, err := db.PendingChanges(ctx, 10)
	if err != nil || len(changes) != 4 {
		t.Fatalf("%v: %d changes, want 4 (created, held, released, canceled)", err, len(changes))
	}
	var last struct {
		Status       string              `json:"status"`
		CancelReason *string             `json:"cancel_reason"`
		Hold         json.RawMessage     `json:"hold"`
		Dispute      struct{ ID string } `json:"dispute"`
		Refunded     int64               `json:"amount_refunded"`
		PI           *string             `json:"payment_intent_id"`
		Invoice      *string             `json:"invoice_id"`
	}
	if err := json.Unmarshal(changes[3].Payload, &last); err != nil {
		t.Fatal(err)
	}
	if last.Status != "canceled" || last.CancelReason == nil || *last.CancelReason != "merchant" || string(last.Hold) != "null" ||
		last.Dispute.ID != "dp_1" || last.Refunded != 500 || last.PI == nil || *last.PI != "pi_money" || last.Invoice != nil {
		t.Fatalf("outbox payload %s", changes[3].Payload)
	}
}

// TestOnHoldListed: GET /v1/orders?status=on_hold finds held orders.
func TestOnHoldListed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openTest(t)
	o := order("cs_h", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 1, 0)
	mustRecord(t, db, "evt_1", fulfillment.EventSessionCompleted, o)
	if _, err := db.ChangeOrder(ctx, o.ID, func(o fulfillment.Order) (fulfillment.Order, bool, error) {
		return o.HoldByMerchant("", "alice", at(1))
	}); err != nil {
		t.Fatal(err)
	}
	page, err := db.ListOrders(ctx, fulfillment.ListParams{Status: fulfillment.StatusOnHold, Limit: 10})
	if err != nil || len(page.Orders) != 1 {
		t.Fatalf("%v, %d on hold", err, len(page.Orders))
	}
}

// TestUpgradeTo0007: orders canceled before 0007 were canceled by a failed
// payment, and say so; the others have no cancel reason and nothing
// refunded.
func TestUpgradeTo0007(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := upgradeFrom(t, 6, `INSERT INTO orders (id, checkout_session_id, status, payment_status, created_at, updated_at, change_seq) VALUES
			('ord_1', 'cs_1', 'canceled', 'unpaid', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', 1),
			('ord_2', 'cs_2', 'ready_to_ship', 'paid', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', 2)`)
	for id, want := range map[string]fulfillment.CancelReason{"cs_1": fulfillment.CancelPaymentFailed, "cs_2": ""} {
		o, err := db.Order(ctx, id)
		if err != nil || o.CancelReason != want || o.AmountRefunded != 0 || o.Hold != nil || o.PaymentIntentID != "" {
			t.Errorf("%s: %v cancel_reason %q, want %q", id, err, o.CancelReason, want)
		}
	}
}
