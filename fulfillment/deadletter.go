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
}
