package fulfillment

import "time"

// Replay is a request to put a Stripe event (back) on the event stream: a
// dead letter retried by an operator, or an event reconcile found missing.
// Processing stays idempotent: an event already recorded is a duplicate.
type Replay struct {
	ID          int64 // assigned when queued
	EventID     string
	EventType   string
	Payload     []byte // the event as Stripe sent it (or as reconcile built it)
	Reason      string // such as "dlq retry" or "reconcile"
	RequestedAt time.Time
	PublishedAt time.Time // zero while pending
	// Signatures go with the event onto the stream: a dead letter's
	// retry carries the failed message's own.
	Signatures Signatures
	// FromStripeAPI marks an event fulfillmentd read from Stripe's API
	// itself, or built from a session it read (reconcile): the worker signs
	// it with its own key when it publishes it.
	FromStripeAPI bool
}

// Pending reports whether the replay still waits to be published.
func (r Replay) Pending() bool { return r.PublishedAt.IsZero() }
