package fulfillment

import (
	"testing"
)

func candidate(status Status, pay PaymentStatus, items int) Order {
	o := Order{ID: OrderID("cs_1"), CheckoutSessionID: "cs_1", Status: status, PaymentStatus: pay, Currency: "usd", AmountTotal: 500}
	if status == StatusCanceled {
		o.CancelReason = CancelPaymentFailed
	}
	for i := range items {
		o.LineItems = append(o.LineItems, LineItem{ID: "li_" + string(rune('a'+i)), Quantity: 1})
	}
	return o
}

// permutations calls f with every ordering of xs.
func permutations(xs []Order, f func([]Order)) {
	var rec func(int)
	rec = func(k int) {
		if k == len(xs) {
			f(append([]Order(nil), xs...))
			return
		}
		for i := k; i < len(xs); i++ {
			xs[k], xs[i] = xs[i], xs[k]
			rec(k + 1)
			xs[k], xs[i] = xs[i], xs[k]
		}
	}
	rec(0)
}

func TestMergeOrderIndependent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		events     []Order
		wantStatus Status
		wantPay    PaymentStatus
	}{
		{"paid at completion", []Order{candidate(StatusReadyToShip, PaymentPaid, 2)}, StatusReadyToShip, PaymentPaid},
		{"unpaid then succeeded", []Order{candidate(StatusAwaitingPayment, PaymentUnpaid, 2), candidate(StatusReadyToShip, PaymentPaid, 2)}, StatusReadyToShip, PaymentPaid},
		{"unpaid then failed", []Order{candidate(StatusAwaitingPayment, PaymentUnpaid, 2), candidate(StatusCanceled, PaymentUnpaid, 0)}, StatusCanceled, PaymentUnpaid},
		{"no payment required", []Order{candidate(StatusReadyToShip, PaymentNoPaymentRequired, 1), candidate(StatusAwaitingPayment, PaymentUnpaid, 1)}, StatusReadyToShip, PaymentNoPaymentRequired},
		{"completed three times and succeeded", []Order{
			candidate(StatusAwaitingPayment, PaymentUnpaid, 2), candidate(StatusAwaitingPayment, PaymentUnpaid, 2),
			candidate(StatusReadyToShip, PaymentPaid, 0), candidate(StatusAwaitingPayment, PaymentUnpaid, 2),
		}, StatusReadyToShip, PaymentPaid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			permutations(tt.events, func(seq []Order) {
				got := seq[0]
				for _, next := range seq[1:] {
					got, _ = got.Merge(next)
				}
				if got.Status != tt.wantStatus || got.PaymentStatus != tt.wantPay {
					t.Errorf("sequence %v: got %s/%s, want %s/%s", statuses(seq), got.Status, got.PaymentStatus, tt.wantStatus, tt.wantPay)
				}
				if len(got.LineItems) == 0 {
					t.Errorf("sequence %v: line items lost", statuses(seq))
				}
			})
		})
	}
}

func statuses(seq []Order) []Status {
	out := make([]Status, len(seq))
	for i, o := range seq {
		out[i] = o.Status
	}
	return out
}

func TestMergeReportsChange(t *testing.T) {
	t.Parallel()
	base := candidate(StatusAwaitingPayment, PaymentUnpaid, 2)
	if _, changed := base.Merge(base); changed {
		t.Error("merging an order with itself reported a change")
	}
	if _, changed := base.Merge(candidate(StatusReadyToShip, PaymentPaid, 2)); !changed {
		t.Error("payment settling reported no change")
	}
	noItems := candidate(StatusAwaitingPayment, PaymentUnpaid, 0)
	if got, changed := noItems.Merge(base); !changed || len(got.LineItems) != 2 {
		t.Errorf("line items becoming known: changed=%v items=%d", changed, len(got.LineItems))
	}
	if got, changed := candidate(StatusReadyToShip, PaymentPaid, 2).Merge(candidate(StatusCanceled, PaymentUnpaid, 0)); changed || got.Status != StatusReadyToShip {
		t.Errorf("a shipped-ready order was moved to %s (changed=%v)", got.Status, changed)
	}
}

func TestOrderIDStable(t *testing.T) {
	t.Parallel()
	a, b := OrderID("cs_test_a"), OrderID("cs_test_b")
	if a != OrderID("cs_test_a") || a == b || len(a) != len("ord_")+24 {
		t.Errorf("OrderID: %q %q", a, b)
	}
}
