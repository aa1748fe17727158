package stripeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/form"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// What reconcile reads from Stripe: every completed Checkout Session, every
// checkout payment event and every money event since a moment, raw as Stripe returns them
// (the events are enqueued as they are; a session may become the data of a
// synthesized event).

// CompletedSessions calls fn for every Checkout Session with status
// complete created at or after since, newest first, 100 per request
// (GET /v1/checkout/sessions?status=complete&created[gte]=...), through the
// same rate limiter as every other request of c. raw is the session object
// as Stripe sent it. An error from fn stops the listing and is returned.
func (c *Client) CompletedSessions(ctx context.Context, since time.Time, fn func(s fulfillment.Session, raw json.RawMessage) error) error {
	params := &stripe.CheckoutSessionListParams{
		Status:       stripe.String(string(stripe.CheckoutSessionStatusComplete)),
		CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix()},
	}
	return c.listRaw(ctx, "/v1/checkout/sessions", params, &params.ListParams, func(raw json.RawMessage) error {
		var s stripe.CheckoutSession
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("decode checkout session: %w", err)
		}
		return fn(SessionFromStripe(&s), raw)
	})
}

// CheckoutEvents calls fn for every checkout.session.completed,
// .async_payment_succeeded and .async_payment_failed event created at or
// after since, newest first (GET /v1/events?types[]=...&created[gte]=...).
// Stripe keeps events for 30 days: since further back lists 30 days. raw is
// the event as Stripe sent it, in the API version it was created with.
func (c *Client) CheckoutEvents(ctx context.Context, since time.Time, fn func(ev fulfillment.Event, raw json.RawMessage) error) error {
	return c.events(ctx, since, []string{
		fulfillment.EventSessionCompleted,
		fulfillment.EventSessionAsyncPaymentSucceed,
		fulfillment.EventSessionAsyncPaymentFailed,
	}, fn)
}

// MoneyEvents calls fn for every charge.refunded, charge.dispute.created,
// .updated and .closed, radar.early_fraud_warning.created and .updated
// event created at or after since, as CheckoutEvents does.
func (c *Client) MoneyEvents(ctx context.Context, since time.Time, fn func(ev fulfillment.Event, raw json.RawMessage) error) error {
	return c.events(ctx, since, []string{
		fulfillment.EventChargeRefunded,
		fulfillment.EventDisputeCreated,
		fulfillment.EventDisputeUpdated,
		fulfillment.EventDisputeClosed,
		fulfillment.EventEarlyFraudWarningCreated,
		fulfillment.EventEarlyFraudWarningUpdated,
	}, fn)
}

// events lists the events of the given types created at or after since.
func (c *Client) events(ctx context.Context, since time.Time, types []string, fn func(ev fulfillment.Event, raw json.RawMessage) error) error {
	params := &stripe.EventListParams{
		CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix()},
		Types:        stripe.StringSlice(types),
	}
	return c.listRaw(ctx, "/v1/events", params, &params.ListParams, func(raw json.RawMessage) error {
		ev, err := stripeevent.Decode(raw)
		if err != nil {
			return err
		}
		return fn(ev, raw)
	})
}

// rawPage is one page of a Stripe list, its items undecoded.
type rawPage struct {
	stripe.APIResource
	Data    []json.RawMessage `json:"data"`
	HasMore bool              `json:"has_more"`
}

// listRaw pages through a list endpoint, 100 items per request, calling fn
// for each item. lp is params' embedded ListParams.
func (c *Client) listRaw(ctx context.Context, path string, params any, lp *stripe.ListParams, fn func(json.RawMessage) error) error {
	lp.Context = ctx
	lp.Limit = stripe.Int64(pageSize)
	for {
		var page rawPage
		query := &form.Values{}
		form.AppendTo(query, params)
		if err := c.sessions.B.CallRaw(http.MethodGet, path, c.sessions.Key, query, lp.GetParams(), &page); err != nil {
			return classify("list "+path, err)
		}
		for _, raw := range page.Data {
			if err := fn(raw); err != nil {
				return err
			}
		}
		if !page.HasMore || len(page.Data) == 0 {
			return nil
		}
		var last struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(page.Data[len(page.Data)-1], &last); err != nil || last.ID == "" {
			return fmt.Errorf("list %s: last item has no id", path)
		}
		lp.StartingAfter = stripe.String(last.ID)
	}
}
