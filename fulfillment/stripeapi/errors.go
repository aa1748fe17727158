package stripeapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// DefaultRetryAfter is the wait suggested for a 429 without Retry-After.
const DefaultRetryAfter = 2 * time.Second

// classify wraps err, from stripe-go, with op and the domain's retry
// semantics:
//   - 429 lock_timeout (another request holds the object's lock; stripe-go
//     has already retried it) and 409 → transient (plain error): no
//     rate limit, nothing to slow down for;
//   - other 429s (rate_limit; stripe-go does not retry those) →
//     fulfillment.RetryAfter (CodeRetryAfter), After from Retry-After or DefaultRetryAfter;
//   - 401 (invalid or revoked key) and 403 (a key without the permission) →
//     transient, and errors.Is(err, fulfillment.ErrUnauthorized): an outage
//     an operator fixes, which the worker pool rides out with a long backoff;
//   - 404 → permanent, and errors.Is(err, fulfillment.ErrNotFound);
//   - other 4xx (400 invalid request) → permanent;
//   - 5xx, network errors, timeouts → transient (plain error); stripe-go
//     has already retried them MaxNetworkRetries times.
//
// The *stripe.Error stays reachable with errors.As. Stripe's messages show
// a rejected key redacted (sk_test_****abcd); classify adds nothing of it.
func classify(op string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("%s: %w", op, err)
	}
	wrapped := fmt.Errorf("%s: %w", op, stripeError{se})
	status := se.HTTPStatusCode
	switch {
	case status == http.StatusConflict || se.Code == stripe.ErrorCodeLockTimeout:
		return wrapped
	case status == http.StatusTooManyRequests || se.Code == stripe.ErrorCodeRateLimit:
		return fulfillment.RetryAfter(wrapped, retryAfter(se))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Errorf("%s: %w: %w", op, fulfillment.ErrUnauthorized, stripeError{se})
	case status == http.StatusNotFound:
		return fulfillment.Permanent(fmt.Errorf("%s: %w: %w", op, fulfillment.ErrNotFound, stripeError{se}))
	case status >= 400 && status < 500:
		return fulfillment.Permanent(wrapped)
	default:
		return wrapped
	}
}

// stripeError prints a *stripe.Error in one short line (its own Error is
// the whole JSON object) and unwraps to it.
type stripeError struct{ err *stripe.Error }

func (e stripeError) Error() string {
	s := fmt.Sprintf("stripe %d %s", e.err.HTTPStatusCode, e.err.Type)
	if e.err.Code != "" {
		s += "/" + string(e.err.Code)
	}
	if e.err.Msg != "" {
		s += ": " + e.err.Msg
	}
	if e.err.RequestID != "" {
		s += " (request " + e.err.RequestID + ")"
	}
	return s
}

func (e stripeError) Unwrap() error { return e.err }

// retryAfter reads the Retry-After header (seconds or HTTP date) of the
// answer that carried se.
func retryAfter(se *stripe.Error) time.Duration {
	if se.LastResponse == nil {
		return DefaultRetryAfter
	}
	v := se.LastResponse.Header.Get("Retry-After")
	if v == "" {
		return DefaultRetryAfter
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
		return 0
	}
	return DefaultRetryAfter
}
