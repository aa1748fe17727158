package fulfillment

import (
	"context"
	"time"
)

// Money that moves after checkout: refunds, disputes and early fraud
// warnings. Stripe reports each as an event about one object (a Charge, a
// Dispute, an Early Fraud Warning); the worker reads the object back from
// the API and records what it says on the order of the payment it belongs
// to. The rules that turn those facts into holds and cancellations are in
// hold.go.

// Event types about money that moved after checkout.
const (
	EventChargeRefunded             = "charge.refunded"
	EventDisputeCreated             = "charge.dispute.created"
	EventDisputeUpdated             = "charge.dispute.updated"
	EventDisputeClosed              = "charge.dispute.closed"
	EventEarlyFraudWarningCreated   = "radar.early_fraud_warning.created"
	EventEarlyFraudWarningUpdated   = "radar.early_fraud_warning.updated"
	objectCharge                    = "charge"
	objectDispute                   = "dispute"
	objectEarlyFraudWarning         = "radar.early_fraud_warning"
	disputeStatusWon                = "won"
	disputeStatusLost               = "lost"
	disputeStatusWarningClosed      = "warning_closed"
	disputeStatusNeedsResponse      = "needs_response"
	disputeStatusUnderReview        = "under_review"
	disputeStatusWarningNeedsResp   = "warning_needs_response"
	disputeStatusWarningUnderReview = "warning_under_review"
)

// MoneyObject is the Stripe object type ("charge", "dispute",
// "radar.early_fraud_warning") that events of this type are about, or ""
// for other types.
func MoneyObject(eventType string) string {
	switch eventType {
	case EventChargeRefunded:
		return objectCharge
	case EventDisputeCreated, EventDisputeUpdated, EventDisputeClosed:
		return objectDispute
	case EventEarlyFraudWarningCreated, EventEarlyFraudWarningUpdated:
		return objectEarlyFraudWarning
	}
	return ""
}

// Payment names the payment an object belongs to: the PaymentIntent
// (payment mode) and, for a subscription's invoice, the Invoice. A
// Checkout Session records its payment_intent (payment mode) or its first
// invoice (subscription mode), and so does its order.
type Payment struct {
	PaymentIntent string
	Invoice       string
}

// Charge is the part of a Stripe Charge an order needs.
type Charge struct {
	ID             string
	Amount         int64
	AmountRefunded int64
	// Refunded is Stripe's "refunded": the charge is refunded in full.
	Refunded bool
	Payment  Payment
}

// Dispute is the part of a Stripe Dispute an order records: the JSON of the
// order's "dispute" field.
type Dispute struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason"`
	Amount int64  `json:"amount"`
	// Charge, Payment and Created are how the worker found the order and
	// which of two disputes is newer; not in the order's JSON.
	Charge  string    `json:"-"`
	Payment Payment   `json:"-"`
	Created time.Time `json:"-"`
}

// Open reports whether the dispute still waits for an outcome.
func (d Dispute) Open() bool {
	switch d.Status {
	case disputeStatusWarningNeedsResp, disputeStatusWarningUnderReview,
		disputeStatusNeedsResponse, disputeStatusUnderReview:
		return true
	}
	return false
}

// Lost reports whether the merchant lost the dispute: the money went back.
func (d Dispute) Lost() bool { return d.Status == disputeStatusLost }

// FraudWarning is the part of a Stripe Early Fraud Warning an order records:
// the JSON of the order's "fraud_warning" field.
type FraudWarning struct {
	ID         string `json:"id"`
	FraudType  string `json:"fraud_type"`
	Actionable bool   `json:"actionable"`
	// Charge, Payment and Created: as for Dispute.
	Charge  string    `json:"-"`
	Payment Payment   `json:"-"`
	Created time.Time `json:"-"`
}

// PaymentReader reads the objects of money events from Stripe's API.
type PaymentReader interface {
	Charge(ctx context.Context, id string) (Charge, error)
	Dispute(ctx context.Context, id string) (Dispute, error)
	FraudWarning(ctx context.Context, id string) (FraudWarning, error)
	// SessionForPayment returns the id of the Checkout Session that made
	// the payment (GET /v1/checkout/sessions?payment_intent=…, or for an
	// invoice, the session of its subscription whose invoice it is), or an
	// error wrapping ErrNotFound when no Checkout Session made it.
	SessionForPayment(ctx context.Context, p Payment) (string, error)
}

// Payment is the order's payment, as a money event names it.
func (o Order) Payment() Payment {
	return Payment{PaymentIntent: string(o.PaymentIntentID), Invoice: string(o.InvoiceID)}
}
