package fulfillment

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// EventSuccessPage is the event type recorded for a success-page fulfil.
const EventSuccessPage = "success_page.fulfill"

// successPageRetry is the Retry-After of a success-page fulfil that Stripe
// could not answer in time.
const successPageRetry = 2 * time.Second

// SuccessPageEventID is the id under which a success-page fulfil of the
// session in payment state ps is recorded: the same on every reload, so a
// reload changes nothing, and new once the payment moves on.
func SuccessPageEventID(sessionID string, ps PaymentStatus) string {
	return "success_page:" + sessionID + ":" + string(ps)
}

// FulfillSession is the success-page fulfil: the merchant's Checkout
// success page passes the session id it was redirected with, and gets the
// order. It reads the session from Stripe (one request, line items
// embedded) and records it exactly as a webhook would, so it is safe to
// run beside the webhook for the same session and on every reload.
//
// An order that has its line items and a settled payment is returned
// without a request: nothing Stripe says can move it on. Errors: a session
// Stripe does not know wraps ErrNotFound; an open or expired one is an
// ErrConflict (no order); when Stripe does not answer (ctx's deadline, a
// 429, an outage) the error carries a RetryAfter.
func (p *Processor) FulfillSession(ctx context.Context, sessionID string) (Order, error) {
	if sessionID == "" {
		return Order{}, Errorf(CodeNotFound, "no checkout session id")
	}
	unlock, err := p.sessions.lock(ctx, sessionID)
	if err != nil {
		return Order{}, RetryAfter(fmt.Errorf("wait for session %s: %w", sessionID, err), successPageRetry)
	}
	defer unlock()
	existing, err := p.Orders.OrderBySession(ctx, sessionID)
	switch {
	case err == nil && len(existing.LineItems) > 0 && existing.PaymentStatus.Settled():
		return existing, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return Order{}, fmt.Errorf("load order: %w", err)
	}
	sess, lines, err := p.Stripe.SessionWithLineItems(ctx, sessionID)
	switch {
	case errors.Is(err, ErrNotFound):
		return Order{}, fmt.Errorf("checkout session %s: %w", sessionID, err)
	case IsPermanent(err):
		return Order{}, fmt.Errorf("retrieve checkout session %s: %w", sessionID, err)
	case err != nil:
		after, ok := RetryDelay(err)
		if !ok || after < successPageRetry {
			after = successPageRetry
		}
		return Order{}, RetryAfter(fmt.Errorf("retrieve checkout session %s: %w", sessionID, err), after)
	}
	if sess.Status != "complete" {
		return Order{}, Errorf(CodeConflict, "checkout session %s is %s: an order is made once it is complete", sessionID, sess.Status)
	}
	status, payment := target(EventSessionCompleted, sess.PaymentStatus)
	candidate := orderFrom(sess, status, payment)
	candidate.LineItems = p.tag(sess.ID, lines.Items)
	now := p.now()
	candidate.CreatedAt, candidate.UpdatedAt = now, now
	o, _, err := p.Orders.Record(ctx, SuccessPageEventID(sessionID, sess.PaymentStatus), EventSuccessPage, candidate)
	if err != nil {
		return Order{}, fmt.Errorf("record order: %w", err)
	}
	return o, nil
}
