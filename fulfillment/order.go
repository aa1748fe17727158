// Package fulfillment is the domain of fulfillmentd: orders made from Stripe
// Checkout Sessions, their line items (cross-sells included), their statuses,
// and the use case that turns one Stripe event into the order's next state.
//
// It knows nothing of HTTP, NATS or SQL: adapters in other packages implement
// the small interfaces declared here.
package fulfillment

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Status is where an order stands in fulfilment.
type Status string

// Order statuses. An order only ever moves forward: awaiting_payment may become
// ready_to_ship or canceled; those two are final as far as payment goes. The
// warehouse then moves a ready_to_ship order on (see shipment.go):
// in_fulfillment, partially_shipped, shipped. Before anything has shipped,
// money that moves back (refunds, disputes, fraud warnings) or the merchant
// may put an order on_hold, from which it returns to where it was, or
// cancel it (hold.go).
const (
	StatusAwaitingPayment  Status = "awaiting_payment"
	StatusReadyToShip      Status = "ready_to_ship"
	StatusCanceled         Status = "canceled"
	StatusInFulfillment    Status = "in_fulfillment"
	StatusPartiallyShipped Status = "partially_shipped"
	StatusShipped          Status = "shipped"
	// StatusOnHold is an order that must not ship until the merchant or
	// Stripe says so: see Order.Hold (hold.go).
	StatusOnHold Status = "on_hold"
)

// Valid reports whether s is a status this version knows.
func (s Status) Valid() bool {
	switch s {
	case StatusAwaitingPayment, StatusReadyToShip, StatusCanceled,
		StatusInFulfillment, StatusPartiallyShipped, StatusShipped, StatusOnHold:
		return true
	}
	return false
}

// rank orders statuses along the order's life; a higher rank never moves back.
// Warehouse statuses rank after every payment status, so a payment event that
// arrives late never moves a shipped order back to ready_to_ship.
func (s Status) rank() int {
	switch s {
	case StatusAwaitingPayment:
		return 1
	case StatusReadyToShip, StatusCanceled:
		return 2
	case StatusInFulfillment:
		return 3
	case StatusPartiallyShipped:
		return 4
	case StatusShipped:
		return 5
	}
	return 0
}

// PaymentStatus mirrors a Checkout Session's payment_status.
type PaymentStatus string

// Checkout Session payment statuses.
const (
	PaymentPaid              PaymentStatus = "paid"
	PaymentUnpaid            PaymentStatus = "unpaid"
	PaymentNoPaymentRequired PaymentStatus = "no_payment_required"
)

// Settled reports whether the buyer owes nothing more: the order can ship.
func (p PaymentStatus) Settled() bool {
	return p == PaymentPaid || p == PaymentNoPaymentRequired
}

// Customer is who bought, as Checkout collected it.
type Customer struct {
	// ID is the Stripe Customer (cus_...) the session was tied to, if any
	// (always in subscription mode).
	ID    string `json:"id,omitempty"`
	Email string `json:"email"`
	Name  string `json:"name"`
	Phone string `json:"phone"`
}

// Address is a postal address.
type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Shipping is where the order goes. Nil for orders without a shipping address
// (digital goods).
type Shipping struct {
	Name    string  `json:"name"`
	Address Address `json:"address"`
}

// LineItem is one line of a Checkout Session. Amounts are in the currency's
// smallest unit.
type LineItem struct {
	ID             string `json:"id"`
	ProductID      string `json:"product_id"`
	PriceID        string `json:"price_id"`
	Description    string `json:"description"`
	Quantity       int64  `json:"quantity"`
	Currency       string `json:"currency"`
	AmountSubtotal int64  `json:"amount_subtotal"`
	AmountDiscount int64  `json:"amount_discount"`
	AmountTax      int64  `json:"amount_tax"`
	AmountTotal    int64  `json:"amount_total"`
	// Recurring is the price's billing period; nil (JSON null) for a
	// one-time price, such as a setup fee sold beside a subscription.
	Recurring *Recurring `json:"recurring"`
	// CrossSell is true when the merchant's cross-sell settings name this
	// line's product as the cross-sell of another product in the same order.
	CrossSell bool `json:"cross_sell"`
	// CrossSellOf is the base product the cross-sell was offered with.
	CrossSellOf string `json:"cross_sell_of,omitempty"`
}

// Session is the part of a Stripe Checkout Session that an order needs.
type Session struct {
	ID                string
	Status            string // open, complete, expired
	PaymentStatus     PaymentStatus
	Mode              string // payment, subscription, setup
	Currency          string
	AmountSubtotal    int64
	AmountDiscount    int64 // total_details.amount_discount
	AmountTax         int64 // total_details.amount_tax
	AmountShipping    int64 // total_details.amount_shipping
	AmountTotal       int64
	Customer          Customer
	Shipping          *Shipping
	ClientReferenceID string
	Metadata          map[string]string
	Created           time.Time
	// Payment is the session's payment_intent (payment mode) or invoice
	// (subscription mode): how money events find the order.
	Payment Payment
}

// Order is one Checkout Session made ready for a warehouse. There is exactly
// one order per Checkout Session.
type Order struct {
	ID                string        `json:"id"`
	CheckoutSessionID string        `json:"checkout_session_id"`
	Status            Status        `json:"status"`
	PaymentStatus     PaymentStatus `json:"payment_status"`
	Mode              string        `json:"mode"`
	Currency          string        `json:"currency"`
	AmountSubtotal    int64         `json:"amount_subtotal"`
	// AmountDiscount, AmountTax and AmountShipping are the session's
	// total_details: amount_total = amount_subtotal - discount + exclusive
	// tax + shipping.
	AmountDiscount int64     `json:"amount_discount"`
	AmountTax      int64     `json:"amount_tax"`
	AmountShipping int64     `json:"amount_shipping"`
	AmountTotal    int64     `json:"amount_total"`
	Customer       Customer  `json:"customer"`
	Shipping       *Shipping `json:"shipping"`
	// ClientReferenceID and Metadata are the merchant's own links to the
	// session, carried as Checkout recorded them.
	// Both are always in the JSON: "" and null when the session had none.
	ClientReferenceID string            `json:"client_reference_id"`
	Metadata          map[string]string `json:"metadata"`
	LineItems         []LineItem        `json:"line_items"`
	// PaymentIntentID and InvoiceID are the session's payment: null when
	// it has none (an invoice only in subscription mode).
	PaymentIntentID OptionalID `json:"payment_intent_id"`
	InvoiceID       OptionalID `json:"invoice_id"`
	// AmountRefunded is what Stripe has refunded of the payment, in the
	// smallest unit; 0 when nothing.
	AmountRefunded int64 `json:"amount_refunded"`
	// Refunded is Stripe's "refunded" on the charge: refunded in full.
	// Internal (amount_refunded says it in the JSON).
	Refunded bool `json:"-"`
	// Hold is why the order must not ship (status on_hold), nil otherwise.
	Hold *Hold `json:"hold"`
	// CancelReason is why a canceled order was canceled; "" (null) for
	// orders that are not canceled.
	CancelReason CancelReason `json:"cancel_reason"`
	// CancelNote is the merchant's note when the merchant canceled it.
	CancelNote string `json:"cancel_note,omitempty"`
	// Dispute and FraudWarning are the payment's latest dispute and early
	// fraud warning as Stripe last reported them; nil when none.
	Dispute      *Dispute      `json:"dispute"`
	FraudWarning *FraudWarning `json:"fraud_warning"`
	// Released is what the merchant's last release let through; internal
	// to the hold rules (hold.go), not in the JSON.
	Released Release `json:"-"`
	// Acknowledgement and Shipments are the warehouse's: set by Acknowledge
	// and Ship, kept as they are by Merge.
	Acknowledgement *Acknowledgement `json:"acknowledgement,omitempty"`
	Shipments       []Shipment       `json:"shipments"`
	CreatedAt       time.Time        `json:"created_at"`
	UpdatedAt       time.Time        `json:"updated_at"`
	// ChangedBy is who made the change that returned this order: set by
	// the transitions a warehouse or an admin makes (Acknowledge, Ship,
	// HoldByMerchant, ...), for the order's history. Internal; stores do
	// not read it back.
	ChangedBy Actor `json:"-"`
}

// OrderID is the stable order id of a Checkout Session: the same session
// always yields the same id, so rebuilding the database from Stripe gives
// warehouses the same keys.
func OrderID(sessionID string) string {
	sum := sha256.Sum256([]byte(sessionID))
	return "ord_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:15]))
}

// Merge returns the order that results from applying next (built from a newer
// or older event for the same session) to o, and whether anything changed.
// It only ever moves forward: statuses and payment statuses never go back,
// and line items, once known, are kept (Checkout fixes them at completion).
// Merge is commutative in outcome for the events of one session, which is
// what makes processing order irrelevant.
//
// Two statuses of the same rank (ready_to_ship and canceled) are settled by
// the payment status: the one that comes with the settled payment wins, so
// an order is never canceled yet paid. Stripe never sends both
// async_payment_succeeded and async_payment_failed for one session; should
// both arrive, in either order, the order is ready_to_ship and paid —
// unless it was refunded, lost or canceled by the merchant (a final
// cancel_reason): no payment brings those back.
//
// The status moved forward is the order's base status (hold.go): an order
// on hold keeps moving underneath (a delayed payment succeeding while the
// merchant holds it), and the money facts next carries (amount refunded, a
// dispute, a fraud warning) are combined and the holds recomputed from them
// (settle), so that the outcome depends on what Stripe last said.
func (o Order) Merge(next Order) (Order, bool) {
	merged := o
	base, nextBase := o.base(), next.base()
	if nr, or := nextBase.rank(), base.rank(); nr > or ||
		nr == or && payRank(next.PaymentStatus) > payRank(o.PaymentStatus) {
		base = nextBase
	}
	if o.CancelReason.final() {
		base = StatusCanceled // refunded, lost or canceled by the merchant: no payment brings it back
	}
	merged.Status = base
	if payRank(next.PaymentStatus) > payRank(o.PaymentStatus) {
		merged.PaymentStatus = next.PaymentStatus
	}
	if len(o.LineItems) == 0 && len(next.LineItems) > 0 {
		merged.LineItems = next.LineItems
	}
	if merged.Mode == "" {
		merged.Mode = next.Mode
	}
	if merged.Currency == "" {
		merged.Currency = next.Currency
	}
	if merged.AmountSubtotal == 0 && merged.AmountTotal == 0 {
		merged.AmountSubtotal, merged.AmountTotal = next.AmountSubtotal, next.AmountTotal
	}
	if merged.AmountDiscount == 0 && merged.AmountTax == 0 && merged.AmountShipping == 0 {
		merged.AmountDiscount, merged.AmountTax, merged.AmountShipping = next.AmountDiscount, next.AmountTax, next.AmountShipping
	}
	if merged.Customer == (Customer{}) {
		merged.Customer = next.Customer
	}
	if merged.Customer.ID == "" {
		merged.Customer.ID = next.Customer.ID
	}
	if merged.Shipping == nil && next.Shipping != nil {
		merged.Shipping = next.Shipping
	}
	if merged.ClientReferenceID == "" {
		merged.ClientReferenceID = next.ClientReferenceID
	}
	if len(merged.Metadata) == 0 && len(next.Metadata) > 0 {
		merged.Metadata = next.Metadata
	}
	if merged.PaymentIntentID == "" {
		merged.PaymentIntentID = next.PaymentIntentID
	}
	if merged.InvoiceID == "" {
		merged.InvoiceID = next.InvoiceID
	}
	// Money facts only grow: refunds add up, and of two reads of one
	// dispute or warning the later one (next: reads of one payment are
	// serialised) is Stripe's newer word.
	merged.AmountRefunded = max(o.AmountRefunded, next.AmountRefunded)
	merged.Refunded = o.Refunded || next.Refunded
	merged.Dispute = newerDispute(o.Dispute, next.Dispute)
	merged.FraudWarning = newerFraudWarning(o.FraudWarning, next.FraudWarning)
	merged = merged.settle(next.UpdatedAt)

	changed := merged.Status != o.Status || merged.PaymentStatus != o.PaymentStatus ||
		len(merged.LineItems) != len(o.LineItems) || merged.Mode != o.Mode ||
		merged.Currency != o.Currency || merged.AmountSubtotal != o.AmountSubtotal ||
		merged.AmountTotal != o.AmountTotal || merged.Customer != o.Customer ||
		merged.AmountDiscount != o.AmountDiscount || merged.AmountTax != o.AmountTax ||
		merged.AmountShipping != o.AmountShipping ||
		(merged.Shipping == nil) != (o.Shipping == nil) ||
		merged.ClientReferenceID != o.ClientReferenceID || len(merged.Metadata) != len(o.Metadata) ||
		merged.PaymentIntentID != o.PaymentIntentID || merged.InvoiceID != o.InvoiceID ||
		merged.AmountRefunded != o.AmountRefunded || merged.Refunded != o.Refunded ||
		merged.CancelReason != o.CancelReason || merged.Released != o.Released ||
		!sameHold(merged.Hold, o.Hold) ||
		!samePtr(merged.Dispute, o.Dispute) || !samePtr(merged.FraudWarning, o.FraudWarning)
	return merged, changed
}

func samePtr[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func sameHold(a, b *Hold) bool {
	return a == nil && b == nil || a != nil && b != nil &&
		slices.Equal(a.Reasons, b.Reasons) && a.Since.Equal(b.Since) &&
		a.Note == b.Note && a.PreviousStatus == b.PreviousStatus
}

func payRank(p PaymentStatus) int {
	switch p {
	case PaymentUnpaid:
		return 1
	case PaymentPaid, PaymentNoPaymentRequired:
		return 2
	}
	return 0
}

// FormatAmount is amount, in currency's smallest unit, as people read it:
// "EUR 129.50", "JPY 1200" for zero-decimal currencies.
func FormatAmount(amount int64, currency string) string {
	cur := strings.ToUpper(currency)
	switch cur {
	case "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF":
		return fmt.Sprintf("%s %d", cur, amount)
	}
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	return fmt.Sprintf("%s %s%d.%02d", cur, sign, amount/100, amount%100)
}
