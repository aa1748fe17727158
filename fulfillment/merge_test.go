package fulfillment

import "testing"

// TestMergeSettledPaymentWinsTie: ready_to_ship and canceled rank the same;
// the one with the settled payment wins, in either order, so an order is
// never canceled yet paid.
func TestMergeSettledPaymentWinsTie(t *testing.T) {
	t.Parallel()
	succeeded := candidate(StatusReadyToShip, PaymentPaid, 0)
	failed := candidate(StatusCanceled, PaymentUnpaid, 0)
	for _, seq := range [][2]Order{{succeeded, failed}, {failed, succeeded}} {
		got, _ := seq[0].Merge(seq[1])
		if got.Status != StatusReadyToShip || got.PaymentStatus != PaymentPaid {
			t.Errorf("%s then %s: %s/%s, want ready_to_ship/paid", seq[0].Status, seq[1].Status, got.Status, got.PaymentStatus)
		}
	}
	if _, changed := failed.Merge(succeeded); !changed {
		t.Error("canceled → ready_to_ship reported no change")
	}
	if got, changed := failed.Merge(failed); changed || got.Status != StatusCanceled {
		t.Errorf("canceled merged with itself: %s, changed %v", got.Status, changed)
	}
}

// TestMergeCheckoutDetails: totals and the Stripe customer, once known, are
// kept; unknown ones are filled in, and that is a change.
func TestMergeCheckoutDetails(t *testing.T) {
	t.Parallel()
	bare := candidate(StatusAwaitingPayment, PaymentUnpaid, 2)
	full := bare
	full.AmountDiscount, full.AmountTax, full.AmountShipping = 8990, 7416, 1500
	full.Customer = Customer{ID: "cus_1", Email: "a@example.com"}
	got, changed := bare.Merge(full)
	if !changed || got.AmountDiscount != 8990 || got.AmountTax != 7416 || got.AmountShipping != 1500 || got.Customer.ID != "cus_1" {
		t.Errorf("details not filled in: changed=%v %+v", changed, got)
	}
	got, changed = full.Merge(bare)
	if changed || got.AmountDiscount != 8990 || got.AmountShipping != 1500 || got.Customer.ID != "cus_1" {
		t.Errorf("known details lost: changed=%v %+v", changed, got)
	}
	named := bare
	named.Customer = Customer{Email: "a@example.com"}
	if got, changed := named.Merge(full); !changed || got.Customer.ID != "cus_1" {
		t.Errorf("customer id not filled in beside a known email: changed=%v %+v", changed, got.Customer)
	}
}
