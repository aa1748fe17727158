package broker

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/worker"
)

// setSignatures adds the non-empty signature headers to h.
func setSignatures(h nats.Header, s fulfillment.Signatures) {
	if s.Stripe != "" {
		h.Set(worker.HeaderStripeSignature, s.Stripe)
	}
	if s.Fulfillment != "" {
		h.Set(worker.HeaderFulfillmentSignature, s.Fulfillment)
	}
}

// FulfillmentSigner makes and checks Fulfillment-Signature headers.
type FulfillmentSigner struct {
	key []byte
}

// NewFulfillmentSigner returns a signer with key, at least 32 bytes.
func NewFulfillmentSigner(key []byte) (*FulfillmentSigner, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("fulfillment signing key: %d bytes, want at least 32", len(key))
	}
	return &FulfillmentSigner{key: key}, nil
}

func (s *FulfillmentSigner) mac(eventID string, body []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(eventID))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the Fulfillment-Signature of an event.
func (s *FulfillmentSigner) Sign(eventID string, body []byte) string {
	return "v1=" + hex.EncodeToString(s.mac(eventID, body))
}

// Verify reports whether header is the Fulfillment-Signature of the event,
// compared in constant time.
func (s *FulfillmentSigner) Verify(header, eventID string, body []byte) bool {
	v, ok := strings.CutPrefix(header, "v1=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(v)
	return err == nil && hmac.Equal(got, s.mac(eventID, body))
}

// StripeVerifier checks a Stripe-Signature header against a body, without
// an age limit: *stripeevent.Verifier's VerifySignature.
type StripeVerifier interface {
	VerifySignature(header string, body []byte) error
}

// Trusted runs next only for messages that carry a valid Stripe-Signature
// (checked with stripe against the webhook secrets) or a valid
// Fulfillment-Signature (checked with own). Any other message fails
// permanently with an error wrapping fulfillment.ErrUntrusted, so the pool dead-letters
// it with the reason; a retry of that dead letter carries the same headers
// and is refused again.
func Trusted(stripe StripeVerifier, own *FulfillmentSigner, next worker.Handler) worker.Handler {
	return worker.HandlerFunc(func(ctx context.Context, m worker.Message) error {
		sigs := m.Signatures()
		if sigs.Fulfillment != "" && own.Verify(sigs.Fulfillment, m.EventID, m.Data) {
			return next.Handle(ctx, m)
		}
		serr := stripe.VerifySignature(sigs.Stripe, m.Data)
		if serr == nil {
			return next.Handle(ctx, m)
		}
		reason := "no valid Stripe-Signature for any configured webhook secret (" + serr.Error() + ")"
		if sigs.Fulfillment != "" {
			reason += ", and its Fulfillment-Signature is not this worker's"
		}
		return fulfillment.Permanent(fmt.Errorf("%w: %s", fulfillment.ErrUntrusted, reason))
	})
}
