package fulfillment_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// story is one payment story as Stripe tells it: the session completes with
// a payment status, then Stripe sends its events in this order, moving the
// session's payment status before an event when settle is set.
type story struct {
	name    string
	initial string // payment_status at completion
	events  []storyEvent
	status  fulfillment.Status
	payment fulfillment.PaymentStatus
}

type storyEvent struct{ typ, settle string }

var stories = []story{
	{"paid", "paid", []storyEvent{{fulfillment.EventSessionCompleted, ""}},
		fulfillment.StatusReadyToShip, fulfillment.PaymentPaid},
	{"free", "no_payment_required", []storyEvent{{fulfillment.EventSessionCompleted, ""}},
		fulfillment.StatusReadyToShip, fulfillment.PaymentNoPaymentRequired},
	{"delayed success", "unpaid", []storyEvent{{fulfillment.EventSessionCompleted, ""}, {fulfillment.EventSessionAsyncPaymentSucceed, "paid"}},
		fulfillment.StatusReadyToShip, fulfillment.PaymentPaid},
	{"delayed failure", "unpaid", []storyEvent{{fulfillment.EventSessionCompleted, ""}, {fulfillment.EventSessionAsyncPaymentFailed, ""}},
		fulfillment.StatusCanceled, fulfillment.PaymentUnpaid},
	{"pending, never settled", "unpaid", []storyEvent{{fulfillment.EventSessionCompleted, ""}},
		fulfillment.StatusAwaitingPayment, fulfillment.PaymentUnpaid},
}

// deliveries is how Stripe (and JetStream redelivery) repeats events.
var deliveries = []struct {
	name   string
	repeat func(evs []fulfillment.Event) []fulfillment.Event
}{
	{"once", func(evs []fulfillment.Event) []fulfillment.Event { return evs }},
	{"each twice in a row", func(evs []fulfillment.Event) []fulfillment.Event {
		var out []fulfillment.Event
		for _, ev := range evs {
			out = append(out, ev, ev)
		}
		return out
	}},
	{"all again afterwards", func(evs []fulfillment.Event) []fulfillment.Event {
		return append(append([]fulfillment.Event(nil), evs...), evs...)
	}},
}

// wantCalls is the exact number of Stripe requests an order of n lines
// costs. The first event processed decides: one that settles or fails the
// payment needs only the line items (100 a request); a completed event
// that leaves it open reads the session with its first 10 lines embedded,
// then the rest 100 a request.
func wantCalls(n int, first fulfillment.Event) int {
	pages := func(k int) int { return (k + 99) / 100 }
	if first.Type == fulfillment.EventSessionCompleted && !first.Session.PaymentStatus.Settled() {
		return 1 + pages(max(0, n-10))
	}
	return max(1, pages(n))
}

// TestStripeCallsPerOrder runs every payment story, in every event order
// and in Stripe's own timing, with every kind of duplicate delivery, for
// sessions of 1 to 250 lines, through the Processor, stripe-go and the
// emulator over HTTP and a SQLite file. It counts every request the
// emulator served for the session: exactly one for up to 10 lines, at most
// ⌈lines ÷ 100⌉ + 1 above, and Result.Calls says the same.
func TestStripeCallsPerOrder(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 10, 11, 100, 101, 250} {
		t.Run(fmt.Sprintf("%d lines", n), func(t *testing.T) {
			t.Parallel()
			l := newLifecycle(t)
			for _, st := range stories {
				for _, d := range deliveries {
					if n > 11 && d.name != "all again afterwards" {
						continue // paging does not depend on how duplicates come (and 250 lines are slow under -race)
					}
					// "as sent": each event processed when Stripe sends it;
					// a permutation: all sent first, processed in that order
					// against Stripe's final state.
					orders := [][]int{nil}
					for perm := range permutationsOf(len(st.events)) {
						orders = append(orders, perm)
					}
					for _, perm := range orders {
						order := "as sent"
						if perm != nil {
							order = fmt.Sprint(perm)
						}
						runStory(t, l, st, n, perm, d.repeat, fmt.Sprintf("%s, %s, %s", st.name, order, d.name))
					}
				}
			}
		})
	}
}

// runStory plays one story for a new session of n lines: each event
// processed as Stripe sends it (perm nil), or all sent first and processed
// in the order perm gives; then checks the requests and the order.
func runStory(t *testing.T, l *lifecycle, st story, n int, perm []int,
	repeat func([]fulfillment.Event) []fulfillment.Event, name string) {
	t.Helper()
	ctx := context.Background()
	id := fmt.Sprintf("cs_calls_%06d", l.seq.Add(1))
	if err := l.emu.GenerateSession(id, n, st.initial == "paid"); err != nil {
		t.Fatal(err)
	}
	if st.initial == "no_payment_required" {
		if err := l.emu.SetPaymentStatus(id, st.initial); err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	process := func(evs []fulfillment.Event) {
		for _, ev := range repeat(evs) {
			res, err := l.proc.Process(ctx, ev)
			if err != nil {
				t.Fatalf("%s: process %s: %v", name, ev.Type, err)
			}
			calls += res.Calls
		}
	}
	var sent []fulfillment.Event
	var first fulfillment.Event
	for i, se := range st.events {
		if se.settle != "" {
			if err := l.emu.SetPaymentStatus(id, se.settle); err != nil {
				t.Fatal(err)
			}
		}
		ev := l.event(t, fmt.Sprint(i), se.typ, id)
		sent = append(sent, ev)
		if perm == nil {
			if i == 0 {
				first = ev
			}
			process([]fulfillment.Event{ev})
		}
	}
	if perm != nil {
		evs := make([]fulfillment.Event, len(perm))
		for i, j := range perm {
			evs[i] = sent[j]
		}
		first = evs[0]
		process(evs)
	}

	want := wantCalls(n, first)
	if bound := (n+99)/100 + 1; want > bound || n <= 10 && want != 1 {
		t.Fatalf("%s: expectation %d calls is over the target", name, want)
	}
	if got := l.emu.RequestsFor("/v1/checkout/sessions/" + id); got != int64(want) || calls != want {
		t.Errorf("%s: Stripe served %d requests, Result.Calls summed to %d; want %d", name, got, calls, want)
	}

	o, err := l.db.OrderBySession(ctx, id)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if o.Status != st.status || o.PaymentStatus != st.payment {
		t.Errorf("%s: order %s/%s, want %s/%s", name, o.Status, o.PaymentStatus, st.status, st.payment)
	}
	// Every line once, in Stripe's order: the pages join where they should.
	ids := make([]string, len(o.LineItems))
	wantIDs := make([]string, n)
	for i, li := range o.LineItems {
		ids[i] = li.ID
	}
	for i := range n {
		wantIDs[i] = fmt.Sprintf("li_gen_%s_%04d", strings.TrimPrefix(id, "cs_"), i+1)
	}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Errorf("%s: line items %v, want %v", name, ids, wantIDs)
	}
	if n >= 2 && (!o.LineItems[1].CrossSell || o.LineItems[1].CrossSellOf != "prod_camera") {
		t.Errorf("%s: second line %+v, want the cross-sell of prod_camera", name, o.LineItems[1])
	}
}

// TestStripeCallsReconcile covers the events reconcile builds
// ("reconcile:<session>:<payment_status>", queued when an order is
// missing or lagging). They are no Stripe delivery, so what they say about
// the payment decides nothing: Stripe's API does, in one request.
func TestStripeCallsReconcile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLifecycle(t)
	built := func(t *testing.T, id string, claims fulfillment.PaymentStatus) fulfillment.Event {
		ev := l.event(t, "built", fulfillment.EventSessionCompleted, id)
		ev.ID = fulfillment.SynthesizedEventID(id, claims)
		ev.Session.PaymentStatus = claims
		return ev
	}
	tests := []struct {
		name    string
		initial string // the session's payment_status at Stripe
		before  string // "": no order yet; "completed": the completed(unpaid) event was processed
		settle  string // payment_status Stripe moves to before the built event
		claims  fulfillment.PaymentStatus
		calls   int // for the built event
		status  fulfillment.Status
	}{
		{"missing order, session paid", "paid", "", "", fulfillment.PaymentPaid, 1, fulfillment.StatusReadyToShip},
		{"missing order, session unpaid", "unpaid", "", "", fulfillment.PaymentUnpaid, 1, fulfillment.StatusAwaitingPayment},
		{"lost async_payment_succeeded", "unpaid", "completed", "paid", fulfillment.PaymentPaid, 1, fulfillment.StatusReadyToShip},
		{"claims paid, Stripe says unpaid", "unpaid", "", "", fulfillment.PaymentPaid, 1, fulfillment.StatusAwaitingPayment},
		{"claims paid for a recorded unpaid order, Stripe says unpaid", "unpaid", "completed", "", fulfillment.PaymentPaid, 1, fulfillment.StatusAwaitingPayment},
		{"order settled already", "paid", "completed", "", fulfillment.PaymentPaid, 0, fulfillment.StatusReadyToShip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := fmt.Sprintf("cs_recon_%06d", l.seq.Add(1))
			if err := l.emu.GenerateSession(id, 3, tt.initial == "paid"); err != nil {
				t.Fatal(err)
			}
			if tt.before == "completed" {
				if _, err := l.proc.Process(ctx, l.event(t, "completed", fulfillment.EventSessionCompleted, id)); err != nil {
					t.Fatal(err)
				}
			}
			if tt.settle != "" {
				if err := l.emu.SetPaymentStatus(id, tt.settle); err != nil {
					t.Fatal(err)
				}
			}
			before := l.emu.RequestsFor("/v1/checkout/sessions/" + id)
			res, err := l.proc.Process(ctx, built(t, id, tt.claims))
			if err != nil {
				t.Fatal(err)
			}
			served := l.emu.RequestsFor("/v1/checkout/sessions/"+id) - before
			if res.Calls != tt.calls || served != int64(tt.calls) {
				t.Errorf("built event: %d calls, Stripe served %d; want %d", res.Calls, served, tt.calls)
			}
			if res.Order.Status != tt.status || len(res.Order.LineItems) != 3 {
				t.Errorf("order %s with %d lines, want %s with 3", res.Order.Status, len(res.Order.LineItems), tt.status)
			}
		})
	}
}
