package fulfillment_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
	"github.com/fulfillmentd/fulfillmentd/store"
)

// lifecycle is the payment lifecycle wired with real parts: the Processor,
// the stripe-go client against the HTTP Stripe emulator, and a SQLite file.
type lifecycle struct {
	emu  *stripeemu.Emulator
	db   *store.DB
	proc *fulfillment.Processor
	seq  atomic.Int64
}

func newLifecycle(t *testing.T) *lifecycle {
	t.Helper()
	emu := stripeemu.New(stripeemu.Options{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "fulfillment.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	raw, err := fixtures.FS.ReadFile("crosssells.json")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := fulfillment.ParseCrossSells(raw)
	if err != nil {
		t.Fatal(err)
	}
	return &lifecycle{emu: emu, db: db, proc: &fulfillment.Processor{
		Stripe:     stripeapi.New(stripeapi.Config{SecretKey: "sk_test_lifecycle", BaseURL: srv.URL}),
		Orders:     db,
		CrossSells: cs,
	}}
}

// session adds a copy of a fixture session under a new id and returns it.
func (l *lifecycle) session(t *testing.T, fixture string) string {
	t.Helper()
	data, err := fixtures.FS.ReadFile("stripe/" + fixture + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Session   map[string]any    `json:"session"`
		LineItems []json.RawMessage `json:"line_items"`
	}
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%s_%d", fixture, l.seq.Add(1))
	fx.Session["id"] = id
	sess, _ := json.Marshal(fx.Session)
	if err := l.emu.AddSession(sess, fx.LineItems); err != nil {
		t.Fatal(err)
	}
	return id
}

// event is the webhook Stripe sends now, for the session as it is now.
func (l *lifecycle) event(t *testing.T, name, typ, sessionID string) fulfillment.Event {
	t.Helper()
	body, err := l.emu.Event("evt_"+name+"_"+sessionID, typ, sessionID, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := stripeevent.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// scenario is a set of events for one session: built in Stripe's order
// (the session's payment settles or fails between them), then processed in
// every order and concurrently. Stripe's state at processing time is the
// final one.
type scenario struct {
	name     string
	fixture  string
	events   func(t *testing.T, l *lifecycle, id string) []fulfillment.Event
	status   fulfillment.Status
	payment  fulfillment.PaymentStatus
	items    int
	crossOf  map[string]string // product → base it is tagged as cross-sell of
	totalDue int64
	// inOrderOnly leaves the scenario out of the concurrent test (120 lines
	// per trial make it slow under -race; paging is not about concurrency).
	inOrderOnly bool
}

func completedUnpaidThen(second string) func(t *testing.T, l *lifecycle, id string) []fulfillment.Event {
	return func(t *testing.T, l *lifecycle, id string) []fulfillment.Event {
		completed := l.event(t, "completed", fulfillment.EventSessionCompleted, id)
		if completed.Session.PaymentStatus != fulfillment.PaymentUnpaid {
			t.Fatalf("completed snapshot is %s, want unpaid", completed.Session.PaymentStatus)
		}
		var out []fulfillment.Event
		out = append(out, completed)
		switch second {
		case "succeeded":
			if err := l.emu.SetPaymentStatus(id, "paid"); err != nil {
				t.Fatal(err)
			}
			out = append(out, l.event(t, "succeeded", fulfillment.EventSessionAsyncPaymentSucceed, id))
		case "failed":
			out = append(out, l.event(t, "failed", fulfillment.EventSessionAsyncPaymentFailed, id))
		case "both": // Stripe never sends both; Merge settles it anyway
			out = append(out, l.event(t, "failed", fulfillment.EventSessionAsyncPaymentFailed, id))
			if err := l.emu.SetPaymentStatus(id, "paid"); err != nil {
				t.Fatal(err)
			}
			out = append(out, l.event(t, "succeeded", fulfillment.EventSessionAsyncPaymentSucceed, id))
		}
		return out
	}
}

func completedTimes(n int, sameID bool) func(t *testing.T, l *lifecycle, id string) []fulfillment.Event {
	return func(t *testing.T, l *lifecycle, id string) []fulfillment.Event {
		var out []fulfillment.Event
		for i := range n {
			name := "completed"
			if !sameID {
				name = fmt.Sprintf("completed%d", i)
			}
			out = append(out, l.event(t, name, fulfillment.EventSessionCompleted, id))
		}
		return out
	}
}

var scenarios = []scenario{
	{name: "completed(unpaid) + async_payment_succeeded", fixture: "cs_test_unpaid", events: completedUnpaidThen("succeeded"),
		status: fulfillment.StatusReadyToShip, payment: fulfillment.PaymentPaid, items: 2,
		crossOf: map[string]string{"prod_desk_mat": "prod_standing_desk"}, totalDue: 63700},
	{name: "completed(unpaid) + async_payment_failed", fixture: "cs_test_unpaid", events: completedUnpaidThen("failed"),
		status: fulfillment.StatusCanceled, payment: fulfillment.PaymentUnpaid, items: 2,
		crossOf: map[string]string{"prod_desk_mat": "prod_standing_desk"}, totalDue: 63700},
	{name: "completed(unpaid) + failed + succeeded: the settled payment wins", fixture: "cs_test_unpaid", events: completedUnpaidThen("both"),
		status: fulfillment.StatusReadyToShip, payment: fulfillment.PaymentPaid, items: 2,
		crossOf: map[string]string{"prod_desk_mat": "prod_standing_desk"}, totalDue: 63700},
	{name: "completed(paid)", fixture: "cs_test_crosssell", events: completedTimes(1, true),
		status: fulfillment.StatusReadyToShip, payment: fulfillment.PaymentPaid, items: 3,
		crossOf: map[string]string{"prod_lens_cloth": "prod_camera"}, totalDue: 99726},
	{name: "completed(paid) redelivered", fixture: "cs_test_crosssell", events: completedTimes(2, true),
		status: fulfillment.StatusReadyToShip, payment: fulfillment.PaymentPaid, items: 3,
		crossOf: map[string]string{"prod_lens_cloth": "prod_camera"}, totalDue: 99726},
	{name: "completed(paid) twice under two event ids", fixture: "cs_test_crosssell", events: completedTimes(2, false),
		status: fulfillment.StatusReadyToShip, payment: fulfillment.PaymentPaid, items: 3,
		crossOf: map[string]string{"prod_lens_cloth": "prod_camera"}, totalDue: 99726},
	{name: "completed(no_payment_required)", fixture: "cs_test_free", events: completedTimes(1, true),
		status: fulfillment.StatusReadyToShip, payment: fulfillment.PaymentNoPaymentRequired, items: 2, totalDue: 0},
	{name: "completed(paid), 120 lines on two pages", fixture: "cs_test_bulk", events: completedTimes(2, false),
		status: fulfillment.StatusReadyToShip, payment: fulfillment.PaymentPaid, items: 120,
		crossOf: map[string]string{"prod_lens_cloth": "prod_camera"}, totalDue: 186290, inOrderOnly: true},
}

// TestLifecyclePermutations processes each scenario's events in every order,
// one after the other, and checks that the final order is the expected one
// and the same whatever the order.
func TestLifecyclePermutations(t *testing.T) {
	t.Parallel()
	l := newLifecycle(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			var first *fulfillment.Order
			n := 0
			events := len(sc.events(t, l, l.session(t, sc.fixture))) // a session only to count them
			for perm := range permutationsOf(events) {
				n++
				id := l.session(t, sc.fixture)
				evs := sc.events(t, l, id)
				for _, i := range perm {
					if _, err := l.proc.Process(context.Background(), evs[i]); err != nil {
						t.Fatalf("order %v: process %s: %v", perm, evs[i].Type, err)
					}
				}
				got := sc.check(t, l, id, fmt.Sprint(perm))
				if first == nil {
					first = &got
				} else if !reflect.DeepEqual(got, *first) {
					t.Errorf("order %v gives another order than the first permutation:\n got %+v\nwant %+v", perm, got, *first)
				}
			}
			if n == 0 {
				t.Fatal("no permutation ran")
			}
		})
	}
}

// TestLifecycleConcurrent processes each scenario's events all at once (as
// many workers would), several times: the final order never depends on how
// they interleave.
func TestLifecycleConcurrent(t *testing.T) {
	t.Parallel()
	const trials = 4
	l := newLifecycle(t)
	for _, sc := range scenarios {
		if sc.inOrderOnly {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			for trial := range trials {
				id := l.session(t, sc.fixture)
				evs := sc.events(t, l, id)
				// Two workers per event: Stripe also delivers an event twice.
				var wg sync.WaitGroup
				start := make(chan struct{})
				errs := make(chan error, 2*len(evs))
				for _, ev := range append(evs, evs...) {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						if _, err := l.proc.Process(context.Background(), ev); err != nil {
							errs <- fmt.Errorf("%s: %w", ev.Type, err)
						}
					}()
				}
				close(start)
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatalf("trial %d: %v", trial, err)
				}
				sc.check(t, l, id, fmt.Sprintf("trial %d", trial))
				// Events of one session wait for each other in the
				// Processor: however many arrive at once, a session of up
				// to 10 lines costs one Stripe request.
				if got := l.emu.RequestsFor("/v1/checkout/sessions/" + id); sc.items <= 10 && got != 1 {
					t.Errorf("trial %d: %d Stripe requests for %d events at once, want 1", trial, got, 2*len(evs))
				}
			}
		})
	}
}

// check compares the stored order with the scenario's expectation and
// returns it without what differs per session (ids, times).
func (sc scenario) check(t *testing.T, l *lifecycle, id, what string) fulfillment.Order {
	t.Helper()
	o, err := l.db.OrderBySession(context.Background(), id)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if o.Status != sc.status || o.PaymentStatus != sc.payment {
		t.Errorf("%s: %s/%s, want %s/%s", what, o.Status, o.PaymentStatus, sc.status, sc.payment)
	}
	if len(o.LineItems) != sc.items || o.AmountTotal != sc.totalDue {
		t.Errorf("%s: %d line items, total %d; want %d, %d", what, len(o.LineItems), o.AmountTotal, sc.items, sc.totalDue)
	}
	for _, li := range o.LineItems {
		base, want := sc.crossOf[li.ProductID]
		if li.CrossSell != want || li.CrossSellOf != base {
			t.Errorf("%s: %s cross_sell=%v of %q, want %v of %q", what, li.ProductID, li.CrossSell, li.CrossSellOf, want, base)
		}
	}
	o.ID, o.CheckoutSessionID, o.CreatedAt, o.UpdatedAt = "", "", time.Time{}, time.Time{}
	return o
}

// TestLifecycleTimeline follows the sessions as time passes: completed is
// processed while the bank transfer is pending (awaiting_payment), the
// payment then succeeds or fails; an expired session never makes an order.
func TestLifecycleTimeline(t *testing.T) {
	t.Parallel()
	l := newLifecycle(t)
	ctx := context.Background()
	for _, outcome := range []string{"succeeded", "failed"} {
		id := l.session(t, "cs_test_unpaid")
		res, err := l.proc.Process(ctx, l.event(t, "completed", fulfillment.EventSessionCompleted, id))
		if err != nil {
			t.Fatal(err)
		}
		if res.Order.Status != fulfillment.StatusAwaitingPayment || res.Order.PaymentStatus != fulfillment.PaymentUnpaid || res.Calls != 1 {
			t.Fatalf("unpaid completion: %s/%s after %d calls, want awaiting_payment/unpaid after 1 (the session with its line items)",
				res.Order.Status, res.Order.PaymentStatus, res.Calls)
		}
		want, typ := fulfillment.StatusCanceled, fulfillment.EventSessionAsyncPaymentFailed
		if outcome == "succeeded" {
			want, typ = fulfillment.StatusReadyToShip, fulfillment.EventSessionAsyncPaymentSucceed
			if err := l.emu.SetPaymentStatus(id, "paid"); err != nil {
				t.Fatal(err)
			}
		}
		res, err = l.proc.Process(ctx, l.event(t, outcome, typ, id))
		if err != nil {
			t.Fatal(err)
		}
		if res.Order.Status != want || res.Outcome != fulfillment.OutcomeUpdated || res.Calls != 0 {
			t.Errorf("%s: %s (%s, %d calls), want %s, updated, no Stripe call", outcome, res.Order.Status, res.Outcome, res.Calls, want)
		}
	}

	id := l.session(t, "cs_test_expired")
	_, err := l.proc.Process(ctx, l.event(t, "expired", fulfillment.EventSessionExpired, id))
	if !fulfillment.IsPermanent(err) {
		t.Errorf("processing an expired event: %v, want a permanent error (the receiver never publishes it)", err)
	}
	if _, err := l.db.OrderBySession(ctx, id); !errors.Is(err, fulfillment.ErrNotFound) {
		t.Errorf("expired session has an order: %v", err)
	}
}

// permutationsOf yields every ordering of 0..n-1.
func permutationsOf(n int) func(yield func([]int) bool) {
	return func(yield func([]int) bool) {
		xs := make([]int, n)
		for i := range xs {
			xs[i] = i
		}
		var rec func(k int) bool
		rec = func(k int) bool {
			if k == n {
				return yield(append([]int(nil), xs...))
			}
			for i := k; i < n; i++ {
				xs[k], xs[i] = xs[i], xs[k]
				if !rec(k + 1) {
					return false
				}
				xs[k], xs[i] = xs[i], xs[k]
			}
			return true
		}
		rec(0)
	}
}
