package stripeapi_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
)

const (
	crossPI     = "pi_3OCFUqKx8wUb3Zqv0CrossS1" // cs_test_crosssell, amount_total 99726
	crossCharge = "ch_3OCFUqKx8wUb3Zqv0CrossS1"
	subInvoice  = "in_1OCFYkKx8wUb3ZqvInvSub1" // cs_test_subscription, amount_total 7800
	subCharge   = "ch_1OCFYkKx8wUb3ZqvInvSub1"
	subPI       = "pi_1OCFYkKx8wUb3ZqvInvSub1" // the invoice's payment intent: no session names it
)

func TestChargeDisputeFraudWarning(t *testing.T) {
	t.Parallel()
	emu, url := emulator(t, stripeemu.Options{}, "cs_test_crosssell", "cs_test_subscription")
	c := newClient(url, withNoRetries)
	ctx := context.Background()

	if _, err := emu.Refund("cs_test_crosssell", 726); err != nil {
		t.Fatal(err)
	}
	ch, err := c.Charge(ctx, crossCharge)
	if err != nil {
		t.Fatal(err)
	}
	if want := (fulfillment.Charge{ID: crossCharge, Amount: 99726, AmountRefunded: 726,
		Payment: fulfillment.Payment{PaymentIntent: crossPI}}); ch != want {
		t.Errorf("Charge = %+v, want %+v", ch, want)
	}
	if _, err := emu.Refund(subCharge, 0); err != nil {
		t.Fatal(err)
	}
	ch, err = c.Charge(ctx, subCharge)
	if err != nil {
		t.Fatal(err)
	}
	if want := (fulfillment.Charge{ID: subCharge, Amount: 7800, AmountRefunded: 7800, Refunded: true,
		Payment: fulfillment.Payment{PaymentIntent: subPI, Invoice: subInvoice}}); ch != want {
		t.Errorf("Charge = %+v, want %+v", ch, want)
	}

	// A dispute of a subscription's charge names the invoice too: the
	// charge comes expanded, in the same request.
	dID, err := emu.OpenDispute("cs_test_subscription", "fraudulent", false)
	if err != nil {
		t.Fatal(err)
	}
	before := c.Requests()
	d, err := c.Dispute(ctx, dID)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Requests() - before; n != 1 {
		t.Errorf("Dispute took %d requests, want 1", n)
	}
	if d.ID != dID || d.Status != "needs_response" || d.Reason != "fraudulent" || d.Amount != 7800 || d.Charge != subCharge ||
		d.Payment != (fulfillment.Payment{PaymentIntent: subPI, Invoice: subInvoice}) || d.Created.IsZero() || !d.Open() {
		t.Errorf("Dispute = %+v", d)
	}
	if err := emu.SetDisputeStatus(dID, "won"); err != nil {
		t.Fatal(err)
	}
	if d, err := c.Dispute(ctx, dID); err != nil || d.Status != "won" || d.Open() {
		t.Errorf("Dispute after won = %+v, %v", d, err)
	}

	wID, err := emu.WarnFraud("cs_test_crosssell", "made_with_stolen_card", true)
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.FraudWarning(ctx, wID)
	if err != nil {
		t.Fatal(err)
	}
	if w.ID != wID || w.FraudType != "made_with_stolen_card" || !w.Actionable || w.Charge != crossCharge ||
		w.Payment != (fulfillment.Payment{PaymentIntent: crossPI}) || w.Created.IsZero() {
		t.Errorf("FraudWarning = %+v", w)
	}
}

func TestPaymentObjectErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		call      func(*stripeapi.Client) error
		fail      int // status of an injected failure; 0 none
		permanent bool
		notFound  bool
		requests  int64
	}{
		{name: "unknown charge", call: func(c *stripeapi.Client) error { _, err := c.Charge(context.Background(), "ch_nope"); return err },
			permanent: true, notFound: true, requests: 1},
		{name: "unknown dispute", call: func(c *stripeapi.Client) error { _, err := c.Dispute(context.Background(), "dp_nope"); return err },
			permanent: true, notFound: true, requests: 1},
		{name: "unknown warning", call: func(c *stripeapi.Client) error {
			_, err := c.FraudWarning(context.Background(), "issfr_nope")
			return err
		}, permanent: true, notFound: true, requests: 1},
		{name: "empty id", call: func(c *stripeapi.Client) error { _, err := c.Charge(context.Background(), ""); return err },
			permanent: true},
		{name: "503", call: func(c *stripeapi.Client) error { _, err := c.Charge(context.Background(), crossCharge); return err },
			fail: http.StatusServiceUnavailable, requests: 1},
		{name: "unknown invoice", call: func(c *stripeapi.Client) error {
			_, err := c.SessionForPayment(context.Background(), fulfillment.Payment{Invoice: "in_nope"})
			return err
		}, permanent: true, notFound: true, requests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			emu, url := emulator(t, stripeemu.Options{}, "cs_test_crosssell")
			if tt.fail != 0 {
				emu.FailNext(1, tt.fail)
			}
			c := newClient(url, withNoRetries)
			err := tt.call(c)
			if err == nil {
				t.Fatal("no error")
			}
			if fulfillment.IsPermanent(err) != tt.permanent || errors.Is(err, fulfillment.ErrNotFound) != tt.notFound {
				t.Errorf("err = %v: permanent %v, not found %v; want %v, %v", err, fulfillment.IsPermanent(err),
					errors.Is(err, fulfillment.ErrNotFound), tt.permanent, tt.notFound)
			}
			if c.Requests() != tt.requests {
				t.Errorf("Requests() = %d, want %d", c.Requests(), tt.requests)
			}
		})
	}
}

func TestSessionForPayment(t *testing.T) {
	t.Parallel()
	emu, url := emulator(t, stripeemu.Options{}, "cs_test_crosssell", "cs_test_subscription", "cs_test_free")
	if _, err := emu.AddCharge("pi_elsewhere", 500); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		payment  fulfillment.Payment
		want     string // "": not found
		requests int64
	}{
		{"payment intent", fulfillment.Payment{PaymentIntent: crossPI}, "cs_test_crosssell", 1},
		{"invoice of a subscription", fulfillment.Payment{Invoice: subInvoice}, "cs_test_subscription", 2},
		// The invoice's own payment intent is no session's: the invoice decides.
		{"invoice charge", fulfillment.Payment{PaymentIntent: subPI, Invoice: subInvoice}, "cs_test_subscription", 3},
		{"a payment no session made", fulfillment.Payment{PaymentIntent: "pi_elsewhere"}, "", 1},
		{"nothing", fulfillment.Payment{}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClient(url, withNoRetries)
			got, err := c.SessionForPayment(context.Background(), tt.payment)
			switch {
			case tt.want == "" && (!errors.Is(err, fulfillment.ErrNotFound) || !fulfillment.IsPermanent(err)):
				t.Errorf("SessionForPayment = %q, %v; want a permanent ErrNotFound", got, err)
			case tt.want != "" && (err != nil || got != tt.want):
				t.Errorf("SessionForPayment = %q, %v; want %q", got, err, tt.want)
			}
			if c.Requests() != tt.requests {
				t.Errorf("Requests() = %d, want %d", c.Requests(), tt.requests)
			}
		})
	}
}

func TestSessionNamesItsPayment(t *testing.T) {
	t.Parallel()
	_, url := emulator(t, stripeemu.Options{}, "cs_test_crosssell", "cs_test_subscription", "cs_test_free")
	c := newClient(url, withNoRetries)
	for id, want := range map[string]fulfillment.Payment{
		"cs_test_crosssell":    {PaymentIntent: crossPI},
		"cs_test_subscription": {Invoice: subInvoice},
		"cs_test_free":         {},
	} {
		s, err := c.Session(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Payment != want {
			t.Errorf("%s: Payment = %+v, want %+v", id, s.Payment, want)
		}
		s, _, err = c.SessionWithLineItems(context.Background(), id)
		if err != nil || s.Payment != want {
			t.Errorf("%s with line items: Payment = %+v (%v), want %+v", id, s.Payment, err, want)
		}
	}
}
