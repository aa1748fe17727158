package fulfillment

import (
	"strings"
	"time"
)

// DeadLetter is an event that could not become an order: kept with the event
// itself, the last error, how many attempts, and when.
type DeadLetter struct {
	EventID       string
	EventType     string
	Subject       string
	Payload       []byte
	Error         string
	Attempts      int
	FirstFailedAt time.Time
	LastFailedAt  time.Time
	// Signatures are those the failed message carried: a retry carries
	// them again, and is verified again.
	Signatures Signatures
}

// Signatures are what shows that an event comes from Stripe. Only an event
// with a valid one may change an order: the Stripe-Signature of the webhook
// delivery (checked against the webhook secrets, at any age), or
// fulfillmentd's own signature of an event it read from Stripe's API itself
// (reconcile), made with a key only the worker holds.
type Signatures struct {
	Stripe      string // the delivery's Stripe-Signature header
	Fulfillment string // fulfillmentd's own signature (the Fulfillment-Signature header)
}

// Retriable reports whether a retry of the dead letter can get past the
// worker's signature check: it kept signatures, and was not refused for
// lacking valid ones (a forgery, or a message signed only with a webhook
// secret since retired). Reconcile queues the event as Stripe's API lists
// it in place of a dead letter that is not.
func (dl DeadLetter) Retriable() bool {
	return dl.Signatures != (Signatures{}) && !strings.HasPrefix(dl.Error, ErrUntrusted.Error())
}
