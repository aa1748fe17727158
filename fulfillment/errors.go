package fulfillment

import (
	"errors"
	"fmt"
	"time"
)

// Code says what kind of failure an Error is. The HTTP API is the only place
// a code becomes a status; the worker runtime reads CodePermanent,
// CodeRetryAfter and CodeUnauthorized.
type Code uint8

const (
	CodeNotFound     Code = iota + 1 // the thing asked for does not exist
	CodeConflict                     // the order's state forbids the change (canceled, unpaid, shipped)
	CodeInvalid                      // the request cannot apply to this order as given
	CodeBadRequest                   // a request refused before any work (bad JSON, bad cursor, bad query)
	CodeTooLarge                     // a request body over its limit
	CodePermanent                    // retrying cannot fix it (unknown session, not a Checkout event)
	CodeRetryAfter                   // transient, and it knows when to try again (Stripe 429)
	CodeUntrusted                    // a stream message no trusted party signed
	CodeUnauthorized                 // a dependency rejected this service's credentials (transient)
	CodeForbidden                    // the caller is known but may not do this (a warehouse token on the merchant API)
)

var codeText = [...]string{"", "not found", "order state conflict", "invalid request for this order",
	"bad request", "request too large", "permanent failure", "retry later", "untrusted message",
	"credentials rejected", "forbidden"}

func (c Code) String() string {
	if int(c) < len(codeText) {
		return codeText[c]
	}
	return "unknown error"
}

// Error is fulfillmentd's one error type. Detail is a sentence for the
// caller (the HTTP problem detail); Err is the cause. errors.Is(err, ErrX)
// matches any *Error with X's code anywhere in err's tree.
type Error struct {
	Code   Code
	Detail string
	After  time.Duration // CodeRetryAfter: the earliest sensible retry
	Err    error
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil:
		return e.Err.Error()
	case e.Detail != "":
		return e.Detail
	}
	return e.Code.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the code sentinels below (an *Error with only a Code).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Detail == "" && t.Err == nil
}

// Sentinels: compare with errors.Is.
var (
	ErrNotFound   = &Error{Code: CodeNotFound}
	ErrConflict   = &Error{Code: CodeConflict}
	ErrInvalid    = &Error{Code: CodeInvalid}
	ErrBadRequest = &Error{Code: CodeBadRequest}
	ErrTooLarge   = &Error{Code: CodeTooLarge}
	ErrPermanent  = &Error{Code: CodePermanent}
	// ErrUntrusted is wrapped by the error of a message that carried no
	// valid signature: it is dead-lettered, never processed. A dead
	// letter's Error starts with its text.
	ErrUntrusted = &Error{Code: CodeUntrusted}
	// ErrUnauthorized marks a failure because a dependency rejected this
	// service's credentials: Stripe answered 401 (a revoked or mistyped
	// key) or 403 (a restricted key without the permission). It is not
	// permanent: no event is at fault, and every one succeeds once an
	// operator fixes the key. The worker runtime retries such failures
	// with a long backoff (an outage to ride out and alert on, not a
	// reason to dead-letter) and commands report them as a configuration
	// problem.
	ErrUnauthorized = &Error{Code: CodeUnauthorized}
)

// Errorf makes an *Error whose Detail is the formatted sentence.
func Errorf(c Code, format string, args ...any) error {
	return &Error{Code: c, Detail: fmt.Sprintf(format, args...)}
}

// Permanent wraps err so that the runtime does not retry it (a session
// Stripe does not know, an event that is not a Checkout event; a rejected
// API key is not one: see ErrUnauthorized). The worker runtime terminates
// such a message and records a dead letter. Nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: CodePermanent, Err: err}
}

// RetryAfter wraps a transient err that knows when to retry, such as a
// Stripe 429 or a 503 with Retry-After.
func RetryAfter(err error, after time.Duration) error {
	return &Error{Code: CodeRetryAfter, After: after, Err: err}
}

// IsPermanent reports whether err, or an error it wraps, is permanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// RetryDelay is the After of the first CodeRetryAfter error in err's tree.
func RetryDelay(err error) (time.Duration, bool) {
	if e := Find(err, CodeRetryAfter); e != nil {
		return e.After, true
	}
	return 0, false
}

// Find returns the first *Error with code c in err's tree (depth first,
// like errors.As), or nil.
func Find(err error, c Code) *Error {
	switch x := err.(type) {
	case nil:
		return nil
	case *Error:
		if x.Code == c {
			return x
		}
		return Find(x.Err, c)
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			if f := Find(e, c); f != nil {
				return f
			}
		}
		return nil
	case interface{ Unwrap() error }:
		return Find(x.Unwrap(), c)
	}
	return nil
}
