package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/worker"
)

// ErrNotConnected is returned by Publish while the connection to the broker
// is down (reconnecting): nothing was sent.
var ErrNotConnected = errors.New("not connected to the broker")

// Publisher puts verified events on the stream.
type Publisher struct {
	js jetstream.JetStream
}

// NewPublisher returns a Publisher; it is safe for concurrent use.
func NewPublisher(js jetstream.JetStream) *Publisher {
	return &Publisher{js: js}
}

// Publish stores payload on subject worker.SubjectPrefix+eventType with Nats-Msg-Id
// eventID and returns once the stream has acknowledged it (with SyncAlways,
// once it is on disk). duplicate reports that the stream already held this
// event id within its Duplicates window; the event is durable either way.
// Without a deadline on ctx, nats.go's default 5s timeout applies.
func (p *Publisher) Publish(ctx context.Context, eventType, eventID string, payload []byte) (duplicate bool, err error) {
	return p.PublishDelivery(ctx, eventType, eventID, "", payload)
}

// PublishDelivery is Publish for a verified webhook delivery: the message
// also carries the delivery's Stripe-Signature header (worker.HeaderStripeSignature),
// which the worker checks again before the event may change an order
// (Trusted). An empty stripeSignature adds no header.
func (p *Publisher) PublishDelivery(ctx context.Context, eventType, eventID, stripeSignature string, payload []byte) (duplicate bool, err error) {
	if eventID == "" {
		return false, errors.New("publish: empty event id")
	}
	if !validEventType(eventType) {
		return false, fmt.Errorf("publish %s: event type %q is not a valid subject suffix", eventID, eventType)
	}
	// While the connection is down, nats.go would buffer the message and
	// wait out ctx for an ack that cannot come: refuse at once instead, so
	// the webhook is answered 503 now and Stripe delivers it again later.
	if st := p.js.Conn().Status(); st != nats.CONNECTED {
		return false, fmt.Errorf("publish %s %s: %w (%s)", eventType, eventID, ErrNotConnected, st)
	}
	msg := nats.NewMsg(worker.SubjectPrefix + eventType)
	msg.Data = payload
	setSignatures(msg.Header, fulfillment.Signatures{Stripe: stripeSignature})
	ack, err := p.js.PublishMsg(ctx, msg,
		jetstream.WithMsgID(eventID),
		jetstream.WithExpectStream(worker.StreamName))
	if err != nil {
		return false, fmt.Errorf("publish %s %s: %w", eventType, eventID, err)
	}
	return ack.Duplicate, nil
}

// validEventType accepts dot-separated tokens of letters, digits, '_' and
// '-' (every Stripe event type), so a type can never add wildcards or empty
// tokens to the subject.
func validEventType(t string) bool {
	if t == "" || len(t) > 200 {
		return false
	}
	for tok := range strings.SplitSeq(t, ".") {
		if tok == "" {
			return false
		}
		for _, r := range tok {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
			if !ok {
				return false
			}
		}
	}
	return true
}
