package fulfillment

import "time"

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
