package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// The objects of money events (fulfillment.PaymentReader): one request
// each, through the same limiter and error classification as sessions. A
// 404 wraps fulfillment.ErrNotFound.

// Charge retrieves a charge (GET /v1/charges/{id}).
func (c *Client) Charge(ctx context.Context, id string) (fulfillment.Charge, error) {
	if id == "" {
		return fulfillment.Charge{}, fulfillment.Permanent(errors.New("retrieve charge: empty id"))
	}
	params := &stripe.ChargeParams{}
	params.Context = ctx
	ch, err := c.api.Charges.Get(id, params)
	if err != nil {
		return fulfillment.Charge{}, classify("retrieve charge "+id, err)
	}
	return ChargeFromStripe(ch), nil
}

// ChargeFromStripe maps a charge as stripe-go decodes it.
func ChargeFromStripe(ch *stripe.Charge) fulfillment.Charge {
	return fulfillment.Charge{ID: ch.ID, Amount: ch.Amount, AmountRefunded: ch.AmountRefunded,
		Refunded: ch.Refunded, Payment: chargePayment(ch)}
}

// chargePayment is the payment a charge names: its payment_intent and
// invoice, ids or expanded objects.
func chargePayment(ch *stripe.Charge) fulfillment.Payment {
	var p fulfillment.Payment
	if ch == nil {
		return p
	}
	if ch.PaymentIntent != nil {
		p.PaymentIntent = ch.PaymentIntent.ID
	}
	if ch.Invoice != nil {
		p.Invoice = ch.Invoice.ID
	}
	return p
}

// Dispute retrieves a dispute with its charge expanded (GET
// /v1/disputes/{id}?expand[]=charge: one request), so that Payment names
// the charge's invoice as well as the payment intent. An answer without
// the expansion and without a payment_intent costs a second request, for
// the charge.
func (c *Client) Dispute(ctx context.Context, id string) (fulfillment.Dispute, error) {
	if id == "" {
		return fulfillment.Dispute{}, fulfillment.Permanent(errors.New("retrieve dispute: empty id"))
	}
	params := &stripe.DisputeParams{}
	params.Context = ctx
	params.AddExpand("charge")
	d, err := c.api.Disputes.Get(id, params)
	if err != nil {
		return fulfillment.Dispute{}, classify("retrieve dispute "+id, err)
	}
	out := fulfillment.Dispute{ID: d.ID, Status: string(d.Status), Reason: string(d.Reason), Amount: d.Amount,
		Created: time.Unix(d.Created, 0).UTC()}
	if d.PaymentIntent != nil {
		out.Payment.PaymentIntent = d.PaymentIntent.ID
	}
	out.Charge, out.Payment, err = c.objectCharge(ctx, "dispute "+id, d.Charge, out.Payment)
	return out, err
}

// FraudWarning retrieves an early fraud warning with its charge expanded
// (GET /v1/radar/early_fraud_warnings/{id}?expand[]=charge), as Dispute
// does.
func (c *Client) FraudWarning(ctx context.Context, id string) (fulfillment.FraudWarning, error) {
	if id == "" {
		return fulfillment.FraudWarning{}, fulfillment.Permanent(errors.New("retrieve early fraud warning: empty id"))
	}
	params := &stripe.RadarEarlyFraudWarningParams{}
	params.Context = ctx
	params.AddExpand("charge")
	w, err := c.api.RadarEarlyFraudWarnings.Get(id, params)
	if err != nil {
		return fulfillment.FraudWarning{}, classify("retrieve early fraud warning "+id, err)
	}
	out := fulfillment.FraudWarning{ID: w.ID, FraudType: string(w.FraudType), Actionable: w.Actionable,
		Created: time.Unix(w.Created, 0).UTC()}
	if w.PaymentIntent != nil {
		out.Payment.PaymentIntent = w.PaymentIntent.ID
	}
	out.Charge, out.Payment, err = c.objectCharge(ctx, "early fraud warning "+id, w.Charge, out.Payment)
	return out, err
}

// objectCharge returns the charge id of a dispute or warning and its
// payment: p completed from the charge, expanded (as asked) or, when it came
// as an id and p has no payment intent, read.
func (c *Client) objectCharge(ctx context.Context, what string, ch *stripe.Charge, p fulfillment.Payment) (string, fulfillment.Payment, error) {
	if ch == nil || ch.ID == "" {
		return "", p, fulfillment.Permanent(fmt.Errorf("%s: no charge", what))
	}
	full := chargePayment(ch)
	if ch.Object == "" && p.PaymentIntent == "" { // not expanded
		read, err := c.Charge(ctx, ch.ID)
		if err != nil {
			return ch.ID, p, fmt.Errorf("%s: %w", what, err)
		}
		full = read.Payment
	}
	if p.PaymentIntent == "" {
		p.PaymentIntent = full.PaymentIntent
	}
	if p.Invoice == "" {
		p.Invoice = full.Invoice
	}
	return ch.ID, p, nil
}

// SessionForPayment finds the Checkout Session that made a payment: the
// session of its payment intent (GET
// /v1/checkout/sessions?payment_intent=…&limit=1), else, for an invoice,
// the session of the invoice's subscription whose invoice it is (GET
// /v1/invoices/{id}, then GET /v1/checkout/sessions?subscription=…): a
// renewal's invoice has none. No session: an error wrapping
// fulfillment.ErrNotFound.
func (c *Client) SessionForPayment(ctx context.Context, p fulfillment.Payment) (string, error) {
	if p.PaymentIntent != "" {
		params := &stripe.CheckoutSessionListParams{PaymentIntent: stripe.String(p.PaymentIntent)}
		id, err := c.firstSession(ctx, params, func(*stripe.CheckoutSession) bool { return true })
		if err != nil || id != "" {
			return id, err
		}
	}
	if p.Invoice != "" {
		params := &stripe.InvoiceParams{}
		params.Context = ctx
		in, err := c.api.Invoices.Get(p.Invoice, params)
		if err != nil {
			return "", classify("retrieve invoice "+p.Invoice, err)
		}
		if in.Subscription != nil && in.Subscription.ID != "" {
			params := &stripe.CheckoutSessionListParams{Subscription: stripe.String(in.Subscription.ID)}
			id, err := c.firstSession(ctx, params, func(s *stripe.CheckoutSession) bool {
				return s.Invoice != nil && s.Invoice.ID == p.Invoice
			})
			if err != nil || id != "" {
				return id, err
			}
		}
	}
	return "", fulfillment.Permanent(fmt.Errorf("checkout session of payment intent %q, invoice %q: %w",
		p.PaymentIntent, p.Invoice, fulfillment.ErrNotFound))
}

// firstSession returns the id of the first listed session that passes keep,
// or "": one request for a payment intent (limit 1), pages of 100 for a
// subscription.
func (c *Client) firstSession(ctx context.Context, params *stripe.CheckoutSessionListParams, keep func(*stripe.CheckoutSession) bool) (string, error) {
	params.Context = ctx
	params.Limit = stripe.Int64(pageSize)
	if params.PaymentIntent != nil {
		params.Limit = stripe.Int64(1)
		params.Single = true
	}
	it := c.sessions.List(params)
	for it.Next() {
		if s := it.CheckoutSession(); keep(s) {
			return s.ID, nil
		}
	}
	if err := it.Err(); err != nil {
		return "", classify("list checkout sessions", err)
	}
	return "", nil
}
