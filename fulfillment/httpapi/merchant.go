package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// The merchant API: admin tokens only (see requireToken). The merchant
// holds, releases and cancels orders, and the merchant's Checkout success
// page fulfils its session before the webhook arrives.

// SessionFulfiller records a Checkout Session's order from Stripe's
// current state, as a webhook would: fulfillment.Processor.
type SessionFulfiller interface {
	FulfillSession(ctx context.Context, sessionID string) (fulfillment.Order, error)
}

// DefaultFulfillTimeout is how long POST /v1/checkout/sessions/{id}/fulfill
// waits for Stripe and the database: as long as Checkout waits for the
// answer to checkout.session.completed.
const DefaultFulfillTimeout = 10 * time.Second

// fulfillRetryAfter is the Retry-After of a fulfil that failed without
// saying when to try again (a deadline, Stripe unreachable).
const fulfillRetryAfter = 5 * time.Second

// merchantAction is one of the merchant's changes to an order: the order's
// rule (Order.HoldByMerchant, ReleaseByMerchant, CancelByMerchant) given
// the note (when the action takes one), the admin's name and the time.
type merchantAction func(o fulfillment.Order, note, by string, at time.Time) (fulfillment.Order, bool, error)

// changeByMerchant: POST /v1/orders/{id}/hold, /release, /cancel. 200
// with the order (also when the action changed nothing); the rule's
// refusals answer 409 or 422. With note, the body may be empty or
// {"note": "..."}; without, empty or {}.
func changeByMerchant(log *slog.Logger, orders Orders, now func() time.Time, takesNote bool, act merchantAction) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Note string `json:"note"`
		}
		var dst any = &body
		if !takesNote {
			dst = &struct{}{}
		}
		if err := decodeJSON(w, r, dst, true); err != nil {
			writeError(w, r, log, err)
			return
		}
		o, err := orders.ChangeOrder(r.Context(), r.PathValue("id"), func(o fulfillment.Order) (fulfillment.Order, bool, error) {
			return act(o, body.Note, tokenName(r.Context()), now())
		})
		if err != nil {
			writeError(w, r, log, err)
			return
		}
		writeJSON(w, http.StatusOK, o)
	})
}

func holdByMerchant(o fulfillment.Order, note, by string, at time.Time) (fulfillment.Order, bool, error) {
	return o.HoldByMerchant(note, by, at)
}

func releaseByMerchant(o fulfillment.Order, _, by string, at time.Time) (fulfillment.Order, bool, error) {
	return o.ReleaseByMerchant(by, at)
}

func cancelByMerchant(o fulfillment.Order, note, by string, at time.Time) (fulfillment.Order, bool, error) {
	return o.CancelByMerchant(note, by, at)
}

// fulfillSession: POST /v1/checkout/sessions/{id}/fulfill, the success
// page's fulfil. 200 with the order of a complete session; 409 for an open
// or expired one (no order); 404 when Stripe does not know it; 503 with
// Retry-After when Stripe (or the database) cannot answer within timeout.
// The body may be empty or {}.
func fulfillSession(log *slog.Logger, sessions SessionFulfiller, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var none struct{}
		if err := decodeJSON(w, r, &none, true); err != nil {
			writeError(w, r, log, err)
			return
		}
		id := r.PathValue("id")
		if sessions == nil {
			writeError(w, r, log, errors.New("no session fulfiller configured"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		o, err := sessions.FulfillSession(ctx, id)
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, o)
		case errors.Is(err, fulfillment.ErrNotFound):
			writeError(w, r, log, &fulfillment.Error{Code: fulfillment.CodeNotFound,
				Detail: "Stripe knows no Checkout Session " + strconv.Quote(id), Err: err})
		case refusal(err) || fulfillment.IsPermanent(err) || r.Context().Err() != nil:
			// A refusal (an open or expired session: 409 with the
			// Processor's sentence), the server's trouble, or the client
			// went away.
			writeError(w, r, log, err)
		default:
			after, known := fulfillment.RetryDelay(err)
			if !known {
				after = fulfillRetryAfter
			}
			secs := strconv.Itoa(max(int(math.Ceil(after.Seconds())), 1))
			log.Warn("success-page fulfil failed", "session", id, "error", err.Error())
			w.Header().Set("Retry-After", secs)
			writeProblem(w, http.StatusServiceUnavailable, "Stripe or the database did not answer in time; try again in "+secs+" s")
		}
	})
}
