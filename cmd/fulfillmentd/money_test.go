package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/store"
)

// moneyRig is the Processor as serve wires it: the stripe-go client against
// the emulator, and a SQLite file.
type moneyRig struct {
	emu  *stripeemu.Emulator
	db   *store.DB
	proc *fulfillment.Processor
}

func newMoneyRig(t *testing.T) *moneyRig {
	t.Helper()
	emu, srv := newEmulator(t)
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "fulfillment.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	client := stripeapi.New(stripeapi.Config{SecretKey: "sk_test_money", BaseURL: srv.URL, MaxRPS: 1000})
	return &moneyRig{emu: emu, db: db, proc: &fulfillment.Processor{Stripe: client, Payments: client, Orders: db}}
}

// deliver decodes an event body as the worker does and processes it.
func (r *moneyRig) deliver(t *testing.T, body []byte) fulfillment.Result {
	t.Helper()
	ev, err := stripeevent.Decode(body)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	res, err := r.proc.Process(context.Background(), ev)
	if err != nil {
		t.Fatalf("process %s (%s): %v", ev.ID, ev.Type, err)
	}
	return res
}

// moneyStep is one change on Stripe's side and the event it makes.
type moneyStep struct {
	name string
	// do changes Stripe's state and returns the event Stripe sends about it.
	do func(t *testing.T, emu *stripeemu.Emulator, session, eventID string, ids *moneyIDs) []byte
}

// moneyIDs are the objects a scenario's steps made.
type moneyIDs struct{ charge, dispute, warning string }

// fatal ends the test on an error, else returns the value: fatal{t}.id(emu.Refund(…)).
type fatal struct{ t *testing.T }

func (f fatal) id(s string, err error) string {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f fatal) body(b []byte, err error) []byte {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

var (
	stepCompleted = moneyStep{"completed", func(t *testing.T, emu *stripeemu.Emulator, cs, id string, _ *moneyIDs) []byte {
		return fatal{t}.body(emu.Event(id, fulfillment.EventSessionCompleted, cs, time.Time{}))
	}}
	stepRefund = func(amount int64) moneyStep {
		return moneyStep{fmt.Sprintf("refund %d", amount), func(t *testing.T, emu *stripeemu.Emulator, cs, id string, ids *moneyIDs) []byte {
			ids.charge = fatal{t}.id(emu.Refund(cs, amount))
			return fatal{t}.body(emu.ObjectEvent(id, fulfillment.EventChargeRefunded, ids.charge, time.Time{}))
		}}
	}
	stepDispute = moneyStep{"dispute created", func(t *testing.T, emu *stripeemu.Emulator, cs, id string, ids *moneyIDs) []byte {
		ids.dispute = fatal{t}.id(emu.OpenDispute(cs, "fraudulent", false))
		return fatal{t}.body(emu.ObjectEvent(id, fulfillment.EventDisputeCreated, ids.dispute, time.Time{}))
	}}
	stepDisputeClosed = func(status string) moneyStep {
		return moneyStep{"dispute " + status, func(t *testing.T, emu *stripeemu.Emulator, _, id string, ids *moneyIDs) []byte {
			if err := emu.SetDisputeStatus(ids.dispute, status); err != nil {
				t.Fatal(err)
			}
			return fatal{t}.body(emu.ObjectEvent(id, fulfillment.EventDisputeClosed, ids.dispute, time.Time{}))
		}}
	}
	stepWarning = moneyStep{"fraud warning", func(t *testing.T, emu *stripeemu.Emulator, cs, id string, ids *moneyIDs) []byte {
		ids.warning = fatal{t}.id(emu.WarnFraud(cs, "made_with_stolen_card", true))
		return fatal{t}.body(emu.ObjectEvent(id, fulfillment.EventEarlyFraudWarningCreated, ids.warning, time.Time{}))
	}}
)

// moneyScenarios are Stripe histories of one paid session and the order
// each must end in, whatever the deliveries.
var moneyScenarios = []struct {
	name    string
	steps   []moneyStep
	want    fulfillment.Status
	cancel  fulfillment.CancelReason
	reasons []fulfillment.HoldReason
}{
	{"partly refunded, dispute won, fraud warning",
		[]moneyStep{stepCompleted, stepRefund(300), stepDispute, stepDisputeClosed("won"), stepWarning},
		fulfillment.StatusOnHold, "", []fulfillment.HoldReason{fulfillment.HoldRefundPartial, fulfillment.HoldFraudWarning}},
	{"partly then fully refunded, disputed",
		[]moneyStep{stepCompleted, stepRefund(300), stepDispute, stepRefund(0)},
		fulfillment.StatusCanceled, fulfillment.CancelRefunded, nil},
	{"dispute lost, fraud warning",
		[]moneyStep{stepCompleted, stepDispute, stepDisputeClosed("lost"), stepWarning},
		fulfillment.StatusCanceled, fulfillment.CancelDisputeLost, nil},
	{"dispute open",
		[]moneyStep{stepCompleted, stepDispute},
		fulfillment.StatusOnHold, "", []fulfillment.HoldReason{fulfillment.HoldDispute}},
}

// play makes a paid session and runs a scenario's steps on Stripe's side,
// returning the events in the order Stripe sent them.
func (r *moneyRig) play(t *testing.T, session string, steps []moneyStep) [][]byte {
	t.Helper()
	if err := r.emu.GenerateSession(session, 2, true); err != nil {
		t.Fatal(err)
	}
	var ids moneyIDs
	bodies := make([][]byte, len(steps))
	for i, s := range steps {
		bodies[i] = s.do(t, r.emu, session, fmt.Sprintf("evt_%s_%d", strings.TrimPrefix(session, "cs_"), i), &ids)
	}
	return bodies
}

// TestMoneyDeliveriesInEveryOrder: for each scenario, every ordering of its
// events, delivered after Stripe's state settled, through the stripe-go
// client against the emulator and a SQLite file, ends in one and the same
// order; a merchant's release then stands through every event delivered
// again; and all of them at once, on several goroutines, end the same way.
func TestMoneyDeliveriesInEveryOrder(t *testing.T) {
	t.Parallel()
	for si, sc := range moneyScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			r := newMoneyRig(t)
			ctx := context.Background()
			var first string
			n := 0
			permuteIndexes(len(sc.steps), func(order []int) {
				n++
				session := fmt.Sprintf("cs_perm_%d_%d", si, n)
				bodies := r.play(t, session, sc.steps)
				for _, i := range order {
					r.deliver(t, bodies[i])
				}
				o, err := r.db.OrderBySession(ctx, session)
				if err != nil {
					t.Fatal(err)
				}
				if o.Status != sc.want || o.CancelReason != sc.cancel || !slices.Equal(reasonsOf(o), sc.reasons) {
					t.Fatalf("order %v: %s %q %v, want %s %q %v", order, o.Status, o.CancelReason, reasonsOf(o), sc.want, sc.cancel, sc.reasons)
				}
				if got := comparable(t, o); first == "" {
					first = got
				} else if got != first {
					t.Fatalf("order %v:\n%s\nfirst ordering:\n%s", order, got, first)
				}
				if o.Status != fulfillment.StatusOnHold {
					return
				}
				// A release stands: the same facts again hold nothing.
				if _, err := r.db.ChangeOrder(ctx, o.ID, func(o fulfillment.Order) (fulfillment.Order, bool, error) {
					return o.ReleaseByMerchant("alice", time.Now())
				}); err != nil {
					t.Fatal(err)
				}
				for i := len(bodies) - 1; i >= 0; i-- {
					r.deliver(t, bodies[i])
				}
				if o, _ = r.db.OrderBySession(ctx, session); o.Status != fulfillment.StatusReadyToShip || o.Hold != nil {
					t.Fatalf("order %v after release and redelivery: %s %+v", order, o.Status, o.Hold)
				}
			})

			session := fmt.Sprintf("cs_concurrent_%d", si)
			bodies := r.play(t, session, sc.steps)
			var wg sync.WaitGroup
			for range 3 {
				for _, b := range bodies {
					wg.Go(func() {
						ev, err := stripeevent.Decode(b)
						if err == nil {
							_, err = r.proc.Process(ctx, ev)
						}
						if err != nil {
							t.Error(err)
						}
					})
				}
			}
			wg.Wait()
			o, err := r.db.OrderBySession(ctx, session)
			if err != nil {
				t.Fatal(err)
			}
			if got := comparable(t, o); got != first {
				t.Fatalf("all at once:\n%s\nsequential:\n%s", got, first)
			}
		})
	}
}

// TestMoneyEventWithoutSession: a refund of a charge no Checkout Session
// made is acknowledged, counted and makes nothing.
func TestMoneyEventWithoutSession(t *testing.T) {
	t.Parallel()
	r := newMoneyRig(t)
	charge := fatal{t}.id(r.emu.AddCharge("pi_lonely", 2500))
	body := fatal{t}.body(r.emu.ObjectEvent("evt_lonely", fulfillment.EventChargeRefunded, charge, time.Time{}))
	if res := r.deliver(t, body); res.Outcome != fulfillment.OutcomeNoSession {
		t.Fatalf("outcome %s, want no_session", res.Outcome)
	}
	page, err := r.db.ListOrders(context.Background(), fulfillment.ListParams{Limit: 10})
	if err != nil || len(page.Orders) != 0 {
		t.Fatalf("%v: %d orders", err, len(page.Orders))
	}
}

func reasonsOf(o fulfillment.Order) []fulfillment.HoldReason {
	if o.Hold == nil {
		return nil
	}
	return o.Hold.Reasons
}

// comparable is the order's JSON without what differs between sessions
// and runs: ids, times and the Stripe object ids.
func comparable(t *testing.T, o fulfillment.Order) string {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "checkout_session_id", "created_at", "updated_at", "payment_intent_id", "line_items", "client_reference_id", "metadata", "customer"} {
		delete(m, k)
	}
	if h, ok := m["hold"].(map[string]any); ok {
		delete(h, "since")
	}
	for _, k := range []string{"dispute", "fraud_warning"} {
		if d, ok := m[k].(map[string]any); ok {
			delete(d, "id")
		}
	}
	out, _ := json.Marshal(m)
	return string(out)
}

// permuteIndexes calls f with every ordering of 0..n-1.
func permuteIndexes(n int, f func([]int)) {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i
	}
	var rec func(int)
	rec = func(k int) {
		if k == n {
			f(slices.Clone(xs))
			return
		}
		for i := k; i < n; i++ {
			xs[k], xs[i] = xs[i], xs[k]
			rec(k + 1)
			xs[k], xs[i] = xs[i], xs[k]
		}
	}
	rec(0)
}

// TestMoneyEndToEnd drives run: a refund before shipment cancels the order
// and the warehouse's shipment is refused; a dispute holds an order, its
// acknowledgement is refused, and winning it returns the order to
// ready_to_ship; each change is in the feed.
func TestMoneyEndToEnd(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	svc := startService(t, serviceEnv(t, stripeSrv.URL))
	svc.token = "e2e-token-0123456789abcdef"
	send := func(body []byte) {
		t.Helper()
		if code := svc.deliver(t, body, stripeevent.Sign("whsec_new_e2e", time.Now(), body)); code != http.StatusOK {
			t.Fatalf("delivery: HTTP %d", code)
		}
	}
	for _, cs := range []string{"cs_e2e_refund", "cs_e2e_dispute"} {
		if err := emu.GenerateSession(cs, 2, true); err != nil {
			t.Fatal(err)
		}
		send(fatal{t}.body(emu.Event("evt_"+cs, fulfillment.EventSessionCompleted, cs, time.Time{})))
		waitOrder(t, svc, cs, fulfillment.StatusReadyToShip)
	}

	charge := fatal{t}.id(emu.Refund("cs_e2e_refund", 0))
	send(fatal{t}.body(emu.ObjectEvent("evt_refund", fulfillment.EventChargeRefunded, charge, time.Time{})))
	o := waitOrder(t, svc, "cs_e2e_refund", fulfillment.StatusCanceled)
	if o.CancelReason != fulfillment.CancelRefunded || o.AmountRefunded != o.AmountTotal || o.AmountRefunded == 0 {
		t.Fatalf("refunded order: cancel_reason %q, refunded %d of %d", o.CancelReason, o.AmountRefunded, o.AmountTotal)
	}
	if code, body := svc.request(t, http.MethodPost, "/v1/orders/"+o.ID+"/shipments", `{"carrier":"ups","tracking_number":"1Z999"}`); code != http.StatusConflict {
		t.Fatalf("shipment of a refunded order: HTTP %d %s", code, body)
	}

	dispute := fatal{t}.id(emu.OpenDispute("cs_e2e_dispute", "product_not_received", false))
	send(fatal{t}.body(emu.ObjectEvent("evt_dispute", fulfillment.EventDisputeCreated, dispute, time.Time{})))
	o = waitOrder(t, svc, "cs_e2e_dispute", fulfillment.StatusOnHold)
	if o.Hold == nil || !slices.Equal(o.Hold.Reasons, []fulfillment.HoldReason{fulfillment.HoldDispute}) || o.Hold.PreviousStatus != fulfillment.StatusReadyToShip || o.Dispute == nil || o.Dispute.ID != dispute {
		t.Fatalf("disputed order: hold %+v dispute %+v", o.Hold, o.Dispute)
	}
	if code, body := svc.request(t, http.MethodPost, "/v1/orders/"+o.ID+"/acknowledge", ""); code != http.StatusConflict {
		t.Fatalf("acknowledge of a held order: HTTP %d %s", code, body)
	}
	var held orderList
	if code := svc.get(t, "/v1/orders?status=on_hold", &held); code != http.StatusOK || len(held.Orders) != 1 || held.Orders[0].ID != o.ID {
		t.Fatalf("?status=on_hold: HTTP %d, %+v", code, held)
	}
	if err := emu.SetDisputeStatus(dispute, "won"); err != nil {
		t.Fatal(err)
	}
	send(fatal{t}.body(emu.ObjectEvent("evt_dispute_won", fulfillment.EventDisputeClosed, dispute, time.Time{})))
	o = waitOrder(t, svc, "cs_e2e_dispute", fulfillment.StatusReadyToShip)
	if o.Hold != nil || o.Dispute == nil || o.Dispute.Status != "won" {
		t.Fatalf("dispute won: hold %+v dispute %+v", o.Hold, o.Dispute)
	}
	if code, body := svc.request(t, http.MethodPost, "/v1/orders/"+o.ID+"/acknowledge", ""); code != http.StatusOK {
		t.Fatalf("acknowledge after the dispute was won: HTTP %d %s", code, body)
	}
}
