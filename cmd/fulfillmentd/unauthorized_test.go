package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi/apitest"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

// whToken is the warehouse token of TestUnauthenticatedFlood.
const whToken = "wms-token-0123456789abcdef"

// TestUnauthenticatedFlood: a flood of forged webhooks and unknown tokens
// gets generic answers, a few log lines, and is counted in full.
func TestUnauthenticatedFlood(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	verifier, err := stripeevent.NewVerifier([]string{"whsec_current", "whsec_previous"}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics()
	ok := func(context.Context) error { return nil }
	srv := httptest.NewServer(httpapi.NewHandler(httpapi.Deps{
		Log:      log,
		Webhooks: &httpapi.Webhooks{Verifier: verifier, Observe: m.webhook},
		API:      &httpapi.API{Tokens: []httpapi.Token{{Name: "wms", Token: whToken}}, Now: time.Now, Refused: m.unauthorizedRequest},
		Ops:      httpapi.NewOps(log, ok, m.handler(), false),
	}))
	t.Cleanup(srv.Close)
	body := event("evt_forged", "checkout.session.completed", "2023-10-16")
	api := apitest.MustLoad(t, httpapi.OpenAPIDocument()).Client(t) // /v1 answers match openapi.json
	const n = 50
	for i := range n {
		req, _ := http.NewRequest("POST", srv.URL+"/webhooks/stripe", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Stripe-Signature", stripeevent.Sign("whsec_guess", time.Now(), body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var p httpapi.Problem
		_ = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(p.Detail, "secret") || strings.Contains(p.Detail, "signature(s)") ||
			!strings.Contains(p.Detail, "invalid Stripe-Signature") {
			t.Fatalf("forged delivery %d: HTTP %d, detail %q: want 400 with a generic detail", i, resp.StatusCode, p.Detail)
		}
		req, _ = http.NewRequest("GET", srv.URL+"/v1/orders", nil)
		req.Header.Set("Authorization", "Bearer guess-0123456789abcdef")
		resp, err = api.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unknown token %d: HTTP %d", i, resp.StatusCode)
		}
	}
	out := logs.String()
	if got := strings.Count(out, `"webhook rejected"`); got != httpapi.SampledLines {
		t.Errorf("%d 'webhook rejected' lines for %d forgeries, want %d", got, n, httpapi.SampledLines)
	}
	if !strings.Contains(out, "1 v1 signature(s), 2 secret(s)") {
		t.Errorf("the precise reason is not in the log:\n%s", out)
	}
	if got := strings.Count(out, `"api request with unknown token"`); got != httpapi.SampledLines {
		t.Errorf("%d unknown-token lines for %d requests, want %d", got, n, httpapi.SampledLines)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`fulfillmentd_webhooks_total{outcome="bad_signature"} 50`,
		`fulfillmentd_api_unauthorized_total{reason="unknown_token"} 50`,
	} {
		if !strings.Contains(string(scrape), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
