package fulfillment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Event types fulfillmentd acts on.
const (
	EventSessionCompleted           = "checkout.session.completed"
	EventSessionAsyncPaymentSucceed = "checkout.session.async_payment_succeeded"
	EventSessionAsyncPaymentFailed  = "checkout.session.async_payment_failed"
	// EventSessionExpired is accepted and counted but makes no order: the
	// buyer never completed the session (see Handles).
	EventSessionExpired = "checkout.session.expired"
)

// Handles reports whether events of this type change orders: the checkout
// payment events and the money events (see MoneyObject).
func Handles(eventType string) bool {
	return HandlesCheckout(eventType) || MoneyObject(eventType) != ""
}

// HandlesCheckout reports whether events of this type are checkout payment
// events: about a Checkout Session.
func HandlesCheckout(eventType string) bool {
	switch eventType {
	case EventSessionCompleted, EventSessionAsyncPaymentSucceed, EventSessionAsyncPaymentFailed:
		return true
	}
	return false
}

// Event is a verified Stripe event: about a Checkout Session, with the
// session as the event carried it (a snapshot from the event's time), or
// about money (a charge, a dispute, an early fraud warning: see
// MoneyObject), naming the object.
type Event struct {
	ID      string
	Type    string
	Created time.Time
	Session Session
	// Object is the id of the object of a money event (ch_…, dp_…,
	// issfr_…), and Charge the charge it belongs to (the object itself for
	// a charge). The worker reads the object back from Stripe; Charge
	// serialises the events of one payment.
	Object string
	Charge string
	// Payment is the payment the money event's object names, as the
	// event carried it: how reconcile tells whether it knows the order.
	Payment Payment
}

// SessionReader reads Checkout Sessions from Stripe's API.
type SessionReader interface {
	// Session returns the session's current state: one request.
	Session(ctx context.Context, sessionID string) (Session, error)
	// LineItems returns every line item of the session, all pages (100 a
	// request), with price and product.
	LineItems(ctx context.Context, sessionID string) (Lines, error)
	// SessionWithLineItems returns the session's current state and every
	// line item: one request for a session of up to 10 lines (they come
	// embedded in the session), then 100 a request.
	SessionWithLineItems(ctx context.Context, sessionID string) (Session, Lines, error)
}

// Lines is a session's line items as read from Stripe, and the number of
// API requests the read took (one per page), counted on errors too.
type Lines struct {
	Items    []LineItem
	Requests int
}

// Outcome says what recording an event did.
type Outcome string

// Outcomes of Record.
const (
	OutcomeCreated   Outcome = "created"   // a new order
	OutcomeUpdated   Outcome = "updated"   // the order moved forward
	OutcomeUnchanged Outcome = "unchanged" // the event taught nothing new
	OutcomeDuplicate Outcome = "duplicate" // the event was processed before
	// OutcomeNoSession: a money event about a payment no Checkout Session
	// made (an invoice renewal, a payment outside Checkout). Nothing made.
	OutcomeNoSession Outcome = "no_session"
)

// OrderStore keeps orders. Record must be atomic: the event id is recorded as
// processed in the same transaction that creates or updates the order, the
// order is unique per Checkout Session, and the stored order and the
// candidate are combined with Order.Merge.
type OrderStore interface {
	OrderBySession(ctx context.Context, sessionID string) (Order, error)
	// OrderByPayment returns the order whose session made the payment
	// (by payment intent, else by invoice), or an error wrapping
	// ErrNotFound.
	OrderByPayment(ctx context.Context, p Payment) (Order, error)
	// EventProcessed reports whether an event was recorded already.
	EventProcessed(ctx context.Context, eventID string) (bool, error)
	Record(ctx context.Context, eventID, eventType string, candidate Order) (Order, Outcome, error)
}

// Processor is the use case "process this event".
type Processor struct {
	Stripe SessionReader
	// Payments reads the objects of money events (refunds, disputes,
	// fraud warnings); nil: money events are refused as permanent errors.
	Payments   PaymentReader
	Orders     OrderStore
	CrossSells CrossSells
	Now        func() time.Time
	Log        *slog.Logger

	sessions sessionLocks // one event per session at a time (saves Stripe calls)
}

// Result is what Process did.
type Result struct {
	Order   Order
	Outcome Outcome
	// Calls is the number of Stripe API requests made: one per page of
	// line items (stripe-go's retries of a request not counted). At most
	// one for a session of up to 10 lines, whatever the event.
	Calls int
}

// Process applies one event. It is safe to call many times, concurrently,
// for the same session or the same event: the store's Record serialises and
// merges, and Merge only moves forward.
//
// Stripe is asked only for what the order lacks: the line items of a new
// order (with the session's current state, in the same request, when the
// event leaves the payment open), or the state alone when an event that
// Stripe did not deliver names a recorded order not yet settled. Events for
// a recorded order are applied from the verified delivery without a call.
//
// Errors wrapped with Permanent will not be fixed by retrying; every other
// error is transient.
func (p *Processor) Process(ctx context.Context, ev Event) (Result, error) {
	if ev.ID == "" || ev.Session.ID == "" && ev.Object == "" {
		return Result{}, Permanent(fmt.Errorf("event %q: missing event id, or session or object id", ev.ID))
	}
	if MoneyObject(ev.Type) != "" {
		return p.processMoney(ctx, ev)
	}
	if !HandlesCheckout(ev.Type) {
		return Result{}, Permanent(fmt.Errorf("event %s: type %q is not a checkout payment or money event", ev.ID, ev.Type))
	}
	unlock, err := p.sessions.lock(ctx, ev.Session.ID)
	if err != nil {
		return Result{}, fmt.Errorf("wait for session %s: %w", ev.Session.ID, err)
	}
	defer unlock()
	var res Result
	existing, err := p.Orders.OrderBySession(ctx, ev.Session.ID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return res, fmt.Errorf("load order: %w", err)
	}
	known := err == nil
	needItems := !known || len(existing.LineItems) == 0

	// The payment decision comes from a verified Stripe delivery (the event
	// as Stripe sent it) or from Stripe's API, nothing else. An event that
	// reconcile built (Synthesized) was not delivered by Stripe: it says
	// only "look at this session", and the API answers.
	status, payment := StatusAwaitingPayment, PaymentUnpaid
	delivered := !Synthesized(ev.ID)
	if delivered {
		status, payment = target(ev.Type, ev.Session.PaymentStatus)
	}
	// Stripe's current state is worth a request only when it can move the
	// order on: the event leaves the payment open (completed while unpaid,
	// or not delivered by Stripe) and the order is new, or, for a built
	// event, not yet settled. A completed(unpaid) event for a recorded
	// order teaches nothing: its line items were read with the session's
	// state after that event was sent, and the outcome arrives as its own
	// event.
	needState := status == StatusAwaitingPayment &&
		(needItems || !delivered && !existing.PaymentStatus.Settled())

	sess := ev.Session
	var lines Lines
	switch {
	case needState && needItems:
		sess, lines, err = p.Stripe.SessionWithLineItems(ctx, ev.Session.ID)
		res.Calls += lines.Requests
		if err != nil {
			return res, fmt.Errorf("retrieve session with line items: %w", err)
		}
	case needState:
		sess, err = p.Stripe.Session(ctx, ev.Session.ID)
		res.Calls++
		if err != nil {
			return res, fmt.Errorf("retrieve session: %w", err)
		}
	case needItems:
		lines, err = p.Stripe.LineItems(ctx, ev.Session.ID)
		res.Calls += lines.Requests
		if err != nil {
			return res, fmt.Errorf("list line items: %w", err)
		}
	}
	if needState { // the event left the payment open: the session as it is now decides
		status, payment = target(EventSessionCompleted, sess.PaymentStatus)
	}

	candidate := orderFrom(sess, status, payment)
	if needItems {
		candidate.LineItems = p.tag(sess.ID, lines.Items)
	}
	now := p.now()
	candidate.CreatedAt, candidate.UpdatedAt = now, now

	res.Order, res.Outcome, err = p.Orders.Record(ctx, ev.ID, ev.Type, candidate)
	if err != nil {
		return res, fmt.Errorf("record order: %w", err)
	}
	return res, nil
}

// tag marks the cross-sells among a session's line items.
func (p *Processor) tag(sessionID string, items []LineItem) []LineItem {
	for _, odd := range p.CrossSells.Tag(items) {
		p.logger().Warn("cross-sell line with quantity other than 1",
			"session_id", sessionID, "line_item", odd.ID, "product_id", odd.ProductID, "quantity", odd.Quantity)
	}
	return items
}

// target is the status and payment status an event of this type implies.
func target(eventType string, ps PaymentStatus) (Status, PaymentStatus) {
	switch eventType {
	case EventSessionAsyncPaymentSucceed:
		return StatusReadyToShip, PaymentPaid
	case EventSessionAsyncPaymentFailed:
		return StatusCanceled, PaymentUnpaid
	}
	if ps.Settled() {
		return StatusReadyToShip, ps
	}
	return StatusAwaitingPayment, PaymentUnpaid
}

func orderFrom(s Session, status Status, payment PaymentStatus) Order {
	var reason CancelReason
	if status == StatusCanceled {
		reason = CancelPaymentFailed
	}
	return Order{
		CancelReason:      reason,
		PaymentIntentID:   OptionalID(s.Payment.PaymentIntent),
		InvoiceID:         OptionalID(s.Payment.Invoice),
		ID:                OrderID(s.ID),
		CheckoutSessionID: s.ID,
		Status:            status,
		PaymentStatus:     payment,
		Mode:              s.Mode,
		Currency:          s.Currency,
		AmountSubtotal:    s.AmountSubtotal,
		AmountDiscount:    s.AmountDiscount,
		AmountTax:         s.AmountTax,
		AmountShipping:    s.AmountShipping,
		AmountTotal:       s.AmountTotal,
		Customer:          s.Customer,
		Shipping:          s.Shipping,
		ClientReferenceID: s.ClientReferenceID,
		Metadata:          s.Metadata,
	}
}

func (p *Processor) now() time.Time { return NowOr(p.Now).UTC() }

func (p *Processor) logger() *slog.Logger { return LoggerOr(p.Log) }
