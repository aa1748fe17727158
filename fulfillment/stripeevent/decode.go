package stripeevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// Decode decodes a Stripe event body (verify its signature first) of any
// api_version. For checkout.session.* events it maps the session snapshot
// the event carries; for the money events (fulfillment.MoneyObject) it names
// the object, its charge and its payment (Event.Object, Charge, Payment);
// other events come back with id, type and created only.
//
// It does not use stripe-go's types for the snapshot: those follow
// 2023-10-16, and a field whose type changed in another version would fail
// the whole decode. It reads only the fields an order needs, from where
// either old or new versions put them (shipping_details, or
// collected_information.shipping_details since 2025-03-31).
//
// Errors are permanent (fulfillment.IsPermanent): a body that is not an
// event will not become one.
func Decode(body []byte) (fulfillment.Event, error) {
	var env struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Type    string `json:"type"`
		Created int64  `json:"created"`
		Data    struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fulfillment.Event{}, fulfillment.Permanent(fmt.Errorf("decode stripe event: not a JSON object: %w", err))
	}
	if env.Object != "event" {
		return fulfillment.Event{}, fulfillment.Permanent(fmt.Errorf("decode stripe event: object is %q, want \"event\"", env.Object))
	}
	if env.ID == "" || env.Type == "" {
		return fulfillment.Event{}, fulfillment.Permanent(fmt.Errorf("decode stripe event: missing id or type (id %q, type %q)", env.ID, env.Type))
	}
	ev := fulfillment.Event{ID: env.ID, Type: env.Type, Created: time.Unix(env.Created, 0).UTC()}
	if object := fulfillment.MoneyObject(env.Type); object != "" {
		if err := decodeMoney(env.Data.Object, object, &ev); err != nil {
			return fulfillment.Event{}, fulfillment.Permanent(fmt.Errorf("decode stripe event %s (%s): %w", env.ID, env.Type, err))
		}
		return ev, nil
	}
	if !strings.HasPrefix(env.Type, "checkout.session.") {
		return ev, nil
	}
	s, err := decodeSession(env.Data.Object)
	if err != nil {
		return fulfillment.Event{}, fulfillment.Permanent(fmt.Errorf("decode stripe event %s (%s): %w", env.ID, env.Type, err))
	}
	ev.Session = s
	return ev, nil
}

// eventSession is the part of a checkout.session an order needs, in a shape
// that every API version decodes into.
type eventSession struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	Status            string            `json:"status"`
	PaymentStatus     string            `json:"payment_status"`
	Mode              string            `json:"mode"`
	Currency          string            `json:"currency"`
	AmountSubtotal    int64             `json:"amount_subtotal"`
	AmountTotal       int64             `json:"amount_total"`
	ClientReferenceID string            `json:"client_reference_id"`
	Metadata          map[string]string `json:"metadata"`
	Created           int64             `json:"created"`
	CustomerEmail     string            `json:"customer_email"`
	// Customer, PaymentIntent and Invoice are an id, null, or (expanded)
	// an object with an id.
	Customer      json.RawMessage `json:"customer"`
	PaymentIntent json.RawMessage `json:"payment_intent"`
	Invoice       json.RawMessage `json:"invoice"`
	TotalDetails  *struct {
		AmountDiscount int64 `json:"amount_discount"`
		AmountShipping int64 `json:"amount_shipping"`
		AmountTax      int64 `json:"amount_tax"`
	} `json:"total_details"`
	CustomerDetails *struct {
		Email string `json:"email"`
		Name  string `json:"name"`
		Phone string `json:"phone"`
	} `json:"customer_details"`
	ShippingDetails      *eventShipping `json:"shipping_details"`
	CollectedInformation *struct {
		ShippingDetails *eventShipping `json:"shipping_details"`
	} `json:"collected_information"`
}

type eventShipping struct {
	Name    string               `json:"name"`
	Address *fulfillment.Address `json:"address"`
}

func decodeSession(raw json.RawMessage) (fulfillment.Session, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return fulfillment.Session{}, errors.New("data.object is not a checkout.session: not an object")
	}
	var es eventSession
	if err := json.Unmarshal(raw, &es); err != nil {
		return fulfillment.Session{}, fmt.Errorf("data.object: %w", err)
	}
	if es.Object != "checkout.session" || es.ID == "" {
		return fulfillment.Session{}, fmt.Errorf("data.object is not a checkout.session (object %q, id %q)", es.Object, es.ID)
	}
	s := fulfillment.Session{
		ID:                es.ID,
		Status:            es.Status,
		PaymentStatus:     fulfillment.PaymentStatus(es.PaymentStatus),
		Mode:              es.Mode,
		Currency:          es.Currency,
		AmountSubtotal:    es.AmountSubtotal,
		AmountTotal:       es.AmountTotal,
		ClientReferenceID: es.ClientReferenceID,
		Created:           time.Unix(es.Created, 0).UTC(),
	}
	if len(es.Metadata) > 0 {
		s.Metadata = es.Metadata
	}
	if cd := es.CustomerDetails; cd != nil {
		s.Customer = fulfillment.Customer{Email: cd.Email, Name: cd.Name, Phone: cd.Phone}
	}
	if s.Customer.Email == "" {
		s.Customer.Email = es.CustomerEmail
	}
	s.Customer.ID = refID(es.Customer)
	s.Payment = fulfillment.Payment{PaymentIntent: refID(es.PaymentIntent), Invoice: refID(es.Invoice)}
	if td := es.TotalDetails; td != nil {
		s.AmountDiscount, s.AmountTax, s.AmountShipping = td.AmountDiscount, td.AmountTax, td.AmountShipping
	}
	sd := es.ShippingDetails
	if sd == nil && es.CollectedInformation != nil {
		sd = es.CollectedInformation.ShippingDetails
	}
	if sd != nil && (sd.Name != "" || sd.Address != nil) {
		s.Shipping = &fulfillment.Shipping{Name: sd.Name}
		if sd.Address != nil {
			s.Shipping.Address = *sd.Address
		}
	}
	return s, nil
}

// moneyObject is the part of a charge, dispute or early fraud warning an
// event names: its charge (for a dispute or warning: an id or an expanded
// charge) and its payment.
type moneyObject struct {
	ID            string          `json:"id"`
	Object        string          `json:"object"`
	Charge        json.RawMessage `json:"charge"`
	PaymentIntent json.RawMessage `json:"payment_intent"`
	Invoice       json.RawMessage `json:"invoice"`
}

// decodeMoney fills ev.Object, Charge and Payment from data.object, which
// must be a want ("charge", "dispute", "radar.early_fraud_warning").
func decodeMoney(raw json.RawMessage, want string, ev *fulfillment.Event) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return fmt.Errorf("data.object is not a %s: not an object", want)
	}
	var mo moneyObject
	if err := json.Unmarshal(raw, &mo); err != nil {
		return fmt.Errorf("data.object: %w", err)
	}
	if mo.Object != want || mo.ID == "" {
		return fmt.Errorf("data.object is not a %s (object %q, id %q)", want, mo.Object, mo.ID)
	}
	ev.Object = mo.ID
	ev.Payment = fulfillment.Payment{PaymentIntent: refID(mo.PaymentIntent), Invoice: refID(mo.Invoice)}
	if want == "charge" {
		ev.Charge = mo.ID
		return nil
	}
	ev.Charge = refID(mo.Charge)
	if ev.Charge == "" {
		return fmt.Errorf("%s %s names no charge", want, mo.ID)
	}
	var ch moneyObject // an expanded charge names the invoice too
	if json.Unmarshal(mo.Charge, &ch) == nil {
		if ev.Payment.PaymentIntent == "" {
			ev.Payment.PaymentIntent = refID(ch.PaymentIntent)
		}
		ev.Payment.Invoice = refID(ch.Invoice)
	}
	return nil
}

// refID reads a field that is an id, null, or an expanded object.
func refID(raw json.RawMessage) string {
	var id string
	if len(raw) == 0 {
		return ""
	}
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
