package main

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/webhook"
)

// TestMetrics scrapes /metrics of a running service after known traffic and
// checks each family the operators rely on moved by the right amount.
func TestMetrics(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	svc := startService(t, serviceEnv(t, stripeSrv.URL))
	svc.token = "e2e-token-0123456789abcdef"

	now := time.Now()
	body, err := emu.Event("evt_metrics_1", fulfillment.EventSessionCompleted, "cs_test_crosssell", now)
	if err != nil {
		t.Fatal(err)
	}
	sig := func() string { return webhook.Sign("whsec_new_e2e", time.Now(), body) }
	for _, want := range []int{200, 200} { // accepted, then duplicate
		if code := svc.deliver(t, body, sig()); code != want {
			t.Fatalf("delivery: HTTP %d", code)
		}
	}
	if code := svc.deliver(t, body, webhook.Sign("whsec_wrong", now, body)); code != http.StatusBadRequest {
		t.Fatalf("forged: HTTP %d", code)
	}
	waitOrder(t, svc, "cs_test_crosssell", fulfillment.StatusReadyToShip)

	resp, err := http.Get(svc.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	text := string(raw)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics = %d", resp.StatusCode)
	}
	tests := []struct {
		series string // name{labels} as exposed
		min    float64
	}{
		{`fulfillmentd_webhooks_total{outcome="accepted"}`, 1},
		{`fulfillmentd_webhooks_total{outcome="duplicate"}`, 1},
		{`fulfillmentd_webhooks_total{outcome="bad_signature"}`, 1},
		{`fulfillmentd_webhook_duration_seconds_count`, 2},
		{`fulfillmentd_events_processed_total{outcome="created"}`, 1},
		{`fulfillmentd_event_processing_duration_seconds_count`, 1},
		{`fulfillmentd_stripe_requests_total{endpoint="GET /v1/checkout/sessions/{cs}/line_items",status="200"}`, 1},
		{`fulfillmentd_stripe_request_duration_seconds_count{endpoint="GET /v1/checkout/sessions/{cs}/line_items"}`, 1},
		{`fulfillmentd_stripe_rate_limiter_wait_seconds_count`, 1},
		{`fulfillmentd_orders{status="ready_to_ship"}`, 1},
		{`fulfillmentd_dead_letters`, 0},
		{`fulfillmentd_outbox_pending`, 0},
		{`fulfillmentd_consumer_pending`, 0},
		{`fulfillmentd_consumer_ack_pending`, 0},
		{`go_goroutines`, 1},
	}
	for _, tt := range tests {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(tt.series) + ` (\S+)$`).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("%s missing from /metrics", tt.series)
			continue
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil || v < tt.min {
			t.Errorf("%s = %s, want ≥ %v", tt.series, m[1], tt.min)
		}
	}
}
