package stripeemu

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Money that moves after checkout. Every complete payment-mode session with
// a payment_intent pi_X has a charge ch_X of amount_total; every complete
// subscription-mode session with an invoice in_X has that invoice (of its
// subscription, paid by a PaymentIntent pi_X) and its charge ch_X. The test
// controls below refund charges, open and settle disputes and raise early
// fraud warnings; ObjectEvent builds the event Stripe would send about
// them. The objects are served as API version 2023-10-16 shapes them:
//
//	GET /v1/charges/{id}
//	GET /v1/disputes/{id}                   (expand[]=charge)
//	GET /v1/radar/early_fraud_warnings/{id} (expand[]=charge)
//	GET /v1/invoices/{id}
//
// All of it is guarded by Emulator.mu, like the sessions.

const (
	chargesPath  = "/v1/charges/"
	disputesPath = "/v1/disputes/"
	warningsPath = "/v1/radar/early_fraud_warnings/"
	invoicesPath = "/v1/invoices/"
)

type charge struct {
	id, paymentIntent, invoice, currency, customer string
	amount, refunded, created                      int64
	disputed                                       bool
}

type dispute struct {
	id, charge, paymentIntent, currency, reason, status string
	amount, created                                     int64
}

type fraudWarning struct {
	id, charge, paymentIntent, fraudType string
	actionable                           bool
	created                              int64
}

type invoice struct {
	id, subscription, charge, paymentIntent, currency, customer string
	amount, created                                             int64
}

// money holds the emulator's charges, disputes, warnings and invoices.
type money struct {
	charges   map[string]*charge
	disputes  map[string]*dispute
	warnings  map[string]*fraudWarning
	invoices  map[string]*invoice
	bySession map[string]string // session id → charge id
	seq       int
	clock     int64 // the last created stamp handed out
}

func (m *money) init() {
	if m.charges == nil {
		m.charges = make(map[string]*charge)
		m.disputes = make(map[string]*dispute)
		m.warnings = make(map[string]*fraudWarning)
		m.invoices = make(map[string]*invoice)
		m.bySession = make(map[string]string)
	}
}

// stamp is now in Unix seconds, later than every stamp before it: of two
// disputes (or warnings) of a charge, the newer has the later created.
func (m *money) stamp() int64 {
	m.clock = max(time.Now().Unix(), m.clock+1)
	return m.clock
}

func (m *money) nextID(prefix string) string {
	m.seq++
	return fmt.Sprintf("%s_emu%06d", prefix, m.seq)
}

// sessionPayment is what a session says about its payment.
type sessionPayment struct {
	Mode          string          `json:"mode"`
	Status        string          `json:"status"`
	AmountTotal   int64           `json:"amount_total"`
	Currency      string          `json:"currency"`
	Created       int64           `json:"created"`
	PaymentIntent json.RawMessage `json:"payment_intent"`
	Invoice       json.RawMessage `json:"invoice"`
	Subscription  json.RawMessage `json:"subscription"`
	Customer      json.RawMessage `json:"customer"`
}

// refID reads an id field: an id, null, or an expanded object.
func refID(raw json.RawMessage) string {
	var id string
	if json.Unmarshal(raw, &id) == nil {
		return id
	}
	var obj struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.ID
	}
	return ""
}

// addPayment records the charge (and invoice) of a complete session s, unless
// it has them already. Called with e.mu held.
func (e *Emulator) addPayment(s *session, p sessionPayment) {
	e.money.init()
	if p.Status != "complete" {
		return
	}
	var ch *charge
	switch pi, in := refID(p.PaymentIntent), refID(p.Invoice); {
	case p.Mode == "payment" && strings.HasPrefix(pi, "pi_"):
		ch = &charge{id: "ch_" + strings.TrimPrefix(pi, "pi_"), paymentIntent: pi}
	case p.Mode == "subscription" && strings.HasPrefix(in, "in_"):
		suffix := strings.TrimPrefix(in, "in_")
		ch = &charge{id: "ch_" + suffix, paymentIntent: "pi_" + suffix, invoice: in}
		if _, ok := e.money.invoices[in]; !ok {
			e.money.invoices[in] = &invoice{id: in, subscription: refID(p.Subscription), charge: ch.id,
				paymentIntent: ch.paymentIntent, currency: p.Currency, customer: refID(p.Customer),
				amount: p.AmountTotal, created: p.Created}
		}
	default:
		return
	}
	e.money.bySession[s.id] = ch.id
	if _, ok := e.money.charges[ch.id]; ok {
		return
	}
	ch.currency, ch.customer, ch.amount, ch.created = p.Currency, refID(p.Customer), p.AmountTotal, p.Created
	e.money.charges[ch.id] = ch
}

// chargeOf finds the charge of a session (cs_…) or a charge id (ch_…).
// Called with e.mu held.
func (e *Emulator) chargeOf(id string) (*charge, error) {
	e.money.init()
	if cid, ok := e.money.bySession[id]; ok {
		id = cid
	} else if _, isSession := e.sessions[id]; isSession {
		return nil, fmt.Errorf("checkout.session %s has no charge (not complete, or nothing to pay)", id)
	}
	ch, ok := e.money.charges[id]
	if !ok {
		return nil, fmt.Errorf("no such charge or checkout.session: %q", id)
	}
	return ch, nil
}

// ChargeFor returns the id of the charge of a complete session (cs_…).
func (e *Emulator) ChargeFor(sessionID string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, err := e.chargeOf(sessionID)
	if err != nil {
		return "", fmt.Errorf("charge for %s: %w", sessionID, err)
	}
	return ch.id, nil
}

// AddCharge stores a succeeded charge of amount (usd) on paymentIntentID
// that no Checkout Session made (a payment taken some other way), and
// returns its id, ch_ followed by the intent's id without "pi_".
func (e *Emulator) AddCharge(paymentIntentID string, amount int64) (string, error) {
	if !strings.HasPrefix(paymentIntentID, "pi_") || amount <= 0 {
		return "", fmt.Errorf("add charge: want a pi_ id and a positive amount, got %q, %d", paymentIntentID, amount)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.money.init()
	id := "ch_" + strings.TrimPrefix(paymentIntentID, "pi_")
	if _, ok := e.money.charges[id]; ok {
		return "", fmt.Errorf("add charge: %s exists", id)
	}
	e.money.charges[id] = &charge{id: id, paymentIntent: paymentIntentID, currency: "usd", amount: amount, created: e.money.stamp()}
	return id, nil
}

// Refund refunds amount more of the charge of id, a session (cs_…) or a
// charge (ch_…), and returns the charge's id. Refunds add up to at most the
// charge's amount; amount 0 refunds what is left. Once amount_refunded
// equals amount the charge is refunded (refunded: true) and its early fraud
// warnings are no longer actionable.
func (e *Emulator) Refund(id string, amount int64) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, err := e.chargeOf(id)
	if err != nil {
		return "", fmt.Errorf("refund: %w", err)
	}
	left := ch.amount - ch.refunded
	if amount == 0 {
		amount = left
	}
	switch {
	case left == 0:
		return "", fmt.Errorf("refund %s: charge has already been refunded", ch.id)
	case amount < 0 || amount > left:
		return "", fmt.Errorf("refund %s: amount %d is not within (0, %d]", ch.id, amount, left)
	}
	ch.refunded += amount
	if ch.refunded == ch.amount {
		e.notActionable(ch.id)
	}
	return ch.id, nil
}

// disputeReasons are Stripe's dispute reasons.
var disputeReasons = []string{"bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated",
	"debit_not_authorized", "duplicate", "fraudulent", "general", "incorrect_account_details", "insufficient_funds",
	"product_not_received", "product_unacceptable", "subscription_canceled", "unrecognized"}

// disputeStatuses are Stripe's dispute statuses.
var disputeStatuses = []string{"warning_needs_response", "warning_under_review", "warning_closed",
	"needs_response", "under_review", "won", "lost"}

// OpenDispute opens a dispute of the whole amount of the charge of id (a
// session, cs_…, or a charge, ch_…) with a reason among Stripe's
// (fraudulent, product_not_received, …) and returns its id (dp_…). Its
// status is needs_response, or warning_needs_response for an inquiry. The
// charge becomes disputed and its early fraud warnings are no longer
// actionable.
func (e *Emulator) OpenDispute(id, reason string, inquiry bool) (string, error) {
	if !slices.Contains(disputeReasons, reason) {
		return "", fmt.Errorf("open dispute: unknown reason %q", reason)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, err := e.chargeOf(id)
	if err != nil {
		return "", fmt.Errorf("open dispute: %w", err)
	}
	status := "needs_response"
	if inquiry {
		status = "warning_needs_response"
	}
	d := &dispute{id: e.money.nextID("dp"), charge: ch.id, paymentIntent: ch.paymentIntent, currency: ch.currency,
		reason: reason, status: status, amount: ch.amount, created: e.money.stamp()}
	e.money.disputes[d.id] = d
	ch.disputed = true
	e.notActionable(ch.id)
	return d.id, nil
}

// SetDisputeStatus sets a dispute's status: warning_needs_response,
// warning_under_review, warning_closed, needs_response, under_review, won
// or lost.
func (e *Emulator) SetDisputeStatus(disputeID, status string) error {
	if !slices.Contains(disputeStatuses, status) {
		return fmt.Errorf("set dispute status of %s: unknown status %q", disputeID, status)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.money.init()
	d, ok := e.money.disputes[disputeID]
	if !ok {
		return fmt.Errorf("set dispute status: no such dispute: %q", disputeID)
	}
	d.status = status
	return nil
}

// fraudTypes are the fraud types card issuers report.
var fraudTypes = []string{"card_never_received", "fraudulent_card_application", "made_with_counterfeit_card",
	"made_with_lost_card", "made_with_stolen_card", "misc", "unauthorized_use_of_card"}

// WarnFraud raises an early fraud warning (issfr_…) of fraudType
// (made_with_stolen_card, unauthorized_use_of_card, …) on the charge of id
// (a session, cs_…, or a charge, ch_…) and returns its id.
func (e *Emulator) WarnFraud(id, fraudType string, actionable bool) (string, error) {
	if !slices.Contains(fraudTypes, fraudType) {
		return "", fmt.Errorf("warn fraud: unknown fraud type %q", fraudType)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, err := e.chargeOf(id)
	if err != nil {
		return "", fmt.Errorf("warn fraud: %w", err)
	}
	w := &fraudWarning{id: e.money.nextID("issfr"), charge: ch.id, paymentIntent: ch.paymentIntent,
		fraudType: fraudType, actionable: actionable, created: e.money.stamp()}
	e.money.warnings[w.id] = w
	return w.id, nil
}

// notActionable clears actionable on the charge's warnings, as Stripe does
// once the charge is disputed or refunded in full. Called with e.mu held.
func (e *Emulator) notActionable(chargeID string) {
	for _, w := range e.money.warnings {
		if w.charge == chargeID {
			w.actionable = false
		}
	}
}

// moneyObject renders the charge, dispute, early fraud warning or invoice
// objectID as currently stored, with its charge expanded if expandCharge.
func (e *Emulator) moneyObject(objectID string, expandCharge bool) (json.RawMessage, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	m := &e.money
	chargeField := func(id string) any {
		if ch, ok := m.charges[id]; expandCharge && ok {
			return ch.render()
		}
		return id
	}
	switch {
	case m.charges[objectID] != nil:
		return m.charges[objectID].render(), true
	case m.disputes[objectID] != nil:
		d := m.disputes[objectID]
		return renderAny(map[string]any{
			"id": d.id, "object": "dispute", "amount": d.amount, "balance_transactions": []any{},
			"charge": chargeField(d.charge), "created": d.created, "currency": d.currency,
			"is_charge_refundable": false, "livemode": false, "metadata": map[string]any{},
			"payment_intent": nullable(d.paymentIntent), "reason": d.reason, "status": d.status,
		}), true
	case m.warnings[objectID] != nil:
		w := m.warnings[objectID]
		return renderAny(map[string]any{
			"id": w.id, "object": "radar.early_fraud_warning", "actionable": w.actionable,
			"charge": chargeField(w.charge), "created": w.created, "fraud_type": w.fraudType,
			"livemode": false, "payment_intent": nullable(w.paymentIntent),
		}), true
	case m.invoices[objectID] != nil:
		in := m.invoices[objectID]
		return renderAny(map[string]any{
			"id": in.id, "object": "invoice", "amount_due": in.amount, "amount_paid": in.amount,
			"amount_remaining": 0, "billing_reason": "subscription_create", "charge": in.charge,
			"created": in.created, "currency": in.currency, "customer": nullable(in.customer),
			"livemode": false, "metadata": map[string]any{}, "paid": true,
			"payment_intent": in.paymentIntent, "status": "paid", "subscription": nullable(in.subscription),
		}), true
	}
	return nil, false
}

func (ch *charge) render() json.RawMessage {
	return renderAny(map[string]any{
		"id": ch.id, "object": "charge", "amount": ch.amount, "amount_captured": ch.amount,
		"amount_refunded": ch.refunded, "balance_transaction": nil, "captured": true, "created": ch.created,
		"currency": ch.currency, "customer": nullable(ch.customer), "description": nil, "disputed": ch.disputed,
		"failure_code": nil, "failure_message": nil, "invoice": nullable(ch.invoice), "livemode": false,
		"metadata": map[string]any{}, "paid": true, "payment_intent": nullable(ch.paymentIntent),
		"refunded": ch.refunded == ch.amount, "status": "succeeded",
	})
}

// nullable is JSON null for "".
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// routeMoney answers GET /v1/charges/{id}, /v1/disputes/{id},
// /v1/radar/early_fraud_warnings/{id} and /v1/invoices/{id}; false if the
// path is none of them.
func (e *Emulator) routeMoney(w http.ResponseWriter, r *http.Request) bool {
	for _, ep := range []struct {
		prefix, object, param string
		prefixID              string
		expandCharge          bool
	}{
		{chargesPath, "charge", "id", "ch_", false},
		{disputesPath, "dispute", "dispute", "dp_", true},
		{warningsPath, "radar.early_fraud_warning", "early_fraud_warning", "issfr_", true},
		{invoicesPath, "invoice", "invoice", "in_", false},
	} {
		id, ok := strings.CutPrefix(r.URL.Path, ep.prefix)
		if !ok || id == "" || strings.Contains(id, "/") {
			continue
		}
		q, apiErr := parseQuery(r)
		if apiErr == nil && ep.expandCharge {
			apiErr = checkExpand(q.expand, "charge")
		} else if apiErr == nil {
			apiErr = checkExpand(q.expand)
		}
		if apiErr != nil {
			writeError(w, apiErr)
			return true
		}
		body, found := e.moneyObject(id, len(q.expand) > 0)
		if !found || !strings.HasPrefix(id, ep.prefixID) {
			writeError(w, errNoSuch(ep.object, id, ep.param))
			return true
		}
		writeJSON(w, http.StatusOK, body)
		return true
	}
	return false
}

// ObjectEvent returns the webhook event Stripe would send about a charge,
// dispute or early fraud warning (charge.refunded, charge.dispute.created,
// radar.early_fraud_warning.created, …): as Event does for sessions, the
// envelope of API version 2023-10-16 whose data.object is the object as
// currently stored. A zero created means now. The emulator keeps the event:
// GET /v1/events lists it.
func (e *Emulator) ObjectEvent(eventID, eventType, objectID string, created time.Time) ([]byte, error) {
	if eventID == "" || eventType == "" {
		return nil, errors.New("object event: event id and type are required")
	}
	obj, ok := e.moneyObject(objectID, false)
	if !ok {
		return nil, fmt.Errorf("object event %s: no such charge, dispute, early fraud warning or invoice: %q", eventID, objectID)
	}
	return e.recordEvent(eventID, eventType, obj, created), nil
}
