// Package httpapi is fulfillmentd's HTTP surface: Stripe's webhooks, the
// warehouse API /v1, the operator console /console/ and the operations
// endpoints. It knows the domain
// (package fulfillment) and Stripe's signature format (stripeevent), and
// reaches the broker and the database only through the small interfaces
// declared here; package main wires them.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// Deps is what one process serves. A part it does not serve is nil, never
// a nil interface inside a non-nil part.
type Deps struct {
	Log *slog.Logger
	// Webhooks nil: no POST /webhooks/stripe.
	Webhooks *Webhooks
	// API nil: no /v1.
	API *API
	// Ops serves /healthz, /readyz and /metrics (NewOps); nil when they are
	// served elsewhere (the admin listener) and are 404 here.
	Ops http.Handler
	// Console nil: no /console/ (no admin token configured).
	Console *Console
	// NotServed maps a path prefix this process does not serve to the
	// sentence of its 404 (where it is served instead).
	NotServed map[string]string
}

// Webhooks is what POST /webhooks/stripe needs.
type Webhooks struct {
	Verifier *stripeevent.Verifier
	Events   Publisher
	// Observe (may be nil) learns each delivery's outcome, and the
	// verify-and-publish time of those that reached the broker.
	Observe func(outcome string, elapsed time.Duration)
}

// API is what the warehouse API and the merchant API (/v1) need.
type API struct {
	Orders Orders
	// Sessions records a session's order for the success-page fulfil; nil:
	// that endpoint answers 503.
	Sessions SessionFulfiller
	// FulfillTimeout bounds one success-page fulfil; 0: DefaultFulfillTimeout.
	FulfillTimeout time.Duration
	// Tokens are the bearer tokens /v1 accepts, warehouses' and admins';
	// none: every request is refused.
	Tokens []Token
	Now    func() time.Time // nil: time.Now
	// Refused (may be nil) learns each refusal's reason, missing_token,
	// unknown_token or forbidden.
	Refused func(reason string)
}

// Token is one bearer token for /v1, named after the warehouse or the
// admin using it. A warehouse token may call the warehouse API; an admin
// token (Admin) every /v1 endpoint, the merchant API too.
type Token struct {
	Name  string
	Token string
	Admin bool
}

// NewHandler is the public HTTP surface of fulfillmentd: Stripe's webhooks
// and the warehouse API, and the operations endpoints when d.Ops is not nil.
func NewHandler(d Deps) http.Handler {
	mux := newMux(d)
	if len(d.NotServed) == 0 {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for prefix, msg := range d.NotServed {
			if strings.HasPrefix(r.URL.Path, prefix) {
				writeProblem(w, http.StatusNotFound, msg)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

func newMux(d Deps) *http.ServeMux {
	log := fulfillment.LoggerOr(d.Log)
	mux := http.NewServeMux()
	for _, rt := range routes(log, d) {
		mux.Handle(rt.pattern, rt.handler)
	}
	mux.Handle("/", notFound())
	return mux
}

// route is one pattern of the HTTP surface and its handler.
type route struct {
	pattern string
	handler http.Handler
}

// routes is the whole surface a process serves, as d has it.
func routes(log *slog.Logger, d Deps) []route {
	var rs []route
	if d.Webhooks != nil {
		rs = append(rs, route{"POST /webhooks/stripe", stripeWebhook(log, d.Webhooks)})
	}
	if d.Ops != nil {
		for _, p := range opsPatterns {
			rs = append(rs, route{p, d.Ops})
		}
	}
	if d.API != nil {
		rs = append(rs, v1Routes(log, d.API)...)
	}
	if d.Console != nil {
		rs = append(rs, consoleRoutes(log, d.Console)...)
	}
	return rs
}

// consoleRoutes is the operator console (console.go): HTML pages for
// admins. GETs change nothing; every POST needs the session's CSRF token.
func consoleRoutes(log *slog.Logger, cfg *Console) []route {
	if len(cfg.Key) < 32 || cfg.Admins == nil {
		log.Error("console off: it needs admin tokens and a session key of 32 bytes or more")
		return nil
	}
	c := newConsole(log, cfg)
	return []route{
		{"GET /console/static/", c.static},
		{"GET /console/sign-in", c.signInPage()},
		{"POST /console/sign-in", c.signIn(newLogSampler(log, time.Now))},
		{"POST /console/sign-out", c.signOut()},
		{"GET /console/{$}", c.ordersPage()},
		{"GET /console/orders/{id}", c.orderPage()},
		{"GET /console/orders/{id}/{action}", c.confirmPage()},
		{"POST /console/orders/{id}/{action}", c.orderAction()},
		{"GET /console/dead-letters", c.deadLettersPage()},
		{"GET /console/dead-letters/{id}", c.deadLetterPage()},
		{"POST /console/dead-letters/retry", c.retryDeadLetters()},
		{"POST /console/dead-letters/purge", c.purgeDeadLetters()},
		{"GET /console/deliveries", c.deliveriesPage()},
		{"POST /console/deliveries/retry", c.retryDelivery()},
		{"GET /console/overview", c.overviewPage()},
		{"GET /console/cross-sells", c.crossSellsPage()},
		{"/console/", c.notFoundPage()},
	}
}

// v1Routes is the warehouse API and the merchant API: exactly what
// openapi.json describes (TestOpenAPIDescribesRoutes holds the two
// together). Everything but the description itself needs a bearer token;
// the merchant API an admin token.
func v1Routes(log *slog.Logger, a *API) []route {
	auth := requireToken(log, a.Tokens, a.Refused)
	now := a.Now
	if now == nil {
		now = time.Now
	}
	timeout := a.FulfillTimeout
	if timeout <= 0 {
		timeout = DefaultFulfillTimeout
	}
	return []route{
		{"GET /v1/openapi.json", openAPI()},
		{"GET /v1/orders", auth(anyToken, listOrders(log, a.Orders))},
		{"GET /v1/orders/{id}", auth(anyToken, getOrder(log, a.Orders))},
		{"POST /v1/orders/{id}/acknowledge", auth(anyToken, acknowledge(log, a.Orders, now))},
		{"POST /v1/orders/{id}/shipments", auth(anyToken, createShipment(log, a.Orders, now))},
		{"POST /v1/orders/{id}/hold", auth(adminToken, changeByMerchant(log, a.Orders, now, true, holdByMerchant))},
		{"POST /v1/orders/{id}/release", auth(adminToken, changeByMerchant(log, a.Orders, now, false, releaseByMerchant))},
		{"POST /v1/orders/{id}/cancel", auth(adminToken, changeByMerchant(log, a.Orders, now, true, cancelByMerchant))},
		{"POST /v1/checkout/sessions/{id}/fulfill", auth(adminToken, fulfillSession(log, a.Sessions, timeout))},
	}
}

// opsPatterns are the operations endpoints: probes and metrics.
var opsPatterns = []string{"GET /healthz", "GET /readyz", "GET /metrics"}

// NewOps serves the operations endpoints. On the admin listener (detail
// true) /readyz says what is not ready; on the public listener it says only
// ready or not ready, and the reason goes to the log. metrics nil: no
// /metrics.
func NewOps(log *slog.Logger, ready func(context.Context) error, metrics http.Handler, detail bool) http.Handler {
	log = fulfillment.LoggerOr(log)
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", healthz())
	mux.Handle("GET /readyz", readyz(log, ready, detail))
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	mux.Handle("/", notFound())
	return mux
}
