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

// Handles reports whether events of this type change orders.
func Handles(eventType string) bool {
	switch eventType {
	case EventSessionCompleted, EventSessionAsyncPaymentSucceed, EventSessionAsyncPaymentFailed:
		return true
	}
	return false
}

// Event is a verified Stripe event about a Checkout Session, with the
// session as the event carried it (a snapshot from the event's time).
type Event struct {
	ID      string
	Type    string
	Created time.Time
	Session Session
}

// SessionReader reads Checkout Sessions from Stripe.
type SessionReader interface {
	// Session returns the session's current state.
	Session(ctx context.Context, sessionID string) (Session, error)
	// LineItems returns every line item of the session, all pages, with
	// price and product.
	LineItems(ctx context.Context, sessionID string) ([]LineItem, error)
}

// Outcome says what recording an event did.
type Outcome string

// Outcomes of Record.
const (
	OutcomeCreated   Outcome = "created"   // a new order
	OutcomeUpdated   Outcome = "updated"   // the order moved forward
	OutcomeUnchanged Outcome = "unchanged" // the event taught nothing new
	OutcomeDuplicate Outcome = "duplicate" // the event was processed before
)

// OrderStore keeps orders. Record must be atomic: the event id is recorded as
// processed in the same transaction that creates or updates the order, the
// order is unique per Checkout Session, and the stored order and the
// candidate are combined with Order.Merge.
type OrderStore interface {
	OrderBySession(ctx context.Context, sessionID string) (Order, error)
	Record(ctx context.Context, eventID, eventType string, candidate Order) (Order, Outcome, error)
}

// Processor is the use case "process this event".
type Processor struct {
	Stripe     SessionReader
	Orders     OrderStore
	CrossSells CrossSells
	Now        func() time.Time
	Log        *slog.Logger
}

// Result is what Process did.
type Result struct {
	Order   Order
	Outcome Outcome
	Calls   int // Stripe API calls made
}

// Process applies one event. It is safe to call many times, concurrently,
// for the same session or the same event: the store's Record serialises and
// merges, and Merge only moves forward.
//
// Errors wrapped with Permanent will not be fixed by retrying; every other
// error is transient.
func (p *Processor) Process(ctx context.Context, ev Event) (Result, error) {
	if ev.ID == "" || ev.Session.ID == "" {
		return Result{}, Permanent(fmt.Errorf("event %q: missing event or session id", ev.ID))
	}
	if !Handles(ev.Type) {
		return Result{}, Permanent(fmt.Errorf("event %s: type %q is not a checkout payment event", ev.ID, ev.Type))
	}
	var res Result
	existing, err := p.Orders.OrderBySession(ctx, ev.Session.ID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return res, fmt.Errorf("load order: %w", err)
	}
	known := err == nil

	sess := ev.Session
	status, payment := target(ev.Type, sess.PaymentStatus)
	if status == StatusAwaitingPayment && !(known && existing.Status.rank() > status.rank()) {
		// The event's copy may be stale: the delayed payment may have
		// settled since. Ask Stripe for the session's current state.
		cur, err := p.Stripe.Session(ctx, sess.ID)
		res.Calls++
		if err != nil {
			return res, fmt.Errorf("retrieve session: %w", err)
		}
		sess = cur
		status, payment = target(ev.Type, cur.PaymentStatus)
	}

	candidate := orderFrom(sess, status, payment)
	if !known || len(existing.LineItems) == 0 {
		items, err := p.Stripe.LineItems(ctx, sess.ID)
		res.Calls++
		if err != nil {
			return res, fmt.Errorf("list line items: %w", err)
		}
		for _, odd := range p.CrossSells.Tag(items) {
			p.logger().Warn("cross-sell line with quantity other than 1",
				"session_id", sess.ID, "line_item", odd.ID, "product_id", odd.ProductID, "quantity", odd.Quantity)
		}
		candidate.LineItems = items
	}
	now := p.now()
	candidate.CreatedAt, candidate.UpdatedAt = now, now

	res.Order, res.Outcome, err = p.Orders.Record(ctx, ev.ID, ev.Type, candidate)
	if err != nil {
		return res, fmt.Errorf("record order: %w", err)
	}
	return res, nil
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
	return Order{
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

func (p *Processor) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Processor) logger() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}
