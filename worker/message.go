// Package worker is fulfillmentd's consumer runtime: a Pool that runs a
// Handler per message of the STRIPE_EVENTS stream and decides, from the
// error it returns, whether to ack, retry later, or dead-letter the message;
// the Message contract; and the one Backoff and Loop every background loop
// uses. The broker itself (nats-server, streams, publishing) is
// worker/broker.
package worker

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// Names of the stream, its subjects and the workers' durable consumer: the
// broker (worker/broker) sets them up, the Pool consumes them.
const (
	StreamName    = "STRIPE_EVENTS"
	SubjectPrefix = "stripe.events." // subject = SubjectPrefix + event type
	ConsumerName  = "fulfillment-workers"
)

// Headers of a stream message besides Nats-Msg-Id.
//
// Stream messages prove where they come from: anyone allowed to publish on
// the stream's subjects could otherwise make an unpaid session ready to
// ship. A message may reach the handler only with one of the signature
// headers valid (see broker.Trusted).
const (
	// HeaderEventID carries the Stripe event id of a replayed message, whose
	// Nats-Msg-Id differs from it (see broker.ReplayMsgID). The pool reads
	// it, so a replay that fails again is dead-lettered under the event's
	// own id.
	HeaderEventID = "Fulfillment-Event-Id"
	// HeaderStripeSignature is the Stripe-Signature of the webhook delivery,
	// which the receiver verified before publishing; the worker verifies it
	// again, at any age (events wait in the stream).
	HeaderStripeSignature = "Stripe-Signature"
	// HeaderFulfillmentSignature is the worker's own signature of an event
	// it read from Stripe's API (reconcile): "v1=<hex HMAC-SHA256(key,
	// <event id>.<body>)>", with a key only the worker holds.
	HeaderFulfillmentSignature = "Fulfillment-Signature"
)

// Message is one delivery of a stored event.
type Message struct {
	Subject   string
	EventID   string // Stripe event id: HeaderEventID on a replay, else Nats-Msg-Id
	Data      []byte
	Attempt   int       // deliveries so far, this one included (1-based)
	Published time.Time // when the stream stored the event
	// Header is the message's NATS header: its signatures (see Signatures).
	Header nats.Header
}

// EventType is the Stripe event type: the subject without SubjectPrefix.
func (m Message) EventType() string { return strings.TrimPrefix(m.Subject, SubjectPrefix) }

// Signatures reads the message's signature headers.
func (m Message) Signatures() fulfillment.Signatures {
	return fulfillment.Signatures{Stripe: m.Header.Get(HeaderStripeSignature), Fulfillment: m.Header.Get(HeaderFulfillmentSignature)}
}

// eventID is the Stripe event id of a message: HeaderEventID on a replay,
// its Nats-Msg-Id otherwise.
func eventID(h nats.Header) string {
	if id := h.Get(HeaderEventID); id != "" {
		return id
	}
	return h.Get(jetstream.MsgIDHeader)
}
