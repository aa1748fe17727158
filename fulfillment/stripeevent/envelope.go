package stripeevent

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// Envelope is what the receiver reads of an event: enough to route it.
// The worker decodes the rest.
type Envelope struct {
	ID     string `json:"id"`
	Object string `json:"object"`
	Type   string `json:"type"`
	Data   struct {
		Object struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"object"`
	} `json:"data"`
}

// ParseEnvelope reads body as a Stripe event's envelope and checks it is
// one: an event with an id and a type, and, if fulfillment handles its
// type, the object it is about in data.object, with an id: a
// checkout.session for checkout events, a charge, dispute or
// radar.early_fraud_warning for money events (fulfillment.MoneyObject).
// The error is a sentence for the sender.
func ParseEnvelope(body []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return Envelope{}, errors.New("body is not a Stripe event: invalid JSON")
	}
	switch {
	case e.Object != "event":
		return Envelope{}, errors.New(`body is not a Stripe event (object != "event")`)
	case e.ID == "" || e.Type == "":
		return Envelope{}, errors.New("event has no id or type")
	case fulfillment.HandlesCheckout(e.Type) && (e.Data.Object.Object != "checkout.session" || e.Data.Object.ID == ""):
		return Envelope{}, errors.New("checkout event without a checkout.session in data.object")
	}
	if want := fulfillment.MoneyObject(e.Type); want != "" && (e.Data.Object.Object != want || e.Data.Object.ID == "") {
		return Envelope{}, fmt.Errorf("%s event without a %s in data.object", e.Type, want)
	}
	return e, nil
}
