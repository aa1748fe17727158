package fulfillment

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// processMoney applies a money event: it reads the event's object (charge,
// dispute, early fraud warning) from Stripe, finds the order of its
// payment, and records what the object says on it. When the payment's
// order does not exist yet (the money event overtook the checkout events),
// it finds the session that made the payment and records its order first,
// in the same transaction. A payment that no session made is
// OutcomeNoSession.
//
// What the order records is what Stripe said when asked, never the
// delivered snapshot; the events of one charge are handled one at a time
// in this process, so the last answer recorded is the newest.
func (p *Processor) processMoney(ctx context.Context, ev Event) (Result, error) {
	var res Result
	if ev.Object == "" {
		return res, Permanent(fmt.Errorf("event %s (%s): no object id", ev.ID, ev.Type))
	}
	if p.Payments == nil {
		return res, Permanent(fmt.Errorf("event %s (%s): money events are not read here", ev.ID, ev.Type))
	}
	key := ev.Charge
	if key == "" {
		key = ev.Object
	}
	unlock, err := p.sessions.lock(ctx, "charge:"+key)
	if err != nil {
		return res, fmt.Errorf("wait for charge %s: %w", key, err)
	}
	defer unlock()

	// A redelivery of an event already recorded costs no Stripe request
	// (Record would refuse it as a duplicate after the reads).
	if done, err := p.Orders.EventProcessed(ctx, ev.ID); err != nil {
		return res, fmt.Errorf("check processed events: %w", err)
	} else if done {
		res.Outcome = OutcomeDuplicate
		return res, nil
	}
	facts, pay, calls, err := p.readMoney(ctx, ev)
	res.Calls += calls
	if err != nil {
		return res, err
	}
	candidate, err := p.paymentOrder(ctx, pay, &res)
	if errors.Is(err, ErrNotFound) {
		res.Outcome = OutcomeNoSession
		p.logger().Info("money event about a payment no checkout session made",
			"event_id", ev.ID, "type", ev.Type, "object", ev.Object,
			"payment_intent", pay.PaymentIntent, "invoice", pay.Invoice)
		return res, nil
	}
	if err != nil {
		return res, err
	}
	now := p.now()
	candidate = candidate.withMoney(facts, now)
	candidate.CreatedAt, candidate.UpdatedAt = now, now
	res.Order, res.Outcome, err = p.Orders.Record(ctx, ev.ID, ev.Type, candidate)
	if err != nil {
		return res, fmt.Errorf("record order: %w", err)
	}
	return res, nil
}

// readMoney reads the object of a money event and returns its facts as
// an order's money fields, the payment it belongs to, and the requests it
// took.
func (p *Processor) readMoney(ctx context.Context, ev Event) (facts Order, pay Payment, calls int, err error) {
	switch MoneyObject(ev.Type) {
	case objectCharge:
		c, err := p.Payments.Charge(ctx, ev.Object)
		if err != nil {
			return facts, pay, 1, fmt.Errorf("retrieve charge: %w", err)
		}
		facts.AmountRefunded, facts.Refunded = c.AmountRefunded, c.Refunded
		return facts, c.Payment, 1, nil
	case objectDispute:
		d, err := p.Payments.Dispute(ctx, ev.Object)
		if err != nil {
			return facts, pay, 1, fmt.Errorf("retrieve dispute: %w", err)
		}
		facts.Dispute = &d
		return facts, d.Payment, 1, nil
	default:
		w, err := p.Payments.FraudWarning(ctx, ev.Object)
		if err != nil {
			return facts, pay, 1, fmt.Errorf("retrieve early fraud warning: %w", err)
		}
		facts.FraudWarning = &w
		return facts, w.Payment, 1, nil
	}
}

// paymentOrder is the candidate order a money fact is recorded on: the
// recorded order of the payment, or, when there is none yet, the order of
// the session that made the payment, read from Stripe with its line items
// (an error wrapping ErrNotFound when no session made it).
func (p *Processor) paymentOrder(ctx context.Context, pay Payment, res *Result) (Order, error) {
	if pay == (Payment{}) {
		return Order{}, fmt.Errorf("no payment intent or invoice: %w", ErrNotFound)
	}
	o, err := p.Orders.OrderByPayment(ctx, pay)
	switch {
	case err == nil:
		return Order{ID: o.ID, CheckoutSessionID: o.CheckoutSessionID}, nil
	case !errors.Is(err, ErrNotFound):
		return Order{}, fmt.Errorf("load order of payment: %w", err)
	}
	sessionID, err := p.Payments.SessionForPayment(ctx, pay)
	res.Calls++
	if err != nil {
		return Order{}, fmt.Errorf("find the session of payment %s: %w", payString(pay), err)
	}
	sess, lines, err := p.Stripe.SessionWithLineItems(ctx, sessionID)
	res.Calls += lines.Requests
	if err != nil {
		return Order{}, fmt.Errorf("retrieve session %s with line items: %w", sessionID, err)
	}
	status, payment := target(EventSessionCompleted, sess.PaymentStatus)
	candidate := orderFrom(sess, status, payment)
	candidate.LineItems = p.tag(sess.ID, lines.Items)
	return candidate, nil
}

// withMoney is o with the money facts of facts (what Stripe said about a
// charge, a dispute or a warning), settled: a new order made from a
// session is held or canceled from the start if its payment says so.
func (o Order) withMoney(facts Order, now time.Time) Order {
	o.AmountRefunded, o.Refunded = facts.AmountRefunded, facts.Refunded
	o.Dispute, o.FraudWarning = facts.Dispute, facts.FraudWarning
	return o.settle(now)
}

func payString(p Payment) string {
	return strings.Trim(p.PaymentIntent+" "+p.Invoice, " ")
}
