package main

import "github.com/prometheus/client_golang/prometheus"

// newUnauthorized is fulfillmentd_api_unauthorized_total{reason}: /v1
// requests refused for their bearer token (missing_token, unknown_token).
// Bad webhook signatures are fulfillmentd_webhooks_total{outcome="bad_signature"}.
func newUnauthorized(reg *prometheus.Registry) *prometheus.CounterVec {
	c := counters("fulfillmentd_api_unauthorized_total",
		"Warehouse API requests refused for their bearer token, by reason: missing_token, unknown_token.", "reason")
	reg.MustRegister(c)
	return c
}

// unauthorizedRequest counts one /v1 request refused for its token.
func (m *metrics) unauthorizedRequest(reason string) {
	m.unauthorized.WithLabelValues(reason).Inc()
}
