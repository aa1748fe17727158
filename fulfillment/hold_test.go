package fulfillment

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var holdT0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// payableOrder is a ready_to_ship order of 1000 (shipment_test's paidOrder
// lines li_a ×1, li_b ×2, li_c ×3).
func payableOrder() Order {
	o := paidOrder(StatusReadyToShip)
	o.AmountTotal, o.PaymentIntentID = 1000, "pi_1"
	o.CreatedAt, o.UpdatedAt = holdT0, holdT0
	return o
}

// facts are money-event candidates as the Processor builds them: the
// order's ids and what Stripe said, nothing else.
func refundFact(amount int64, full bool) Order {
	return Order{ID: OrderID("cs_1"), CheckoutSessionID: "cs_1", AmountRefunded: amount, Refunded: full, UpdatedAt: holdT0.Add(time.Minute)}
}

func disputeFact(id, status string) Order {
	return Order{ID: OrderID("cs_1"), CheckoutSessionID: "cs_1", UpdatedAt: holdT0.Add(time.Minute),
		Dispute: &Dispute{ID: id, Status: status, Reason: "fraudulent", Amount: 1000, Created: holdT0}}
}

func warningFact(id string) Order {
	return Order{ID: OrderID("cs_1"), CheckoutSessionID: "cs_1", UpdatedAt: holdT0.Add(time.Minute),
		FraudWarning: &FraudWarning{ID: id, FraudType: "made_with_stolen_card", Actionable: true, Created: holdT0}}
}

// step is one thing that happens to an order: a Stripe fact merged, or a
// merchant's or warehouse's action.
type step struct {
	name string
	do   func(Order) (Order, bool, error)
}

func merge(fact Order) step {
	return step{"merge", func(o Order) (Order, bool, error) { n, c := o.Merge(fact); return n, c, nil }}
}

var (
	hold = step{"hold", func(o Order) (Order, bool, error) {
		return o.HoldByMerchant("check address", "alice", holdT0.Add(2*time.Minute))
	}}
	release  = step{"release", func(o Order) (Order, bool, error) { return o.ReleaseByMerchant("alice", holdT0.Add(3*time.Minute)) }}
	cancelIt = step{"cancel", func(o Order) (Order, bool, error) {
		return o.CancelByMerchant("buyer asked", "alice", holdT0.Add(3*time.Minute))
	}}
	ack     = step{"acknowledge", func(o Order) (Order, bool, error) { return o.Acknowledge("wms", holdT0.Add(time.Second)) }}
	shipAll = step{"ship", func(o Order) (Order, bool, error) {
		n, _, created, err := o.Ship(ShipmentRequest{Carrier: "ups", TrackingNumber: "1Z"}, "wms", holdT0.Add(time.Second))
		return n, created, err
	}}
	shipOne = step{"ship one", func(o Order) (Order, bool, error) {
		n, _, created, err := o.Ship(ShipmentRequest{Carrier: "ups", TrackingNumber: "1Z1", Lines: []ShipmentLine{{LineItemID: "li_a", Quantity: 1}}}, "wms", holdT0.Add(time.Second))
		return n, created, err
	}}
)

func TestHoldRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		from       Order
		steps      []step
		wantErr    Code // of the last step; 0: none
		want       Status
		reasons    []HoldReason
		cancel     CancelReason
		previous   Status
		refunded   int64
		hasDispute bool
	}{
		{name: "full refund cancels", from: payableOrder(), steps: []step{merge(refundFact(1000, true))},
			want: StatusCanceled, cancel: CancelRefunded, refunded: 1000},
		{name: "partial refund holds", from: payableOrder(), steps: []step{merge(refundFact(300, false))},
			want: StatusOnHold, reasons: []HoldReason{HoldRefundPartial}, previous: StatusReadyToShip, refunded: 300},
		{name: "partial then full refund cancels", from: payableOrder(), steps: []step{merge(refundFact(300, false)), merge(refundFact(1000, true))},
			want: StatusCanceled, cancel: CancelRefunded, refunded: 1000},
		{name: "late partial read after full keeps the full refund", from: payableOrder(), steps: []step{merge(refundFact(1000, true)), merge(refundFact(300, false))},
			want: StatusCanceled, cancel: CancelRefunded, refunded: 1000},
		{name: "open dispute holds", from: payableOrder(), steps: []step{merge(disputeFact("dp_1", "needs_response"))},
			want: StatusOnHold, reasons: []HoldReason{HoldDispute}, previous: StatusReadyToShip, hasDispute: true},
		{name: "inquiry holds", from: payableOrder(), steps: []step{merge(disputeFact("dp_1", "warning_needs_response"))},
			want: StatusOnHold, reasons: []HoldReason{HoldDispute}, previous: StatusReadyToShip, hasDispute: true},
		{name: "dispute won returns", from: payableOrder(), steps: []step{merge(disputeFact("dp_1", "needs_response")), merge(disputeFact("dp_1", "won"))},
			want: StatusReadyToShip, hasDispute: true},
		{name: "inquiry closed returns", from: payableOrder(), steps: []step{merge(disputeFact("dp_1", "warning_under_review")), merge(disputeFact("dp_1", "warning_closed"))},
			want: StatusReadyToShip, hasDispute: true},
		{name: "dispute lost cancels", from: payableOrder(), steps: []step{merge(disputeFact("dp_1", "under_review")), merge(disputeFact("dp_1", "lost"))},
			want: StatusCanceled, cancel: CancelDisputeLost, hasDispute: true},
		{name: "fraud warning holds", from: payableOrder(), steps: []step{merge(warningFact("issfr_1"))},
			want: StatusOnHold, reasons: []HoldReason{HoldFraudWarning}, previous: StatusReadyToShip},
		{name: "every reason at once, in order", from: payableOrder(), steps: []step{merge(warningFact("issfr_1")), hold, merge(disputeFact("dp_1", "needs_response")), merge(refundFact(100, false))},
			want: StatusOnHold, reasons: []HoldReason{HoldRefundPartial, HoldDispute, HoldFraudWarning, HoldMerchant}, previous: StatusReadyToShip, refunded: 100, hasDispute: true},
		{name: "dispute won leaves the other reasons", from: payableOrder(), steps: []step{merge(warningFact("issfr_1")), merge(disputeFact("dp_1", "needs_response")), merge(disputeFact("dp_1", "won"))},
			want: StatusOnHold, reasons: []HoldReason{HoldFraudWarning}, previous: StatusReadyToShip, hasDispute: true},
		{name: "in fulfilment: held and back", from: payableOrder(), steps: []step{ack, merge(disputeFact("dp_1", "needs_response")), merge(disputeFact("dp_1", "won"))},
			want: StatusInFulfillment, hasDispute: true},
		{name: "in fulfilment: held from there", from: payableOrder(), steps: []step{ack, merge(refundFact(10, false))},
			want: StatusOnHold, reasons: []HoldReason{HoldRefundPartial}, previous: StatusInFulfillment, refunded: 10},
		{name: "shipped: refund recorded, status stays", from: payableOrder(), steps: []step{shipAll, merge(refundFact(1000, true))},
			want: StatusShipped, refunded: 1000},
		{name: "partially shipped: dispute recorded, status stays", from: payableOrder(), steps: []step{shipOne, merge(disputeFact("dp_1", "lost"))},
			want: StatusPartiallyShipped, hasDispute: true},
		{name: "merchant hold and release", from: payableOrder(), steps: []step{hold, release},
			want: StatusReadyToShip},
		{name: "merchant hold", from: payableOrder(), steps: []step{hold},
			want: StatusOnHold, reasons: []HoldReason{HoldMerchant}, previous: StatusReadyToShip},
		{name: "release when not on hold", from: payableOrder(), steps: []step{release}, wantErr: CodeConflict, want: StatusReadyToShip},
		{name: "release removes every reason", from: payableOrder(), steps: []step{merge(warningFact("issfr_1")), merge(disputeFact("dp_1", "needs_response")), merge(refundFact(100, false)), hold, release},
			want: StatusReadyToShip, refunded: 100, hasDispute: true},
		{name: "release stands: same facts again", from: payableOrder(), steps: []step{merge(warningFact("issfr_1")), merge(disputeFact("dp_1", "needs_response")), merge(refundFact(100, false)), release,
			merge(warningFact("issfr_1")), merge(disputeFact("dp_1", "under_review")), merge(refundFact(100, false))},
			want: StatusReadyToShip, refunded: 100, hasDispute: true},
		{name: "release stands until a higher refund", from: payableOrder(), steps: []step{merge(refundFact(100, false)), release, merge(refundFact(250, false))},
			want: StatusOnHold, reasons: []HoldReason{HoldRefundPartial}, previous: StatusReadyToShip, refunded: 250},
		{name: "release stands until a new warning", from: payableOrder(), steps: []step{merge(warningFact("issfr_1")), release, merge(warningFact("issfr_2"))},
			want: StatusOnHold, reasons: []HoldReason{HoldFraudWarning}, previous: StatusReadyToShip},
		{name: "release stands until the dispute reopens", from: payableOrder(), steps: []step{merge(disputeFact("dp_1", "warning_needs_response")), release,
			merge(disputeFact("dp_1", "warning_closed")), merge(disputeFact("dp_1", "needs_response"))},
			want: StatusOnHold, reasons: []HoldReason{HoldDispute}, previous: StatusReadyToShip, hasDispute: true},
		{name: "release stands until a new dispute", from: payableOrder(), steps: []step{merge(disputeFact("dp_1", "needs_response")), release,
			merge(Order{ID: OrderID("cs_1"), CheckoutSessionID: "cs_1", Dispute: &Dispute{ID: "dp_2", Status: "needs_response", Created: holdT0.Add(time.Hour)}})},
			want: StatusOnHold, reasons: []HoldReason{HoldDispute}, previous: StatusReadyToShip, hasDispute: true},
		{name: "a released order is still canceled by a full refund", from: payableOrder(), steps: []step{merge(warningFact("issfr_1")), release, merge(refundFact(1000, true))},
			want: StatusCanceled, cancel: CancelRefunded, refunded: 1000},
		{name: "merchant cancel", from: payableOrder(), steps: []step{cancelIt}, want: StatusCanceled, cancel: CancelMerchant},
		{name: "merchant cancel of a held order", from: payableOrder(), steps: []step{merge(warningFact("issfr_1")), cancelIt}, want: StatusCanceled, cancel: CancelMerchant},
		{name: "merchant cancel twice", from: payableOrder(), steps: []step{cancelIt, cancelIt}, want: StatusCanceled, cancel: CancelMerchant},
		{name: "merchant cancel after a shipment", from: payableOrder(), steps: []step{shipOne, cancelIt}, wantErr: CodeConflict, want: StatusPartiallyShipped},
		{name: "merchant hold of a shipped order", from: payableOrder(), steps: []step{shipAll, hold}, wantErr: CodeConflict, want: StatusShipped},
		{name: "merchant hold of a canceled order", from: payableOrder(), steps: []step{cancelIt, hold}, wantErr: CodeConflict, want: StatusCanceled, cancel: CancelMerchant},
		{name: "acknowledge on hold", from: payableOrder(), steps: []step{hold, ack}, wantErr: CodeConflict, want: StatusOnHold, reasons: []HoldReason{HoldMerchant}, previous: StatusReadyToShip},
		{name: "ship on hold", from: payableOrder(), steps: []step{merge(disputeFact("dp_1", "needs_response")), shipAll}, wantErr: CodeConflict,
			want: StatusOnHold, reasons: []HoldReason{HoldDispute}, previous: StatusReadyToShip, hasDispute: true},
		{name: "no payment brings a merchant-canceled order back", from: candidate(StatusAwaitingPayment, PaymentUnpaid, 2), steps: []step{cancelIt, merge(candidate(StatusReadyToShip, PaymentPaid, 2))},
			want: StatusCanceled, cancel: CancelMerchant},
		{name: "held while awaiting payment, paid while held", from: candidate(StatusAwaitingPayment, PaymentUnpaid, 2), steps: []step{hold, merge(candidate(StatusReadyToShip, PaymentPaid, 2))},
			want: StatusOnHold, reasons: []HoldReason{HoldMerchant}, previous: StatusReadyToShip},
		{name: "held while awaiting payment, payment failed", from: candidate(StatusAwaitingPayment, PaymentUnpaid, 2), steps: []step{hold, merge(candidate(StatusCanceled, PaymentUnpaid, 0))},
			want: StatusCanceled, cancel: CancelPaymentFailed},
		{name: "a refund fact before the order was paid applies once paid", from: candidate(StatusAwaitingPayment, PaymentUnpaid, 2), steps: []step{merge(refundFact(100, false)), merge(candidate(StatusReadyToShip, PaymentPaid, 2))},
			want: StatusOnHold, reasons: []HoldReason{HoldRefundPartial}, previous: StatusReadyToShip, refunded: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := tt.from
			var err error
			for i, s := range tt.steps {
				var next Order
				next, _, err = s.do(o)
				if err != nil && i < len(tt.steps)-1 {
					t.Fatalf("step %d (%s): %v", i, s.name, err)
				}
				if err == nil {
					o = next
				}
			}
			switch {
			case tt.wantErr == 0 && err != nil:
				t.Fatalf("last step: %v", err)
			case tt.wantErr != 0 && Find(err, tt.wantErr) == nil:
				t.Fatalf("last step: error %v, want code %v", err, tt.wantErr)
			}
			if o.Status != tt.want || o.CancelReason != tt.cancel || o.AmountRefunded != tt.refunded || (o.Dispute != nil) != tt.hasDispute {
				t.Errorf("got %s cancel=%q refunded=%d dispute=%v, want %s cancel=%q refunded=%d dispute=%v",
					o.Status, o.CancelReason, o.AmountRefunded, o.Dispute != nil, tt.want, tt.cancel, tt.refunded, tt.hasDispute)
			}
			switch {
			case tt.reasons == nil && o.Hold != nil:
				t.Errorf("hold %+v, want none", *o.Hold)
			case tt.reasons != nil && o.Hold == nil:
				t.Errorf("no hold, want %v", tt.reasons)
			case tt.reasons != nil && (!slices.Equal(o.Hold.Reasons, tt.reasons) || o.Hold.PreviousStatus != tt.previous):
				t.Errorf("hold %v from %s, want %v from %s", o.Hold.Reasons, o.Hold.PreviousStatus, tt.reasons, tt.previous)
			}
			if (o.Status == StatusOnHold) != (o.Hold != nil) {
				t.Errorf("status %s with hold %v", o.Status, o.Hold)
			}
		})
	}
}

// TestHoldKeepsSinceAndNote: a hold that gains or loses reasons keeps when
// it began and the merchant's note.
func TestHoldKeepsSinceAndNote(t *testing.T) {
	t.Parallel()
	o, _, err := payableOrder().HoldByMerchant("call the buyer", "alice", holdT0)
	if err != nil {
		t.Fatal(err)
	}
	o, _ = o.Merge(disputeFact("dp_1", "needs_response"))
	o, _ = o.Merge(disputeFact("dp_1", "won"))
	if o.Hold == nil || !o.Hold.Since.Equal(holdT0) || o.Hold.Note != "call the buyer" || !slices.Equal(o.Hold.Reasons, []HoldReason{HoldMerchant}) {
		t.Fatalf("hold %+v, want merchant since %v with the note", o.Hold, holdT0)
	}
	if _, _, err := o.HoldByMerchant(strings.Repeat("é", MaxNoteLen+1), "alice", holdT0); Find(err, CodeInvalid) == nil {
		t.Errorf("long note: %v, want invalid", err)
	}
	if _, _, err := o.HoldByMerchant("ring \x1b[31mnow", "alice", holdT0); Find(err, CodeInvalid) == nil {
		t.Errorf("note with an escape: %v, want invalid", err)
	}
	if _, _, err := o.HoldByMerchant("line one\nline two\tend", "alice", holdT0); err != nil {
		t.Errorf("note with a line break: %v", err)
	}
	if _, changed, err := o.HoldByMerchant("", "alice", holdT0); err != nil || changed {
		t.Errorf("holding again without a note: changed %v, %v; want no change", changed, err)
	}
}

// TestMoneyFactsOrderIndependent: Stripe's reads of each object arrive in
// the order they were made (one charge's events are handled one at a
// time), interleaved in every possible way with each other and with the
// checkout event that creates the order; the final order is always the
// same, and the one the final facts give.
func TestMoneyFactsOrderIndependent(t *testing.T) {
	t.Parallel()
	paid := payableOrder()
	scenarios := []struct {
		name    string
		objects [][]Order // per object, its reads in time order
		want    Status
		cancel  CancelReason
		reasons []HoldReason
	}{
		{"partly refunded, dispute won, fraud warning",
			[][]Order{{refundFact(300, false)}, {disputeFact("dp_1", "needs_response"), disputeFact("dp_1", "under_review"), disputeFact("dp_1", "won")}, {warningFact("issfr_1")}},
			StatusOnHold, "", []HoldReason{HoldRefundPartial, HoldFraudWarning}},
		{"partly then fully refunded, dispute open",
			[][]Order{{refundFact(300, false), refundFact(1000, true)}, {disputeFact("dp_1", "needs_response")}},
			StatusCanceled, CancelRefunded, nil},
		{"dispute lost, fraud warning",
			[][]Order{{disputeFact("dp_1", "needs_response"), disputeFact("dp_1", "lost")}, {warningFact("issfr_1")}},
			StatusCanceled, CancelDisputeLost, nil},
		{"inquiry closed",
			[][]Order{{disputeFact("dp_1", "warning_needs_response"), disputeFact("dp_1", "warning_closed")}},
			StatusReadyToShip, "", nil},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			seqs := [][]Order{{paid}}
			seqs = append(seqs, sc.objects...)
			var first *Order
			n := 0
			interleavings(seqs, func(order []Order) {
				n++
				// The first event creates the order: a money event
				// overtaking checkout's reads the session (paid) first.
				o := order[0]
				if o.Status == "" {
					o = paid.withMoney(order[0], order[0].UpdatedAt)
				}
				for _, ev := range order[1:] {
					o, _ = o.Merge(ev)
				}
				if o.Status != sc.want || o.CancelReason != sc.cancel || !slices.Equal(holdReasons(o), sc.reasons) {
					t.Fatalf("%s: %s %q %v, want %s %q %v", describe(order), o.Status, o.CancelReason, holdReasons(o), sc.want, sc.cancel, sc.reasons)
				}
				if first == nil {
					first = &o
					return
				}
				if got, want := asJSON(t, stripTimes(o)), asJSON(t, stripTimes(*first)); got != want {
					t.Fatalf("%s:\n%s\nfirst:\n%s", describe(order), got, want)
				}
			})
			if n < 2 {
				t.Fatalf("%d interleavings", n)
			}
		})
	}
}

func asJSON(t *testing.T, o Order) string {
	t.Helper()
	b, err := json.Marshal(struct {
		Order
		Refunded bool
		Released Release
	}{o, o.Refunded, o.Released})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func holdReasons(o Order) []HoldReason {
	if o.Hold == nil {
		return nil
	}
	return o.Hold.Reasons
}

// stripTimes leaves out when the hold began (the first hold's time) so
// orders reached in different orders compare.
func stripTimes(o Order) Order {
	if o.Hold != nil {
		h := *o.Hold
		h.Since = time.Time{}
		o.Hold = &h
	}
	return o
}

func describe(order []Order) string {
	var parts []string
	for _, o := range order {
		switch {
		case o.Status != "":
			parts = append(parts, "checkout")
		case o.Dispute != nil:
			parts = append(parts, "dispute:"+o.Dispute.Status)
		case o.FraudWarning != nil:
			parts = append(parts, "warning")
		default:
			parts = append(parts, fmt.Sprintf("refund:%d", o.AmountRefunded))
		}
	}
	return strings.Join(parts, ", ")
}

// interleavings calls f with every merge of seqs that keeps each seq's
// own order.
func interleavings(seqs [][]Order, f func([]Order)) {
	pos := make([]int, len(seqs))
	total := 0
	for _, s := range seqs {
		total += len(s)
	}
	out := make([]Order, 0, total)
	var rec func()
	rec = func() {
		if len(out) == total {
			f(slices.Clone(out))
			return
		}
		for i, s := range seqs {
			if pos[i] < len(s) {
				out = append(out, s[pos[i]])
				pos[i]++
				rec()
				pos[i]--
				out = out[:len(out)-1]
			}
		}
	}
	rec()
}
