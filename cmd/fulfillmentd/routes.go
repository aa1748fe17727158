package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// routes is the public HTTP surface of fulfillmentd: Stripe's webhooks and
// the warehouse API, and the operations endpoints (/healthz, /readyz,
// /metrics) when ops is not nil; with an admin listener they are served
// there only (adminRoutes) and are 404 here.
func routes(
	log *slog.Logger,
	verifier *stripeevent.Verifier,
	events eventPublisher,
	orders orderStore,
	tokens []apiToken,
	ops http.Handler,
	now func() time.Time,
	m *metrics,
) http.Handler {
	mux := http.NewServeMux()
	var observe func(string, time.Duration)
	if m != nil {
		observe = m.webhook
	}
	mux.Handle("POST /webhooks/stripe", handleStripeWebhook(log, verifier, events, observe))
	if ops != nil {
		for _, p := range opsPatterns {
			mux.Handle(p, ops)
		}
	}
	for _, rt := range v1Routes(log, orders, tokens, now, m) {
		mux.Handle(rt.pattern, rt.handler)
	}
	mux.Handle("/", handleNotFound())
	return mux
}

// route is one pattern of the warehouse API and its handler.
type route struct {
	pattern string
	handler http.Handler
}

// v1Routes is the warehouse API: exactly what openapi.json describes
// (TestOpenAPIDescribesRoutes holds the two together). Everything but the
// description itself needs a bearer token.
func v1Routes(log *slog.Logger, orders orderStore, tokens []apiToken, now func() time.Time, m *metrics) []route {
	var refused func(string)
	if m != nil {
		refused = m.unauthorizedRequest
	}
	auth := requireToken(log, tokens, refused)
	return []route{
		{"GET /v1/openapi.json", handleOpenAPI()},
		{"GET /v1/orders", auth(handleListOrders(log, orders))},
		{"GET /v1/orders/{id}", auth(handleGetOrder(log, orders))},
		{"POST /v1/orders/{id}/acknowledge", auth(handleAcknowledge(log, orders, now))},
		{"POST /v1/orders/{id}/shipments", auth(handleCreateShipment(log, orders, now))},
	}
}

// opsPatterns are the operations endpoints: probes and metrics.
var opsPatterns = []string{"GET /healthz", "GET /readyz", "GET /metrics"}

// opsRoutes serves the operations endpoints. On the admin listener
// (detail true) /readyz says what is not ready; on the public listener it
// says only ready or not ready, and the reason goes to the log. m nil: no
// /metrics.
func opsRoutes(log *slog.Logger, ready readiness, m *metrics, detail bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(log, ready, detail))
	if m != nil {
		mux.Handle("GET /metrics", m.handler())
	}
	mux.Handle("/", handleNotFound())
	return mux
}
