package fulfillment

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"
)

// buildEvent is the envelope of an event about object: the part of
// stripeevent.Build (which the domain cannot import) reconcile relies on.
func buildEvent(id, typ string, object json.RawMessage, created time.Time) ([]byte, error) {
	return json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "created": created.Unix(),
		"data": map[string]json.RawMessage{"object": object}})
}

// history is a StripeHistory over fixed sessions and events; it remembers
// the since it was asked for.
type history struct {
	sessions    []Session
	events      []Event
	money       []Event
	eventsSince time.Time
	moneySince  time.Time
}

func (h *history) CompletedSessions(_ context.Context, since time.Time, fn func(Session, json.RawMessage) error) error {
	for _, s := range h.sessions {
		if s.Created.Before(since) {
			continue
		}
		raw, _ := json.Marshal(map[string]any{"id": s.ID, "object": "checkout.session", "payment_status": s.PaymentStatus, "livemode": false})
		if err := fn(s, raw); err != nil {
			return err
		}
	}
	return nil
}

func (h *history) CheckoutEvents(_ context.Context, since time.Time, fn func(Event, json.RawMessage) error) error {
	h.eventsSince = since
	for _, ev := range h.events {
		if ev.Created.Before(since) {
			continue
		}
		if err := fn(ev, json.RawMessage(fmt.Sprintf(`{"id":%q}`, ev.ID))); err != nil {
			return err
		}
	}
	return nil
}

func (h *history) MoneyEvents(_ context.Context, since time.Time, fn func(Event, json.RawMessage) error) error {
	h.moneySince = since
	for _, ev := range h.money {
		if ev.Created.Before(since) {
			continue
		}
		if err := fn(ev, json.RawMessage(fmt.Sprintf(`{"id":%q}`, ev.ID))); err != nil {
			return err
		}
	}
	return nil
}

// replayStore is memStore plus dead letters and a replay queue.
type replayStore struct {
	*memStore
	dead      map[string]bool
	pending   map[string]Replay
	published map[string][]Replay
}

func (s *replayStore) DeadLetter(_ context.Context, id string) (DeadLetter, error) {
	if retriable, ok := s.dead[id]; ok {
		dl := DeadLetter{EventID: id}
		if retriable {
			dl.Signatures.Stripe = "t=1,v1=00"
		}
		return dl, nil
	}
	return DeadLetter{}, ErrNotFound
}

func (s *replayStore) EnqueueReplay(_ context.Context, rp Replay) (Replay, bool, error) {
	if p, ok := s.pending[rp.EventID]; ok {
		return p, false, nil
	}
	s.pending[rp.EventID] = rp
	return rp, true, nil
}

func (s *replayStore) Replays(_ context.Context, id string) ([]Replay, error) {
	if p, ok := s.pending[id]; ok {
		return []Replay{p}, nil
	}
	return s.published[id], nil
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	sess := func(id string, ps PaymentStatus) Session {
		return Session{ID: id, Status: "complete", PaymentStatus: ps, Created: ago(time.Hour)}
	}
	ev := func(id, typ, session string) Event {
		return Event{ID: id, Type: typ, Created: ago(30 * time.Minute), Session: Session{ID: session}}
	}
	h := &history{
		sessions: []Session{
			sess("cs_in_sync", PaymentPaid),
			sess("cs_lost_event", PaymentPaid),       // event on Stripe, never processed
			sess("cs_no_event", PaymentPaid),         // no event at all: built from the session
			sess("cs_settled", PaymentPaid),          // awaiting_payment; async_payment_succeeded on Stripe
			sess("cs_settled_no_event", PaymentPaid), // awaiting_payment, paid, no event
			sess("cs_failed", PaymentUnpaid),         // awaiting_payment; async_payment_failed on Stripe
			sess("cs_still_waiting", PaymentUnpaid),  // awaiting_payment, nothing happened: fine
			sess("cs_dead", PaymentPaid),             // its event is a dead letter: dlq's business
			sess("cs_dead_unsigned", PaymentPaid),    // a dead letter a retry cannot help: queued from the API
			{ID: "cs_too_old", PaymentStatus: PaymentPaid, Created: ago(100 * time.Hour)},
		},
		events: []Event{
			ev("evt_in_sync", EventSessionCompleted, "cs_in_sync"),
			ev("evt_lost", EventSessionCompleted, "cs_lost_event"),
			ev("evt_settled_completed", EventSessionCompleted, "cs_settled"),
			ev("evt_settled", EventSessionAsyncPaymentSucceed, "cs_settled"),
			ev("evt_failed", EventSessionAsyncPaymentFailed, "cs_failed"),
			ev("evt_dead", EventSessionCompleted, "cs_dead"),
			ev("evt_dead_unsigned", EventSessionCompleted, "cs_dead_unsigned"),
			ev("evt_expired", "checkout.session.expired", "cs_lost_event"),
		},
	}
	h.events[3].Created = ago(10 * time.Minute)
	orders := &memStore{orders: map[string]Order{}, events: map[string]bool{}}
	for id, st := range map[string]Status{
		"cs_in_sync": StatusReadyToShip, "cs_settled": StatusAwaitingPayment, "cs_settled_no_event": StatusAwaitingPayment,
		"cs_failed": StatusAwaitingPayment, "cs_still_waiting": StatusAwaitingPayment,
	} {
		orders.orders[id] = Order{ID: OrderID(id), CheckoutSessionID: id, Status: st}
	}
	// Held by the merchant while awaiting payment: lagging all the same.
	held := orders.orders["cs_settled_no_event"]
	held.Status, held.Hold = StatusOnHold, &Hold{Reasons: []HoldReason{HoldMerchant}, PreviousStatus: StatusAwaitingPayment}
	orders.orders["cs_settled_no_event"] = held
	orders.events["evt_in_sync"] = true
	orders.events["evt_settled_completed"] = true
	store := &replayStore{memStore: orders, dead: map[string]bool{"evt_dead": true, "evt_dead_unsigned": false}, pending: map[string]Replay{},
		published: map[string][]Replay{}}

	var found []Finding
	progress := 0
	r := &Reconciler{Stripe: h, Store: store, Now: func() time.Time { return now }, BuildEvent: buildEvent,
		Found: func(f Finding) { found = append(found, f) }, Progress: func(ReconcileSummary) { progress++ }}

	dry, err := r.Run(context.Background(), ago(72*time.Hour), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(store.pending) != 0 {
		t.Fatalf("dry run queued %d events", len(store.pending))
	}
	want := ReconcileSummary{Since: ago(72 * time.Hour), DryRun: true, Events: 7, Checked: 9, Missing: 4, Lagging: 3,
		Enqueued: 6, Synthesized: 2, DeadLettered: 1}
	if dry != want {
		t.Errorf("dry run:\n got %+v\nwant %+v", dry, want)
	}
	if progress == 0 {
		t.Error("no progress reported")
	}

	found = nil
	sum, err := r.Run(context.Background(), ago(72*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	want.DryRun = false
	if sum != want {
		t.Errorf("run:\n got %+v\nwant %+v", sum, want)
	}
	queued := slices.Sorted(func(yield func(string) bool) {
		for id := range store.pending {
			if !yield(id) {
				return
			}
		}
	})
	wantQueued := []string{"evt_dead_unsigned", "evt_failed", "evt_lost", "evt_settled", "reconcile:cs_no_event:paid", "reconcile:cs_settled_no_event:paid"}
	if !reflect.DeepEqual(queued, wantQueued) {
		t.Errorf("queued %v, want %v", queued, wantQueued)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].SessionID < found[j].SessionID })
	problems := map[string]string{}
	for _, f := range found {
		problems[f.SessionID] = f.Problem
	}
	wantProblems := map[string]string{
		"cs_dead": "no order", "cs_dead_unsigned": "no order", "cs_lost_event": "no order", "cs_no_event": "no order",
		"cs_failed":           "order awaiting_payment, payment failed (evt_failed)",
		"cs_settled":          "order awaiting_payment, session paid",
		"cs_settled_no_event": "order on_hold, session paid",
	}
	if !reflect.DeepEqual(problems, wantProblems) {
		t.Errorf("problems %v, want %v", problems, wantProblems)
	}

	// The built event is what Stripe would have sent; it decodes as one.
	var built struct {
		ID, Object, Type string
		Data             struct{ Object struct{ ID string } }
	}
	if err := json.Unmarshal(store.pending["reconcile:cs_no_event:paid"].Payload, &built); err != nil ||
		built.Object != "event" || built.Type != EventSessionCompleted || built.Data.Object.ID != "cs_no_event" {
		t.Errorf("built event %+v, %v", built, err)
	}

	// Everything queued was read from Stripe's API: the worker vouches for it.
	for id, rp := range store.pending {
		if !rp.FromStripeAPI || rp.Signatures != (Signatures{}) {
			t.Errorf("%s queued with FromStripeAPI %t, signatures %+v; want true and none", id, rp.FromStripeAPI, rp.Signatures)
		}
	}

	// Again before anything was processed: nothing new.
	again, err := r.Run(context.Background(), ago(72*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	if again.Enqueued != 0 || again.InFlight != 6 {
		t.Errorf("second run: %+v, want 0 enqueued, 6 in flight", again)
	}

	// Published and still failing (Stripe down): left alone for the
	// cooldown, then queued again.
	for id, rp := range store.pending {
		rp.PublishedAt = now
		store.published[id] = []Replay{rp}
		delete(store.pending, id)
	}
	r.Cooldown = time.Hour
	if s, err := r.Run(context.Background(), ago(72*time.Hour), false); err != nil || s.Enqueued != 0 || s.InFlight != 6 {
		t.Errorf("within the cooldown: %+v, %v; want 0 enqueued, 6 in flight", s, err)
	}
	r.Now = func() time.Time { return now.Add(2 * time.Hour) }
	if s, err := r.Run(context.Background(), ago(72*time.Hour), false); err != nil || s.Enqueued != 6 || s.InFlight != 0 {
		t.Errorf("after the cooldown: %+v, %v; want 6 enqueued", s, err)
	}
	r.Now = func() time.Time { return now }

	// A since past Stripe's retention lists 30 days of events.
	if _, err := r.Run(context.Background(), ago(90*24*time.Hour), true); err != nil {
		t.Fatal(err)
	}
	if !h.eventsSince.Equal(ago(EventRetention)) {
		t.Errorf("events listed since %s, want 30 days back (%s)", h.eventsSince, ago(EventRetention))
	}
}

func TestReconcileMoneyEvents(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	money := func(id, typ, object string, p Payment, age time.Duration) Event {
		return Event{ID: id, Type: typ, Created: ago(age), Object: object, Charge: "ch_" + id, Payment: p}
	}
	known := Payment{PaymentIntent: "pi_known"}
	sub := Payment{PaymentIntent: "pi_of_invoice", Invoice: "in_known"}
	h := &history{
		sessions: []Session{
			{ID: "cs_known", Status: "complete", PaymentStatus: PaymentPaid, Created: ago(time.Hour), Payment: known},
			{ID: "cs_sub", Status: "complete", PaymentStatus: PaymentPaid, Created: ago(time.Hour), Payment: Payment{Invoice: "in_known"}},
			{ID: "cs_missing", Status: "complete", PaymentStatus: PaymentPaid, Created: ago(time.Hour), Payment: Payment{PaymentIntent: "pi_missing"}},
		},
		events: []Event{
			{ID: "evt_known", Type: EventSessionCompleted, Created: ago(time.Hour), Session: Session{ID: "cs_known"}},
			{ID: "evt_sub", Type: EventSessionCompleted, Created: ago(time.Hour), Session: Session{ID: "cs_sub"}},
		},
		money: []Event{
			money("evt_refund_done", EventChargeRefunded, "ch_1", known, 50*time.Minute), // processed
			money("evt_refund_lost", EventChargeRefunded, "ch_1", known, 40*time.Minute),
			money("evt_dispute_lost", EventDisputeCreated, "dp_1", sub, 30*time.Minute), // found by invoice
			money("evt_dispute_dead", EventDisputeClosed, "dp_1", sub, 20*time.Minute),  // dlq's business
			money("evt_elsewhere", EventChargeRefunded, "ch_2", Payment{PaymentIntent: "pi_elsewhere"}, 10*time.Minute),
			money("evt_no_payment", EventEarlyFraudWarningCreated, "issfr_1", Payment{}, 10*time.Minute),
			money("evt_of_missing", EventEarlyFraudWarningCreated, "issfr_2", Payment{PaymentIntent: "pi_missing"}, 5*time.Minute),
			money("evt_too_old", EventChargeRefunded, "ch_1", known, 31*24*time.Hour), // past Stripe's 30 days
		},
	}
	orders := &memStore{orders: map[string]Order{
		"cs_known": {ID: "cs_known", CheckoutSessionID: "cs_known", Status: StatusReadyToShip, PaymentIntentID: "pi_known"},
		"cs_sub":   {ID: "cs_sub", CheckoutSessionID: "cs_sub", Status: StatusReadyToShip, InvoiceID: "in_known"},
	}, events: map[string]bool{"evt_known": true, "evt_sub": true, "evt_refund_done": true}}
	store := &replayStore{memStore: orders, dead: map[string]bool{"evt_dispute_dead": true}, pending: map[string]Replay{},
		published: map[string][]Replay{}}
	var found []Finding
	r := &Reconciler{Stripe: h, Store: store, Now: func() time.Time { return now }, BuildEvent: buildEvent,
		Found: func(f Finding) { found = append(found, f) }}

	dry, err := r.Run(context.Background(), ago(90*24*time.Hour), true)
	if err != nil {
		t.Fatal(err)
	}
	want := ReconcileSummary{Since: ago(90 * 24 * time.Hour), DryRun: true, Events: 2, Checked: 3, Missing: 1,
		Enqueued: 4, Synthesized: 1, DeadLettered: 1, MoneyEvents: 7, Missed: 4}
	if dry != want || len(store.pending) != 0 {
		t.Errorf("dry run:\n got %+v\nwant %+v (%d queued)", dry, want, len(store.pending))
	}
	if !h.moneySince.Equal(ago(EventRetention)) {
		t.Errorf("money events listed since %s, want 30 days back", h.moneySince)
	}

	found = nil
	sum, err := r.Run(context.Background(), ago(72*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	want.DryRun, want.Since, want.MoneyEvents = false, ago(72*time.Hour), 7
	if sum != want {
		t.Errorf("run:\n got %+v\nwant %+v", sum, want)
	}
	got := map[string]string{}
	for _, f := range found {
		got[f.SessionID+" "+f.Problem] = fmt.Sprint(f.Queued, f.InFlight, f.DeadLetters)
	}
	wantFound := map[string]string{
		"cs_missing no order":                                           "[reconcile:cs_missing:paid] [] []",
		"cs_known missed charge.refunded (ch_1)":                        "[evt_refund_lost] [] []",
		"cs_sub missed charge.dispute.created (dp_1)":                   "[evt_dispute_lost] [] []",
		"cs_sub missed charge.dispute.closed (dp_1)":                    "[] [] [evt_dispute_dead]",
		"cs_missing missed radar.early_fraud_warning.created (issfr_2)": "[evt_of_missing] [] []",
	}
	if !reflect.DeepEqual(got, wantFound) {
		t.Errorf("findings:\n got %v\nwant %v", got, wantFound)
	}
	if rp := store.pending["evt_refund_lost"]; rp.EventType != EventChargeRefunded || !rp.FromStripeAPI || string(rp.Payload) != `{"id":"evt_refund_lost"}` {
		t.Errorf("queued %+v", rp)
	}

	// Again: what it queued is in flight.
	again, err := r.Run(context.Background(), ago(72*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	if again.Enqueued != 0 || again.InFlight != 4 || again.Missed != 4 {
		t.Errorf("second run: %+v, want 0 enqueued, 4 in flight, 4 missed", again)
	}
	// Once processed there is nothing left to find.
	for id := range store.pending {
		orders.events[id] = true
	}
	orders.orders["cs_missing"] = Order{ID: "cs_missing", CheckoutSessionID: "cs_missing", Status: StatusReadyToShip, PaymentIntentID: "pi_missing"}
	if s, err := r.Run(context.Background(), ago(72*time.Hour), false); err != nil || s.Missed != 1 || s.Enqueued != 0 || s.DeadLettered != 1 {
		t.Errorf("after processing: %+v, %v; want only the dead letter", s, err)
	}
}

func TestDeadLetterRetriable(t *testing.T) {
	t.Parallel()
	signed := Signatures{Stripe: "t=1,v1=00"}
	for _, tt := range []struct {
		dl   DeadLetter
		want bool
	}{
		{DeadLetter{Signatures: signed, Error: "stripe 404: No such checkout.session"}, true},
		{DeadLetter{Signatures: Signatures{Fulfillment: "v1=00"}, Error: "stripe 404"}, true},
		{DeadLetter{Error: "stripe 404"}, false}, // kept before migration 0006
		{DeadLetter{Signatures: signed, Error: ErrUntrusted.Error() + ": no valid Stripe-Signature"}, false},
	} {
		if got := tt.dl.Retriable(); got != tt.want {
			t.Errorf("%+v: Retriable = %t, want %t", tt.dl, got, tt.want)
		}
	}
}

func TestEventsSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	oldest := now.Add(-EventRetention)
	for _, tt := range []struct {
		since, want time.Time
	}{
		{now.Add(-time.Hour), now.Add(-time.Hour)},
		{oldest, oldest},
		{oldest.Add(-time.Nanosecond), oldest},
		{now.Add(-90 * 24 * time.Hour), oldest},
	} {
		if got := EventsSince(tt.since, now); !got.Equal(tt.want) {
			t.Errorf("EventsSince(%s, %s) = %s, want %s", tt.since, now, got, tt.want)
		}
	}
}
