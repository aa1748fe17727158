// Package stripeapi reads Checkout Sessions from Stripe with stripe-go v76:
// it implements fulfillment.SessionReader, throttles every request it sends
// (stripe-go's own retries included) to one ceiling shared by all callers,
// maps Stripe's errors onto the domain's retry semantics, and decodes webhook
// event bodies into fulfillment.Event.
package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/checkout/session"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
)

// Client is the domain's Stripe: it reads sessions for the Processor and
// history for the Reconciler.
var (
	_ fulfillment.SessionReader = (*Client)(nil)
	_ fulfillment.PaymentReader = (*Client)(nil)
	_ fulfillment.StripeHistory = (*Client)(nil)
)

// pageSize is the largest page Stripe serves: one request per 100 line items.
const pageSize = 100

// burst is how many requests may leave at once before the MaxRPS pacing
// applies. Small, so that a burst never trips Stripe's own per-second limit.
const burst = 2

// DefaultTimeout bounds one HTTP request when Config.HTTPClient is nil.
const DefaultTimeout = 20 * time.Second

// Config configures a Client.
type Config struct {
	// SecretKey is the Stripe secret (sk_...) or restricted (rk_...) key.
	SecretKey string
	// BaseURL is the API's base URL; "" means https://api.stripe.com.
	BaseURL string
	// MaxRPS is the ceiling of requests per second across every caller of
	// this Client, retries included. A 429 slows the pace below it for a
	// while (see Rate). 0 means no client-side limit.
	MaxRPS float64
	// HTTPClient is used (copied, with its transport wrapped) for every
	// request. Nil means a client with DefaultTimeout.
	HTTPClient *http.Client
	// Log receives stripe-go's retry warnings (at warn) and its request
	// errors (at debug: they are returned to the caller, who handles them).
	// Nil discards.
	Log *slog.Logger
	// MaxNetworkRetries is how many times stripe-go retries network errors,
	// 409s and 5xx answers. 0 means stripe-go's default (2); negative means
	// no retries.
	MaxNetworkRetries int64
	// OnWait, if set, learns how long each request waited for the limiter.
	OnWait func(time.Duration)
}

// Client reads Checkout Sessions. It is safe for concurrent use.
type Client struct {
	sessions *session.Client
	api      *client.API // charges, disputes, fraud warnings, invoices (payments.go)
	requests *atomic.Int64
	throttle *throttle
}

// New returns a Client. It builds its own stripe-go backend and does not
// touch stripe-go's package-level state (stripe.Key, default backends).
func New(cfg Config) *Client {
	requests := new(atomic.Int64)
	hc := &http.Client{Timeout: DefaultTimeout}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	th := newThrottle(next, cfg.MaxRPS, requests)
	th.onWait = cfg.OnWait
	hc.Transport = th

	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bc := &stripe.BackendConfig{
		HTTPClient:      hc,
		LeveledLogger:   leveledLogger{log: log.With("component", "stripe-go")},
		EnableTelemetry: stripe.Bool(false),
	}
	switch {
	case cfg.MaxNetworkRetries > 0:
		bc.MaxNetworkRetries = stripe.Int64(cfg.MaxNetworkRetries)
	case cfg.MaxNetworkRetries < 0:
		bc.MaxNetworkRetries = stripe.Int64(0)
	}
	if cfg.BaseURL != "" {
		bc.URL = stripe.String(cfg.BaseURL)
	}
	backends := &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, bc),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, &stripe.BackendConfig{HTTPClient: hc, LeveledLogger: bc.LeveledLogger}),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, &stripe.BackendConfig{HTTPClient: hc, LeveledLogger: bc.LeveledLogger}),
	}
	api := client.New(cfg.SecretKey, backends)
	return &Client{sessions: api.CheckoutSessions, api: api, requests: requests, throttle: th}
}

// Requests is the number of HTTP requests this Client has sent, stripe-go's
// retries included.
func (c *Client) Requests() int64 { return c.requests.Load() }

// RateLimited is the number of rate-limit 429 answers this Client has
// received (429 lock_timeout, which says nothing about the pace, not counted).
func (c *Client) RateLimited() int64 { return c.throttle.limited.Load() }

// Rate is the current pace in requests per second: MaxRPS, or less for a
// while after 429s. 0 means unlimited (MaxRPS 0).
func (c *Client) Rate() float64 { return c.throttle.rate() }

// Session retrieves a Checkout Session's current state (one request, plus
// stripe-go's retries).
func (c *Client) Session(ctx context.Context, sessionID string) (fulfillment.Session, error) {
	if sessionID == "" {
		return fulfillment.Session{}, fulfillment.Permanent(errors.New("retrieve checkout session: empty session id"))
	}
	params := &stripe.CheckoutSessionParams{}
	params.Context = ctx
	s, err := c.sessions.Get(sessionID, params)
	if err != nil {
		return fulfillment.Session{}, classify("retrieve checkout session "+sessionID, err)
	}
	return SessionFromStripe(s), nil
}

// SessionWithLineItems retrieves a Checkout Session's current state with
// its line items expanded (price.product too): one request returns the
// session and its first 10 lines, as Stripe embeds them. The rest, if
// line_items.has_more, are listed 100 per request after the last of them:
// 1 + ⌈(n − 10) ÷ 100⌉ requests for n lines.
func (c *Client) SessionWithLineItems(ctx context.Context, sessionID string) (fulfillment.Session, fulfillment.Lines, error) {
	if sessionID == "" {
		return fulfillment.Session{}, fulfillment.Lines{}, fulfillment.Permanent(errors.New("retrieve checkout session: empty session id"))
	}
	params := &stripe.CheckoutSessionParams{}
	params.Context = ctx
	params.AddExpand("line_items.data.price.product")
	s, err := c.sessions.Get(sessionID, params)
	lines := fulfillment.Lines{Requests: 1}
	if err != nil {
		return fulfillment.Session{}, lines, classify("retrieve checkout session "+sessionID, err)
	}
	more, after := true, "" // an answer without the expansion (a mock): list every line
	if l := s.LineItems; l != nil {
		for _, li := range l.Data {
			lines.Items = append(lines.Items, LineItemFromStripe(li))
		}
		if n := len(lines.Items); n > 0 {
			after = lines.Items[n-1].ID
		}
		more = l.HasMore
	}
	if more {
		err = c.listLineItems(ctx, sessionID, after, &lines)
	}
	return SessionFromStripe(s), lines, err
}

// LineItems lists every line item of a session, 100 per request (so exactly
// one request up to 100 items), with price.product expanded.
func (c *Client) LineItems(ctx context.Context, sessionID string) (fulfillment.Lines, error) {
	var lines fulfillment.Lines
	if sessionID == "" {
		return lines, fulfillment.Permanent(errors.New("list line items: empty session id"))
	}
	err := c.listLineItems(ctx, sessionID, "", &lines)
	return lines, err
}

// listLineItems appends the session's line items after startingAfter ("":
// from the first) to lines, one page of 100 per request, and counts the
// requests.
func (c *Client) listLineItems(ctx context.Context, sessionID, startingAfter string, lines *fulfillment.Lines) error {
	for {
		params := &stripe.CheckoutSessionListLineItemsParams{Session: stripe.String(sessionID)}
		params.Context = ctx
		params.Limit = stripe.Int64(pageSize)
		params.Single = true // one page per iterator: every request is counted here
		if startingAfter != "" {
			params.StartingAfter = stripe.String(startingAfter)
		}
		params.AddExpand("data.price.product")
		it := c.sessions.ListLineItems(params)
		lines.Requests++
		n := 0
		for it.Next() {
			lines.Items = append(lines.Items, LineItemFromStripe(it.LineItem()))
			n++
		}
		if err := it.Err(); err != nil {
			return classify("list line items of "+sessionID, err)
		}
		if !it.Meta().HasMore || n == 0 {
			return nil
		}
		startingAfter = lines.Items[len(lines.Items)-1].ID
	}
}

// SessionFromStripe maps a Checkout Session as stripe-go decodes it.
func SessionFromStripe(s *stripe.CheckoutSession) fulfillment.Session {
	out := fulfillment.Session{
		ID:                s.ID,
		Status:            string(s.Status),
		PaymentStatus:     fulfillment.PaymentStatus(s.PaymentStatus),
		Mode:              string(s.Mode),
		Currency:          string(s.Currency),
		AmountSubtotal:    s.AmountSubtotal,
		AmountTotal:       s.AmountTotal,
		ClientReferenceID: s.ClientReferenceID,
		Created:           time.Unix(s.Created, 0).UTC(),
	}
	if len(s.Metadata) > 0 {
		out.Metadata = maps.Clone(s.Metadata)
	}
	if cd := s.CustomerDetails; cd != nil {
		out.Customer = fulfillment.Customer{Email: cd.Email, Name: cd.Name, Phone: cd.Phone}
	}
	if out.Customer.Email == "" {
		out.Customer.Email = s.CustomerEmail
	}
	if s.Customer != nil {
		out.Customer.ID = s.Customer.ID
	}
	if td := s.TotalDetails; td != nil {
		out.AmountDiscount, out.AmountTax, out.AmountShipping = td.AmountDiscount, td.AmountTax, td.AmountShipping
	}
	if sd := s.ShippingDetails; sd != nil && (sd.Name != "" || sd.Address != nil) {
		out.Shipping = &fulfillment.Shipping{Name: sd.Name, Address: addressFromStripe(sd.Address)}
	}
	if s.PaymentIntent != nil {
		out.Payment.PaymentIntent = s.PaymentIntent.ID
	}
	if s.Invoice != nil {
		out.Payment.Invoice = s.Invoice.ID
	}
	return out
}

func addressFromStripe(a *stripe.Address) fulfillment.Address {
	if a == nil {
		return fulfillment.Address{}
	}
	return fulfillment.Address{Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State,
		PostalCode: a.PostalCode, Country: a.Country}
}

// LineItemFromStripe maps a line item; its product id comes from
// price.product, expanded or not.
func LineItemFromStripe(li *stripe.LineItem) fulfillment.LineItem {
	out := fulfillment.LineItem{
		ID:             li.ID,
		Description:    li.Description,
		Quantity:       li.Quantity,
		Currency:       string(li.Currency),
		AmountSubtotal: li.AmountSubtotal,
		AmountDiscount: li.AmountDiscount,
		AmountTax:      li.AmountTax,
		AmountTotal:    li.AmountTotal,
	}
	if p := li.Price; p != nil {
		out.PriceID = p.ID
		out.Recurring = recurringFromStripe(p.Recurring)
		if p.Product != nil {
			out.ProductID = p.Product.ID
		}
	}
	return out
}

// leveledLogger adapts stripe-go's logger to slog. stripe-go logs every
// request at info and response bodies at debug (customer data): both are
// dropped. Its errors are returned to our caller as well, so they go to
// debug; its retry notices are worth a warning.
type leveledLogger struct{ log *slog.Logger }

func (l leveledLogger) Debugf(string, ...any) {}
func (l leveledLogger) Infof(string, ...any)  {}
func (l leveledLogger) Warnf(format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
}
func (l leveledLogger) Errorf(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}
