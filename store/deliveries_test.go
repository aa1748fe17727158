package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

func endpoints(statuses ...fulfillment.Status) []fulfillment.WebhookEndpoint {
	return []fulfillment.WebhookEndpoint{
		{Name: "all", URL: "http://127.0.0.1:1/a"},
		{Name: "shipping", URL: "http://127.0.0.1:1/b", Statuses: statuses},
	}
}

func byEndpoint(t *testing.T, db *DB, name string) []fulfillment.Delivery {
	t.Helper()
	ds, err := db.Deliveries(context.Background(), DeliveryFilter{Endpoint: name})
	if err != nil {
		t.Fatal(err)
	}
	// oldest first
	for i, j := 0, len(ds)-1; i < j; i, j = i+1, j-1 {
		ds[i], ds[j] = ds[j], ds[i]
	}
	return ds
}

func TestFanOutSupersedeAndTypes(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	// An order from before the endpoints existed: its later changes are updates.
	mustRecord(t, db, "evt_old", fulfillment.EventSessionCompleted, order("cs_fo_old", fulfillment.StatusAwaitingPayment, fulfillment.PaymentUnpaid, 1, 0))
	eps := endpoints(fulfillment.StatusReadyToShip)
	if err := db.InitWebhookCursors(ctx, []string{"all", "shipping", "gone"}); err != nil {
		t.Fatal(err)
	}
	if err := db.InitWebhookCursors(ctx, []string{"all", "shipping"}); err != nil { // "gone" is dropped
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM webhook_cursors`); n != 2 {
		t.Fatalf("%d cursors, want 2", n)
	}
	if res, err := db.FanOut(ctx, eps, at(10), 100); err != nil || res.Changes != 0 {
		t.Fatalf("fan out of nothing new: %d, %v", res.Changes, err)
	}
	mustRecord(t, db, "evt_a1", fulfillment.EventSessionCompleted, order("cs_fo_a", fulfillment.StatusAwaitingPayment, fulfillment.PaymentUnpaid, 1, 1))
	mustRecord(t, db, "evt_old2", fulfillment.EventSessionAsyncPaymentSucceed, order("cs_fo_old", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 1, 2))
	if res, err := db.FanOut(ctx, eps, at(11), 100); err != nil || res.Changes != 2 {
		t.Fatalf("fan out: %d, %v; want 2 changes", res.Changes, err)
	}
	// a's second change supersedes its pending first one for "all".
	mustRecord(t, db, "evt_a2", fulfillment.EventSessionAsyncPaymentSucceed, order("cs_fo_a", fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 1, 3))
	if res, err := db.FanOut(ctx, eps, at(12), 1); err != nil || res.Changes != 1 || res.Superseded["all"] != 1 || res.Superseded["shipping"] != 0 {
		t.Fatalf("fan out: %+v, %v; want 1 change superseding 1 delivery to all", res, err)
	}
	if res, err := db.FanOut(ctx, eps, at(13), 100); err != nil || res.Changes != 0 {
		t.Fatalf("fan out again: %d, %v; want 0", res.Changes, err)
	}

	type row struct {
		order string
		typ   string
		state fulfillment.DeliveryState
	}
	check := func(name string, want []row) {
		t.Helper()
		got := byEndpoint(t, db, name)
		if len(got) != len(want) {
			t.Fatalf("%s: %d deliveries %+v, want %d", name, len(got), got, len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.OrderID != fulfillment.OrderID(w.order) || g.Type != w.typ || g.State != w.state || g.ChangeID != ChangeID(g.OrderID, g.ChangeSeq) {
				t.Errorf("%s delivery %d: %s %s %s %s, want %s %s %s", name, i, g.OrderID, g.ChangeID, g.Type, g.State, w.order, w.typ, w.state)
			}
			var o fulfillment.Order
			if err := json.Unmarshal(g.Payload, &o); err != nil || o.ID != g.OrderID || o.Status != g.Status {
				t.Errorf("%s delivery %d: payload %s: %v", name, i, g.Payload, err)
			}
		}
	}
	check("all", []row{
		{"cs_fo_a", fulfillment.EventOrderCreated, fulfillment.DeliverySuperseded},
		{"cs_fo_old", fulfillment.EventOrderUpdated, fulfillment.DeliveryPending},
		{"cs_fo_a", fulfillment.EventOrderUpdated, fulfillment.DeliveryPending},
	})
	check("shipping", []row{ // ready_to_ship only
		{"cs_fo_old", fulfillment.EventOrderUpdated, fulfillment.DeliveryPending},
		{"cs_fo_a", fulfillment.EventOrderUpdated, fulfillment.DeliveryPending},
	})

	// Due: pending with next_at ≤ now.
	due, err := db.DueDeliveries(ctx, "all", at(12), 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due: %d, %v", len(due), err)
	}
	if due, _ := db.DueDeliveries(ctx, "all", at(10), 10); len(due) != 0 {
		t.Errorf("due before fan-out time: %d", len(due))
	}

	// Attempts: retry later, then failed; delivered.
	d := due[0]
	if err := db.RecordAttempt(ctx, d.ID, fulfillment.DeliveryAttempt{At: at(20), Error: "HTTP 500", Retry: at(20).Add(5 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if due, _ := db.DueDeliveries(ctx, "all", at(21), 10); len(due) != 1 || due[0].ID == d.ID {
		t.Errorf("a retrying delivery is not due before its time: %+v", due)
	}
	if err := db.RecordAttempt(ctx, d.ID, fulfillment.DeliveryAttempt{At: at(30), Error: "HTTP 502"}); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordAttempt(ctx, due[1].ID, fulfillment.DeliveryAttempt{At: at(31), Delivered: true}); err != nil {
		t.Fatal(err)
	}
	failed, _ := db.Deliveries(ctx, DeliveryFilter{State: fulfillment.DeliveryFailed})
	if len(failed) != 1 || failed[0].ID != d.ID || failed[0].Attempts != 2 || failed[0].LastError != "HTTP 502" {
		t.Fatalf("failed: %+v", failed)
	}

	// Retry: the failed one is pending again with a new round; a superseded
	// or delivered one is not retried.
	if _, why, err := db.RetryDelivery(ctx, d.ID, at(40)); err != nil || why != "" {
		t.Fatalf("retry: %q, %v", why, err)
	}
	if due, _ := db.DueDeliveries(ctx, "all", at(40), 10); len(due) != 1 || due[0].ID != d.ID || due[0].Attempts != 0 {
		t.Errorf("retried delivery not due: %+v", due)
	}
	super := byEndpoint(t, db, "all")[0]
	if _, why, err := db.RetryDelivery(ctx, super.ID, at(40)); err != nil || why == "" {
		t.Errorf("retry of a superseded delivery: %q, %v", why, err)
	}
	if _, _, err := db.RetryDelivery(ctx, 9999, at(40)); err == nil {
		t.Error("retry of a missing delivery: no error")
	}

	backlog, err := db.DeliveryBacklogs(ctx)
	if err != nil || len(backlog) != 2 {
		t.Fatalf("backlog: %+v, %v", backlog, err)
	}
	// Prune: the superseded and delivered ones done before the cut.
	if n, err := db.PruneDeliveries(ctx, at(1000)); err != nil || n != 2 {
		t.Errorf("prune deliveries: %d, %v; want 2", n, err)
	}
}

// PruneOutbox keeps the changes an endpoint has not fanned out, even once
// published.
func TestPruneOutboxKeepsChangesNotFannedOut(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	eps := endpoints()
	if err := db.InitWebhookCursors(ctx, []string{"all", "shipping"}); err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{"cs_pr_a", "cs_pr_b", "cs_pr_c"} {
		mustRecord(t, db, "evt_"+s, fulfillment.EventSessionCompleted, order(s, fulfillment.StatusReadyToShip, fulfillment.PaymentPaid, 1, i))
	}
	pending, _ := db.PendingChanges(ctx, 10)
	seqs := []int64{pending[0].Seq, pending[1].Seq, pending[2].Seq}
	if err := db.MarkPublished(ctx, seqs, at(100)); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PruneOutbox(ctx, at(200)); err != nil || n != 0 {
		t.Fatalf("prune before fan-out: %d, %v; want 0", n, err)
	}
	if res, err := db.FanOut(ctx, eps, at(300), 2); err != nil || res.Changes != 2 {
		t.Fatalf("fan out 2: %d, %v", res.Changes, err)
	}
	if n, err := db.PruneOutbox(ctx, at(200)); err != nil || n != 2 {
		t.Fatalf("prune after fanning out 2: %d, %v; want 2", n, err)
	}
	if res, err := db.FanOut(ctx, eps, at(300), 10); err != nil || res.Changes != 1 {
		t.Fatalf("fan out the rest: %d, %v", res.Changes, err)
	}
	if c := count(t, db, `SELECT count(*) FROM deliveries`); c != 6 {
		t.Errorf("%d deliveries, want 3 changes × 2 endpoints", c)
	}
	// No endpoints configured any more: nothing holds pruning back.
	if err := db.InitWebhookCursors(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PruneOutbox(ctx, at(200)); err != nil || n != 1 {
		t.Fatalf("prune without endpoints: %d, %v; want 1", n, err)
	}
}
