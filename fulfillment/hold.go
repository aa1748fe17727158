package fulfillment

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Holds and cancellations. An order that has not shipped in part
// (awaiting_payment, ready_to_ship, in_fulfillment, on_hold) is held while
// any reason holds it and canceled once its money is gone:
//
//   - a charge refunded in full cancels it (cancel_reason refunded); a
//     partial refund holds it (refund_partial: Stripe does not say which
//     lines, the merchant decides);
//   - an open dispute holds it (dispute); closed won or warning_closed, that
//     reason goes; closed lost cancels it (dispute_lost);
//   - an early fraud warning holds it (fraud_warning) until the merchant
//     releases it or refunds;
//   - the merchant holds it (merchant), releases it (every reason goes) or
//     cancels it (merchant).
//
// A merchant's release stands until Stripe reports something new: a higher
// amount refunded, another dispute or the same one reopened, another fraud
// warning. Orders shipped in part keep their status; the facts are recorded.
//
// The reasons are recomputed from the facts on every change (settle), so
// the outcome depends on what Stripe last said, not on the order in which
// it was heard.

// HoldReason is why an order is on hold.
type HoldReason string

// Hold reasons, in the order an order's hold lists them.
const (
	HoldRefundPartial HoldReason = "refund_partial"
	HoldDispute       HoldReason = "dispute"
	HoldFraudWarning  HoldReason = "fraud_warning"
	HoldMerchant      HoldReason = "merchant"
)

// Hold is why an on_hold order must not ship, since when, and the status it
// returns to once no reason is left.
type Hold struct {
	Reasons        []HoldReason `json:"reasons"`
	Since          time.Time    `json:"since"`
	Note           string       `json:"note"`
	PreviousStatus Status       `json:"previous_status"`
}

// Has reports whether reason is among the hold's reasons; false on nil.
func (h *Hold) Has(reason HoldReason) bool {
	return h != nil && slices.Contains(h.Reasons, reason)
}

// CancelReason is why an order was canceled: JSON null when it was not.
type CancelReason string

// Cancel reasons.
const (
	CancelPaymentFailed CancelReason = "payment_failed" // the delayed payment failed
	CancelRefunded      CancelReason = "refunded"       // the charge was refunded in full
	CancelDisputeLost   CancelReason = "dispute_lost"
	CancelMerchant      CancelReason = "merchant"
)

// MarshalJSON writes "" as null.
func (r CancelReason) MarshalJSON() ([]byte, error) { return nullableJSON(string(r)) }

// UnmarshalJSON reads null as "".
func (r *CancelReason) UnmarshalJSON(b []byte) error {
	s, err := fromNullableJSON(b)
	*r = CancelReason(s)
	return err
}

// final reports whether a cancellation stands whatever the checkout events
// say later: only a failed payment gives way to a payment that succeeded
// (see Merge).
func (r CancelReason) final() bool {
	return r != "" && r != CancelPaymentFailed
}

// OptionalID is an id that may be absent: JSON null when "".
type OptionalID string

// MarshalJSON writes "" as null.
func (id OptionalID) MarshalJSON() ([]byte, error) { return nullableJSON(string(id)) }

// UnmarshalJSON reads null as "".
func (id *OptionalID) UnmarshalJSON(b []byte) error {
	s, err := fromNullableJSON(b)
	*id = OptionalID(s)
	return err
}

// nullableJSON is s as a JSON string, or null when s is "".
func nullableJSON(s string) ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	return json.Marshal(s)
}

// fromNullableJSON reads a JSON string or null ("").
func fromNullableJSON(b []byte) (string, error) {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil || s == nil {
		return "", err
	}
	return *s, nil
}

// Release is what the merchant's last release let through: the amount
// refunded, the open dispute and the fraud warning the order had then.
// Only something newer holds the order again.
type Release struct {
	AmountRefunded int64
	DisputeID      string
	FraudWarningID string
}

// MaxNoteLen is the longest note (in characters) a merchant may give.
const MaxNoteLen = 500

// base is the order's status leaving any hold aside: where the order
// stands in its life, and where a release returns it.
func (o Order) base() Status {
	if o.Status == StatusOnHold && o.Hold != nil {
		return o.Hold.PreviousStatus
	}
	return o.Status
}

// unshipped reports whether status s is one the hold rules apply to: not
// shipped in any part, not canceled.
func unshipped(s Status) bool {
	switch s {
	case StatusAwaitingPayment, StatusReadyToShip, StatusInFulfillment:
		return true
	}
	return false
}

// settle recomputes status, hold and cancellation from the order's base
// status and its facts (what Stripe last said and what the merchant did).
// now is when a hold that begins begins.
func (o Order) settle(now time.Time) Order {
	base := o.base()
	if base == StatusCanceled {
		o.Status, o.Hold = StatusCanceled, nil
		if o.CancelReason == "" {
			o.CancelReason = CancelPaymentFailed
		}
		return o
	}
	o.CancelReason, o.CancelNote = "", ""
	if !unshipped(base) {
		o.Status, o.Hold = base, nil
		return o
	}
	switch {
	case o.Refunded:
		return o.cancel(CancelRefunded, "")
	case o.Dispute != nil && o.Dispute.Lost():
		return o.cancel(CancelDisputeLost, "")
	}
	// A released dispute that Stripe has since closed may be reopened:
	// then it is news, and holds the order again.
	if d := o.Dispute; d != nil && !d.Open() && o.Released.DisputeID == d.ID {
		o.Released.DisputeID = ""
	}
	var reasons []HoldReason
	if o.AmountRefunded > 0 && o.AmountRefunded > o.Released.AmountRefunded {
		reasons = append(reasons, HoldRefundPartial)
	}
	if d := o.Dispute; d != nil && d.Open() && d.ID != o.Released.DisputeID {
		reasons = append(reasons, HoldDispute)
	}
	if w := o.FraudWarning; w != nil && w.ID != o.Released.FraudWarningID {
		reasons = append(reasons, HoldFraudWarning)
	}
	if o.Hold.Has(HoldMerchant) {
		reasons = append(reasons, HoldMerchant)
	}
	if len(reasons) == 0 {
		o.Status, o.Hold = base, nil
		return o
	}
	h := Hold{Reasons: reasons, Since: now.UTC(), PreviousStatus: base}
	if o.Hold != nil {
		h.Since, h.Note = o.Hold.Since, o.Hold.Note
	}
	o.Status, o.Hold = StatusOnHold, &h
	return o
}

func (o Order) cancel(reason CancelReason, note string) Order {
	o.Status, o.Hold, o.CancelReason, o.CancelNote = StatusCanceled, nil, reason, note
	return o
}

// HoldByMerchant returns the order held by the merchant (reason merchant),
// with note if one is given; by is the admin who asked (ChangedBy). Holding a held order adds the reason (and
// replaces the note); an order that has shipped in part, or is canceled, is
// an ErrConflict; a note over MaxNoteLen characters is an ErrInvalid.
func (o Order) HoldByMerchant(note, by string, at time.Time) (next Order, changed bool, err error) {
	note = strings.TrimSpace(note)
	if err := checkNote(note); err != nil {
		return o, false, err
	}
	if !unshipped(o.base()) {
		return o, false, Errorf(CodeConflict, "order %s is %s: only an order that has not shipped can be held", o.ID, o.Status)
	}
	if o.Hold.Has(HoldMerchant) && (note == "" || note == o.Hold.Note) {
		return o, false, nil
	}
	next = o
	h := Hold{Reasons: []HoldReason{HoldMerchant}, Since: at.UTC(), PreviousStatus: o.base()}
	if o.Hold != nil {
		h = *o.Hold
		h.Reasons = append(slices.Clone(o.Hold.Reasons), HoldMerchant)
	}
	if note != "" {
		h.Note = note
	}
	next.Hold = &h
	next = next.settle(at)
	next.UpdatedAt = at.UTC()
	next.ChangedBy = Actor{Kind: ActorAdmin, Name: by}
	return next, true, nil
}

// ReleaseByMerchant returns the order with every current hold reason
// removed, back to the status it was held from; it stays released until
// Stripe reports something new; by is the admin who asked. An order that
// is not on hold is an ErrConflict.
func (o Order) ReleaseByMerchant(by string, at time.Time) (next Order, changed bool, err error) {
	if o.Status != StatusOnHold {
		return o, false, Errorf(CodeConflict, "order %s is %s, not on hold", o.ID, o.Status)
	}
	next = o
	next.Released = Release{AmountRefunded: o.AmountRefunded}
	if d := o.Dispute; d != nil && d.Open() {
		next.Released.DisputeID = d.ID
	}
	if w := o.FraudWarning; w != nil {
		next.Released.FraudWarningID = w.ID
	}
	next.Hold = nil
	next.Status = o.base()
	next = next.settle(at)
	next.UpdatedAt = at.UTC()
	next.ChangedBy = Actor{Kind: ActorAdmin, Name: by}
	return next, true, nil
}

// CancelByMerchant returns the order canceled by the merchant, with note;
// by is the admin who asked.
// Canceling a canceled order changes nothing; an order of which anything
// has shipped is an ErrConflict.
func (o Order) CancelByMerchant(note, by string, at time.Time) (next Order, changed bool, err error) {
	note = strings.TrimSpace(note)
	if err := checkNote(note); err != nil {
		return o, false, err
	}
	switch base := o.base(); {
	case base == StatusCanceled:
		return o, false, nil
	case !unshipped(base):
		return o, false, Errorf(CodeConflict, "order %s is %s: an order of which anything has shipped cannot be canceled", o.ID, o.Status)
	}
	next = o.cancel(CancelMerchant, note)
	next.UpdatedAt = at.UTC()
	next.ChangedBy = Actor{Kind: ActorAdmin, Name: by}
	return next, true, nil
}

func checkNote(note string) error {
	if n := utf8.RuneCountInString(note); n > MaxNoteLen {
		return Errorf(CodeInvalid, "note is %d characters, at most %d", n, MaxNoteLen)
	}
	if !utf8.ValidString(note) {
		return Errorf(CodeInvalid, "note is not valid UTF-8")
	}
	// Line breaks and tabs are text in a note; other controls are not.
	if i := controlAt(strings.NewReplacer("\n", " ", "\t", " ").Replace(note)); i >= 0 {
		return Errorf(CodeInvalid, "note: control character at byte %d: want printable text (line breaks and tabs allowed)", i)
	}
	return nil
}

// newerDispute is the dispute to keep of a and b: the same dispute read
// later (b) wins; of two disputes, the one Stripe created later.
func newerDispute(a, b *Dispute) *Dispute {
	if b == nil || a != nil && !newer(a.ID, a.Created, b.ID, b.Created) {
		return a
	}
	return b
}

// newerFraudWarning: as newerDispute.
func newerFraudWarning(a, b *FraudWarning) *FraudWarning {
	if b == nil || a != nil && !newer(a.ID, a.Created, b.ID, b.Created) {
		return a
	}
	return b
}

// newer reports whether Stripe object b (read after a) is the one to keep:
// the same object read later, or one created later (ids break a tie).
func newer(aID string, aCreated time.Time, bID string, bCreated time.Time) bool {
	return aID == bID || bCreated.After(aCreated) || bCreated.Equal(aCreated) && bID > aID
}
