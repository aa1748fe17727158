package fulfillment

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ActorKind is what kind of party changed an order.
type ActorKind string

// Actor kinds: a Stripe event (its id), a warehouse (its API token's name),
// an admin (the admin token's name: the console, the merchant endpoints).
const (
	ActorStripe    ActorKind = "stripe_event"
	ActorWarehouse ActorKind = "warehouse"
	ActorAdmin     ActorKind = "admin"
)

// Actor is who made a change of an order.
type Actor struct {
	Kind ActorKind
	Name string
}

// String is the actor as people read it: "stripe event evt_1",
// "warehouse wms", "admin alice".
func (a Actor) String() string {
	switch a.Kind {
	case ActorStripe:
		return "stripe event " + a.Name
	case ActorWarehouse:
		return "warehouse " + a.Name
	case ActorAdmin:
		return "admin " + a.Name
	}
	return a.Name
}

// HistoryEntry is one change of one order: when, the status it left the
// order in, what changed, and who changed it. Stores write one in the same
// transaction as the change.
type HistoryEntry struct {
	Seq    int64 // the change's position in the order feed
	At     time.Time
	Status Status
	What   string
	By     Actor
}

// DescribeChange says in a few words what changed from before to after;
// before nil: the order was created.
func DescribeChange(before *Order, after Order) string {
	if before == nil {
		what := "created " + string(after.Status)
		if n := len(after.LineItems); n > 0 {
			what += fmt.Sprintf(", %d line items", n)
		}
		return what
	}
	var parts []string
	if before.Status != after.Status {
		parts = append(parts, fmt.Sprintf("%s → %s", before.Status, after.Status))
	}
	if before.PaymentStatus != after.PaymentStatus {
		parts = append(parts, "payment "+string(after.PaymentStatus))
	}
	if len(before.LineItems) == 0 && len(after.LineItems) > 0 {
		parts = append(parts, fmt.Sprintf("%d line items", len(after.LineItems)))
	}
	if before.Acknowledgement == nil && after.Acknowledgement != nil {
		parts = append(parts, "acknowledged")
	}
	for i := len(before.Shipments); i < len(after.Shipments); i++ {
		s := after.Shipments[i]
		parts = append(parts, "shipment "+s.Carrier+" "+s.TrackingNumber)
	}
	if after.AmountRefunded > before.AmountRefunded {
		parts = append(parts, fmt.Sprintf("refunded %d", after.AmountRefunded))
	}
	if d := after.Dispute; d != nil && !samePtr(before.Dispute, d) {
		parts = append(parts, "dispute "+d.ID+" "+d.Status)
	}
	if w := after.FraudWarning; w != nil && !samePtr(before.FraudWarning, w) {
		parts = append(parts, "fraud warning "+w.ID)
	}
	if after.Hold != nil && (before.Hold == nil || !slices.Equal(before.Hold.Reasons, after.Hold.Reasons)) {
		reasons := make([]string, len(after.Hold.Reasons))
		for i, r := range after.Hold.Reasons {
			reasons[i] = string(r)
		}
		parts = append(parts, "held: "+strings.Join(reasons, ", "))
	}
	if before.Status == StatusOnHold && after.Status != StatusOnHold && after.Status != StatusCanceled {
		parts = append(parts, "released")
	}
	if after.CancelReason != "" && after.CancelReason != before.CancelReason {
		parts = append(parts, "cancel reason "+string(after.CancelReason))
	}
	if after.Hold != nil && after.Hold.Note != "" && (before.Hold == nil || before.Hold.Note != after.Hold.Note) {
		parts = append(parts, "note: "+after.Hold.Note)
	}
	if after.CancelNote != "" && after.CancelNote != before.CancelNote {
		parts = append(parts, "note: "+after.CancelNote)
	}
	if len(parts) == 0 {
		return "details updated"
	}
	return strings.Join(parts, "; ")
}

// OrderSearch selects a page of orders for people: newest change first.
type OrderSearch struct {
	// Status keeps only orders in this status; "" keeps all.
	Status Status
	// Query, if not empty, keeps the orders it names: an order id, a
	// Checkout Session id, a customer email (any case) or a tracking number.
	Query string
	// Before is the cursor of the page to continue with: a SummaryPage's
	// Next, or "" for the newest changes.
	Before string
	// Limit is the page size; 0 (or less) means DefaultListLimit, more than
	// MaxListLimit means MaxListLimit.
	Limit int
}

// OrderSummary is an order as a list of orders shows it.
type OrderSummary struct {
	ID                string
	CheckoutSessionID string
	Status            Status
	Currency          string
	AmountTotal       int64
	CustomerEmail     string
	CustomerName      string
	Units             int64 // line item quantities added up
	CrossSell         bool  // a line item is a cross-sell
	CreatedAt         time.Time
	UpdatedAt         time.Time
	Seq               int64
}

// SummaryPage is one page of an OrderSearch.
type SummaryPage struct {
	Orders []OrderSummary
	// Next is the Before of the following (older) page; "" on the last.
	Next string
}
