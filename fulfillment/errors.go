package fulfillment

import (
	"errors"
	"time"
)

// ErrNotFound is returned by stores and the Stripe adapter when the thing
// asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrUnauthorized marks a failure because a dependency rejected this
// service's credentials: Stripe answered 401 (a revoked or mistyped key) or
// 403 (a restricted key without the permission). It is not permanent: no
// event is at fault, and every one succeeds once an operator fixes the key.
// The worker runtime retries such failures with a long backoff (an outage to
// ride out and alert on, not a reason to dead-letter) and commands report
// them as a configuration problem.
var ErrUnauthorized = errors.New("credentials rejected")

// PermanentError marks a failure that retrying cannot fix (a session Stripe
// does not know, an event that is not a Checkout event). A rejected API key
// is not one: see ErrUnauthorized.
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
