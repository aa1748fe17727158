package fulfillment

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakePayments is Stripe's money objects in memory.
type fakePayments struct {
	mu        sync.Mutex
	charges   map[string]Charge
	disputes  map[string]Dispute
	warnings  map[string]FraudWarning
	sessionOf map[string]string // payment intent → session
	calls     int
}

func (f *fakePayments) Charge(_ context.Context, id string) (Charge, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	c, ok := f.charges[id]
	if !ok {
		return c, Permanent(errors.New("no such charge"))
	}
	return c, nil
}

func (f *fakePayments) Dispute(_ context.Context, id string) (Dispute, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.disputes[id], nil
}

func (f *fakePayments) FraudWarning(_ context.Context, id string) (FraudWarning, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.warnings[id], nil
}

func (f *fakePayments) SessionForPayment(_ context.Context, p Payment) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if id, ok := f.sessionOf[p.PaymentIntent]; ok {
		return id, nil
	}
	return "", ErrNotFound
}

func TestProcessMoney(t *testing.T) {
	t.Parallel()
	pay := Payment{PaymentIntent: "pi_1"}
	session := Session{ID: "cs_1", Status: "complete", PaymentStatus: PaymentPaid, Currency: "usd", AmountTotal: 1000, Payment: pay}
	newProcessor := func() (*Processor, *fakePayments, *memStore) {
		payments := &fakePayments{
			charges: map[string]Charge{
				"ch_1":     {ID: "ch_1", Amount: 1000, AmountRefunded: 400, Payment: pay},
				"ch_other": {ID: "ch_other", Amount: 50, AmountRefunded: 50, Refunded: true, Payment: Payment{PaymentIntent: "pi_other"}},
			},
			disputes:  map[string]Dispute{"dp_1": {ID: "dp_1", Status: "needs_response", Reason: "fraudulent", Amount: 1000, Charge: "ch_1", Payment: pay}},
			warnings:  map[string]FraudWarning{"issfr_1": {ID: "issfr_1", FraudType: "card_never_received", Charge: "ch_1", Payment: pay}},
			sessionOf: map[string]string{"pi_1": "cs_1"},
		}
		store := &memStore{orders: map[string]Order{}, events: map[string]bool{}}
		stripe := &fakeStripe{session: session, items: []LineItem{{ID: "li_1", Quantity: 1}}}
		return &Processor{Stripe: stripe, Payments: payments, Orders: store}, payments, store
	}
	refund := Event{ID: "evt_r", Type: EventChargeRefunded, Object: "ch_1", Charge: "ch_1"}

	t.Run("before the order: the session's order is made with the refund", func(t *testing.T) {
		t.Parallel()
		p, _, _ := newProcessor()
		res, err := p.Process(context.Background(), refund)
		if err != nil {
			t.Fatal(err)
		}
		// charge, sessions?payment_intent, session with line items
		if res.Outcome != OutcomeCreated || res.Calls != 3 || res.Order.Status != StatusOnHold || res.Order.AmountRefunded != 400 || len(res.Order.LineItems) != 1 {
			t.Fatalf("%s calls=%d status=%s refunded=%d items=%d", res.Outcome, res.Calls, res.Order.Status, res.Order.AmountRefunded, len(res.Order.LineItems))
		}
		// Stripe delivers it again: no request.
		if res, err := p.Process(context.Background(), refund); err != nil || res.Outcome != OutcomeDuplicate || res.Calls != 0 {
			t.Fatalf("redelivery: %v %s calls=%d", err, res.Outcome, res.Calls)
		}
		res, err = p.Process(context.Background(), Event{ID: "evt_c", Type: EventSessionCompleted, Session: session})
		if err != nil || res.Outcome != OutcomeUnchanged || res.Order.Status != StatusOnHold || res.Calls != 0 {
			t.Fatalf("completed afterwards: %v %s %s calls=%d", err, res.Outcome, res.Order.Status, res.Calls)
		}
	})
	t.Run("after the order: one call", func(t *testing.T) {
		t.Parallel()
		p, _, _ := newProcessor()
		ctx := context.Background()
		if _, err := p.Process(ctx, Event{ID: "evt_c", Type: EventSessionCompleted, Session: session}); err != nil {
			t.Fatal(err)
		}
		for _, ev := range []Event{
			{ID: "evt_d", Type: EventDisputeCreated, Object: "dp_1", Charge: "ch_1"},
			{ID: "evt_w", Type: EventEarlyFraudWarningCreated, Object: "issfr_1", Charge: "ch_1"},
			refund,
		} {
			res, err := p.Process(ctx, ev)
			if err != nil || res.Calls != 1 || res.Outcome != OutcomeUpdated {
				t.Fatalf("%s: %v calls=%d %s", ev.Type, err, res.Calls, res.Outcome)
			}
		}
		o, _ := p.Orders.OrderBySession(ctx, "cs_1")
		if o.Status != StatusOnHold || o.Hold == nil || len(o.Hold.Reasons) != 3 || o.Dispute == nil || o.FraudWarning == nil {
			t.Fatalf("order %s hold %+v", o.Status, o.Hold)
		}
	})
	t.Run("a charge no session made", func(t *testing.T) {
		t.Parallel()
		p, _, store := newProcessor()
		res, err := p.Process(context.Background(), Event{ID: "evt_o", Type: EventChargeRefunded, Object: "ch_other", Charge: "ch_other"})
		if err != nil || res.Outcome != OutcomeNoSession || len(store.orders) != 0 {
			t.Fatalf("%v %s, %d orders", err, res.Outcome, len(store.orders))
		}
	})
	t.Run("no object", func(t *testing.T) {
		t.Parallel()
		p, _, _ := newProcessor()
		if _, err := p.Process(context.Background(), Event{ID: "evt_x", Type: EventDisputeCreated}); !IsPermanent(err) {
			t.Fatalf("%v, want permanent", err)
		}
	})
	t.Run("concurrent events of one charge", func(t *testing.T) {
		t.Parallel()
		p, _, store := newProcessor()
		evs := []Event{
			{ID: "evt_c", Type: EventSessionCompleted, Session: session},
			{ID: "evt_d", Type: EventDisputeCreated, Object: "dp_1", Charge: "ch_1"},
			{ID: "evt_w", Type: EventEarlyFraudWarningCreated, Object: "issfr_1", Charge: "ch_1"},
			refund,
		}
		var wg sync.WaitGroup
		for range 3 {
			for _, ev := range evs {
				wg.Go(func() {
					if _, err := p.Process(context.Background(), ev); err != nil {
						t.Error(err)
					}
				})
			}
		}
		wg.Wait()
		o := store.orders["cs_1"]
		if len(store.orders) != 1 || o.Status != StatusOnHold || o.Hold == nil || len(o.Hold.Reasons) != 3 {
			t.Fatalf("%d orders, %s %+v", len(store.orders), o.Status, o.Hold)
		}
	})
}

func TestFulfillSession(t *testing.T) {
	t.Parallel()
	complete := Session{ID: "cs_1", Status: "complete", PaymentStatus: PaymentPaid, Currency: "usd", AmountTotal: 1000}
	tests := []struct {
		name     string
		session  Session
		err      error
		wantCode Code
		want     Status
	}{
		{"complete and paid", complete, nil, 0, StatusReadyToShip},
		{"complete, payment pending", Session{ID: "cs_1", Status: "complete", PaymentStatus: PaymentUnpaid}, nil, 0, StatusAwaitingPayment},
		{"open", Session{ID: "cs_1", Status: "open", PaymentStatus: PaymentUnpaid}, nil, CodeConflict, ""},
		{"expired", Session{ID: "cs_1", Status: "expired", PaymentStatus: PaymentUnpaid}, nil, CodeConflict, ""},
		{"unknown to Stripe", Session{}, Permanent(ErrNotFound), CodeNotFound, ""},
		{"Stripe times out", Session{}, context.DeadlineExceeded, CodeRetryAfter, ""},
		{"Stripe says 429", Session{}, RetryAfter(errors.New("429"), 5*time.Second), CodeRetryAfter, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := &memStore{orders: map[string]Order{}, events: map[string]bool{}}
			stripe := &fakeStripe{session: tt.session, err: tt.err, items: []LineItem{{ID: "li_1", Quantity: 1}}}
			p := &Processor{Stripe: stripe, Orders: store}
			o, err := p.FulfillSession(context.Background(), "cs_1")
			if tt.wantCode != 0 {
				if Find(err, tt.wantCode) == nil {
					t.Fatalf("%v, want code %v", err, tt.wantCode)
				}
				if len(store.orders) != 0 {
					t.Fatalf("%d orders made", len(store.orders))
				}
				return
			}
			if err != nil || o.Status != tt.want || len(o.LineItems) != 1 {
				t.Fatalf("%v %s %d items", err, o.Status, len(o.LineItems))
			}
			// A reload records nothing new; the webhook after it changes nothing.
			again, err := p.FulfillSession(context.Background(), "cs_1")
			if err != nil || again.Status != o.Status {
				t.Fatalf("reload: %v %s", err, again.Status)
			}
			res, err := p.Process(context.Background(), Event{ID: "evt_1", Type: EventSessionCompleted, Session: tt.session})
			if err != nil || res.Outcome != OutcomeUnchanged || len(store.orders) != 1 {
				t.Fatalf("webhook after: %v %s %d orders", err, res.Outcome, len(store.orders))
			}
		})
	}
}
