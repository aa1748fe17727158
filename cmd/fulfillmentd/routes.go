package main

import (
	"log/slog"
	"net/http"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/webhook"
)

// routes is the whole HTTP surface of fulfillmentd.
func routes(
	log *slog.Logger,
	verifier *webhook.Verifier,
	events eventPublisher,
	orders orderReader,
	tokens []apiToken,
	ready readiness,
) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/stripe", handleStripeWebhook(log, verifier, events))
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(ready))

	v1 := requireToken(log, tokens)
	mux.Handle("GET /v1/orders", v1(handleListOrders(orders)))
	mux.Handle("GET /v1/orders/{id}", v1(handleGetOrder(orders)))
	mux.Handle("/", handleNotFound())
	return mux
}
