package fulfillment

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// memStore is an in-memory OrderStore with the same merge semantics as the
// SQLite store; the real one is tested in store/ and end to end.
type memStore struct {
	mu     sync.Mutex
	orders map[string]Order
	events map[string]bool
}

func (m *memStore) OrderBySession(_ context.Context, id string) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orders[id]
	if !ok {
		return Order{}, ErrNotFound
	}
	return o, nil
}

func (m *memStore) OrderByPayment(_ context.Context, p Payment) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.orders {
		if p.PaymentIntent != "" && string(o.PaymentIntentID) == p.PaymentIntent ||
			p.Invoice != "" && string(o.InvoiceID) == p.Invoice {
			return o, nil
		}
	}
	return Order{}, ErrNotFound
}

func (m *memStore) EventProcessed(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.events[id], nil
}

func (m *memStore) Record(_ context.Context, eventID, _ string, c Order) (Order, Outcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.events[eventID] {
		return m.orders[c.CheckoutSessionID], OutcomeDuplicate, nil
	}
	m.events[eventID] = true
	old, ok := m.orders[c.CheckoutSessionID]
	if !ok {
		m.orders[c.CheckoutSessionID] = c
		return c, OutcomeCreated, nil
	}
	merged, changed := old.Merge(c)
	m.orders[c.CheckoutSessionID] = merged
	if changed {
		return merged, OutcomeUpdated, nil
	}
	return merged, OutcomeUnchanged, nil
}

type fakeStripe struct {
	session Session
	items   []LineItem
	err     error
}

func (f *fakeStripe) Session(context.Context, string) (Session, error) { return f.session, f.err }
func (f *fakeStripe) LineItems(context.Context, string) (Lines, error) {
	return Lines{Items: append([]LineItem(nil), f.items...), Requests: 1}, f.err
}
func (f *fakeStripe) SessionWithLineItems(ctx context.Context, id string) (Session, Lines, error) {
	lines, err := f.LineItems(ctx, id)
	return f.session, lines, err
}

func TestProcess(t *testing.T) {
	t.Parallel()
	items := []LineItem{{ID: "li_1", ProductID: "prod_camera", Quantity: 1}, {ID: "li_2", ProductID: "prod_cloth", Quantity: 1}}
	sess := func(ps PaymentStatus) Session {
		return Session{ID: "cs_1", Status: "complete", PaymentStatus: ps, Currency: "usd"}
	}
	type step struct {
		ev        Event
		wantCalls int
		want      Status
		outcome   Outcome
		settle    PaymentStatus // if set, Stripe's session has this payment status from this step on
	}
	tests := []struct {
		name   string
		stripe Session // the session's current state at Stripe
		steps  []step
	}{
		{"paid: one call", sess(PaymentPaid), []step{
			{Event{ID: "evt_1", Type: EventSessionCompleted, Session: sess(PaymentPaid)}, 1, StatusReadyToShip, OutcomeCreated, ""},
			{Event{ID: "evt_1", Type: EventSessionCompleted, Session: sess(PaymentPaid)}, 0, StatusReadyToShip, OutcomeDuplicate, ""},
		}},
		{"unpaid snapshot, settled since: re-read wins", sess(PaymentPaid), []step{
			{Event{ID: "evt_1", Type: EventSessionCompleted, Session: sess(PaymentUnpaid)}, 1, StatusReadyToShip, OutcomeCreated, ""},
		}},
		{"unpaid then succeeded needs no more line items", sess(PaymentUnpaid), []step{
			{Event{ID: "evt_1", Type: EventSessionCompleted, Session: sess(PaymentUnpaid)}, 1, StatusAwaitingPayment, OutcomeCreated, ""},
			{Event{ID: "evt_1", Type: EventSessionCompleted, Session: sess(PaymentUnpaid)}, 0, StatusAwaitingPayment, OutcomeDuplicate, ""},
			{Event{ID: "evt_2", Type: EventSessionAsyncPaymentSucceed, Session: sess(PaymentPaid)}, 0, StatusReadyToShip, OutcomeUpdated, ""},
		}},
		{"succeeded before completed", sess(PaymentPaid), []step{
			{Event{ID: "evt_2", Type: EventSessionAsyncPaymentSucceed, Session: sess(PaymentPaid)}, 1, StatusReadyToShip, OutcomeCreated, ""},
			{Event{ID: "evt_1", Type: EventSessionCompleted, Session: sess(PaymentUnpaid)}, 0, StatusReadyToShip, OutcomeUnchanged, ""},
		}},
		{"failed", sess(PaymentUnpaid), []step{
			{Event{ID: "evt_1", Type: EventSessionCompleted, Session: sess(PaymentUnpaid)}, 1, StatusAwaitingPayment, OutcomeCreated, ""},
			{Event{ID: "evt_3", Type: EventSessionAsyncPaymentFailed, Session: sess(PaymentUnpaid)}, 0, StatusCanceled, OutcomeUpdated, ""},
		}},
		{"failed before completed", sess(PaymentUnpaid), []step{
			{Event{ID: "evt_3", Type: EventSessionAsyncPaymentFailed, Session: sess(PaymentUnpaid)}, 1, StatusCanceled, OutcomeCreated, ""},
			{Event{ID: "evt_1", Type: EventSessionCompleted, Session: sess(PaymentUnpaid)}, 0, StatusCanceled, OutcomeUnchanged, ""},
		}},
		// An event reconcile built is no Stripe delivery: its "paid" decides
		// nothing, Stripe's API does.
		{"built event says paid, Stripe says unpaid", sess(PaymentUnpaid), []step{
			{Event{ID: SynthesizedEventID("cs_1", PaymentPaid), Type: EventSessionCompleted, Session: sess(PaymentPaid)}, 1, StatusAwaitingPayment, OutcomeCreated, ""},
			{Event{ID: SynthesizedEventID("cs_1", PaymentUnpaid), Type: EventSessionCompleted, Session: sess(PaymentPaid)}, 1, StatusAwaitingPayment, OutcomeUnchanged, ""},
		}},
		{"built event for a recorded unpaid order: one read of the state", sess(PaymentUnpaid), []step{
			{ev: Event{ID: "evt_1", Type: EventSessionCompleted, Session: sess(PaymentUnpaid)}, wantCalls: 1, want: StatusAwaitingPayment, outcome: OutcomeCreated},
			{ev: Event{ID: SynthesizedEventID("cs_1", PaymentPaid), Type: EventSessionCompleted, Session: sess(PaymentPaid)},
				settle: PaymentPaid, wantCalls: 1, want: StatusReadyToShip, outcome: OutcomeUpdated},
			{ev: Event{ID: SynthesizedEventID("cs_1", PaymentNoPaymentRequired), Type: EventSessionCompleted, Session: sess(PaymentPaid)},
				wantCalls: 0, want: StatusReadyToShip, outcome: OutcomeUnchanged},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stripe := &fakeStripe{session: tt.stripe, items: items}
			p := &Processor{
				Stripe:     stripe,
				Orders:     &memStore{orders: map[string]Order{}, events: map[string]bool{}},
				CrossSells: CrossSells{"prod_camera": "prod_cloth"},
			}
			for i, s := range tt.steps {
				if s.settle != "" {
					stripe.session.PaymentStatus = s.settle
				}
				res, err := p.Process(context.Background(), s.ev)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if res.Calls != s.wantCalls || res.Order.Status != s.want || res.Outcome != s.outcome {
					t.Errorf("step %d: calls=%d status=%s outcome=%s, want %d %s %s", i, res.Calls, res.Order.Status, res.Outcome, s.wantCalls, s.want, s.outcome)
				}
				if len(res.Order.LineItems) != 2 || !res.Order.LineItems[1].CrossSell {
					t.Errorf("step %d: line items %+v", i, res.Order.LineItems)
				}
			}
		})
	}
}

func TestProcessErrors(t *testing.T) {
	t.Parallel()
	store := &memStore{orders: map[string]Order{}, events: map[string]bool{}}
	transient := errors.New("connection reset")
	tests := []struct {
		name      string
		ev        Event
		stripeErr error
		permanent bool
	}{
		{"missing session id", Event{ID: "evt_1", Type: EventSessionCompleted}, nil, true},
		{"not a checkout event", Event{ID: "evt_1", Type: "customer.created", Session: Session{ID: "cs_1"}}, nil, true},
		{"stripe permanent", Event{ID: "evt_1", Type: EventSessionCompleted, Session: Session{ID: "cs_1", PaymentStatus: PaymentPaid}}, Permanent(ErrNotFound), true},
		{"stripe transient", Event{ID: "evt_1", Type: EventSessionCompleted, Session: Session{ID: "cs_1", PaymentStatus: PaymentPaid}}, transient, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &Processor{Stripe: &fakeStripe{err: tt.stripeErr}, Orders: store}
			_, err := p.Process(context.Background(), tt.ev)
			if err == nil || IsPermanent(err) != tt.permanent {
				t.Errorf("err = %v, permanent = %v, want permanent %v", err, IsPermanent(err), tt.permanent)
			}
		})
	}
	if len(store.orders) != 0 || len(store.events) != 0 {
		t.Errorf("failed events left state behind: %v %v", store.orders, store.events)
	}
}
