package fulfillment

import (
	"errors"
	"time"
)

// ErrNotFound is returned by stores and the Stripe adapter when the thing
// asked for does not exist.
var ErrNotFound = errors.New("not found")

// PermanentError marks a failure that retrying cannot fix (a session Stripe
// does not know, a revoked API key, an event that is not a Checkout event).
// The worker runtime terminates such a message and records a dead letter.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent reports true: the failure will not go away by retrying.
func (e *PermanentError) Permanent() bool { return true }

// Permanent wraps err so that the runtime does not retry it. Nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or an error it wraps, says it is permanent.
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// RetryAfterError is a transient failure that knows when to try again, such
// as a Stripe 429 or a 503 with Retry-After.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter is the earliest sensible moment to retry.
func (e *RetryAfterError) RetryAfter() time.Duration { return e.After }
