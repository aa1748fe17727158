package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/httpapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
)

// merchantE2EToken is the admin token of TestMerchantAPIEndToEnd.
const merchantE2EToken = "merchant-e2e-0123456789abcdef"

// as is svc seen through another bearer token; stopping it is svc's business.
func (s *service) as(token string) *service {
	c := *s
	c.token, c.cancel = token, nil
	return &c
}

// TestMerchantAPIEndToEnd drives the merchant API through run, with the
// warehouse and admin tokens as an operator configures them: the
// success-page fulfil before the webhook, hold and release, cancel, and a
// warehouse token refused on each merchant endpoint.
func TestMerchantAPIEndToEnd(t *testing.T) {
	t.Parallel()
	emu, stripeSrv := newEmulator(t)
	open, lines, err := fixtures.OpenSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.AddSession(open, lines); err != nil {
		t.Fatal(err)
	}
	env := serviceEnv(t, stripeSrv.URL)
	env["FULFILLMENT_ADMIN_TOKEN"] = "merchant:" + merchantE2EToken
	svc := startService(t, env)
	svc.token = e2eToken
	admin := svc.as(merchantE2EToken)

	// The success page fulfils before any webhook: 200 with the order; the
	// webhook after it changes nothing and makes no second order.
	const paid = "cs_test_crosssell"
	status, body := admin.request(t, http.MethodPost, "/v1/checkout/sessions/"+paid+"/fulfill", "")
	var o fulfillment.Order
	if err := json.Unmarshal(body, &o); status != http.StatusOK || err != nil || o.Status != fulfillment.StatusReadyToShip || len(o.LineItems) == 0 {
		t.Fatalf("success-page fulfil: HTTP %d %s", status, body)
	}
	completed, err := emu.Event("evt_merchant_completed", fulfillment.EventSessionCompleted, paid, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svc.send(t, completed)
	waitFor(t, "the webhook after the success page", func() bool {
		return scrape(t, svc.url, `fulfillmentd_events_processed_total{outcome="unchanged"}`) >= 1
	})
	if seen, _ := ordersPerSession(t, svc); seen[paid] != 1 || len(seen) != 1 {
		t.Errorf("after the success page and the webhook: orders per session %v, want one of %s", seen, paid)
	}
	if after := waitOrder(t, svc, paid, fulfillment.StatusReadyToShip); !after.UpdatedAt.Equal(o.UpdatedAt) {
		t.Errorf("the webhook changed the order the success page made: updated %s, then %s", o.UpdatedAt, after.UpdatedAt)
	}
	for _, tt := range []struct {
		session string
		status  int
	}{{fixtures.OpenSessionID, http.StatusConflict}, {"cs_test_expired", http.StatusConflict}, {"cs_test_nope", http.StatusNotFound}} {
		if status, body := admin.request(t, http.MethodPost, "/v1/checkout/sessions/"+tt.session+"/fulfill", ""); status != tt.status ||
			!strings.Contains(string(body), `"status":`) {
			t.Errorf("fulfil of %s: HTTP %d %s, want %d", tt.session, status, body, tt.status)
		}
	}

	// Hold: the warehouse cannot take it; release: back to ready_to_ship.
	call := func(who *service, action, reqBody string, want int) fulfillment.Order {
		t.Helper()
		status, body := who.request(t, http.MethodPost, "/v1/orders/"+paid+"/"+action, reqBody)
		var o fulfillment.Order
		if status != want {
			t.Fatalf("%s: HTTP %d %s, want %d", action, status, body, want)
		}
		if status < 300 {
			if err := json.Unmarshal(body, &o); err != nil {
				t.Fatalf("%s: %v", action, err)
			}
		}
		return o
	}
	held := call(admin, "hold", `{"note":"check the address"}`, http.StatusOK)
	if held.Status != fulfillment.StatusOnHold || held.Hold == nil || !slices.Equal(held.Hold.Reasons, []fulfillment.HoldReason{fulfillment.HoldMerchant}) ||
		held.Hold.Note != "check the address" || held.Hold.PreviousStatus != fulfillment.StatusReadyToShip {
		t.Fatalf("hold: %+v %+v", held.Status, held.Hold)
	}
	call(svc, "acknowledge", "", http.StatusConflict)
	call(svc, "shipments", `{"carrier":"UPS","tracking_number":"1ZHELD"}`, http.StatusConflict)
	if o := waitOrder(t, svc, paid, fulfillment.StatusOnHold); o.Hold == nil {
		t.Errorf("GET of the held order: no hold")
	}
	if released := call(admin, "release", "", http.StatusOK); released.Status != fulfillment.StatusReadyToShip || released.Hold != nil {
		t.Errorf("release: %s %+v", released.Status, released.Hold)
	}
	call(admin, "release", "", http.StatusConflict)
	call(admin, "hold", `{"note":"`+strings.Repeat("x", fulfillment.MaxNoteLen+1)+`"}`, http.StatusUnprocessableEntity)
	call(admin, "hold", `{"note":1}`, http.StatusBadRequest)

	// Cancel: canceled by the merchant, and the warehouse's shipment refused.
	canceled := call(admin, "cancel", `{"note":"the buyer changed their mind"}`, http.StatusOK)
	if canceled.Status != fulfillment.StatusCanceled || canceled.CancelReason != fulfillment.CancelMerchant || canceled.CancelNote != "the buyer changed their mind" {
		t.Errorf("cancel: %s %q %q", canceled.Status, canceled.CancelReason, canceled.CancelNote)
	}
	call(svc, "shipments", `{"carrier":"UPS","tracking_number":"1ZCANCELED"}`, http.StatusConflict)
	call(svc, "acknowledge", "", http.StatusConflict)

	// The warehouse token on each merchant endpoint: 403 problem+json, counted.
	before := scrape(t, svc.url, `fulfillmentd_api_unauthorized_total{reason="forbidden"}`)
	merchantPaths := []string{"/v1/orders/" + paid + "/hold", "/v1/orders/" + paid + "/release", "/v1/orders/" + paid + "/cancel",
		"/v1/checkout/sessions/" + paid + "/fulfill"}
	for _, path := range merchantPaths {
		status, body := svc.request(t, http.MethodPost, path, "")
		var p httpapi.Problem
		if err := json.Unmarshal(body, &p); status != http.StatusForbidden || err != nil || p.Status != http.StatusForbidden || !strings.Contains(p.Detail, "admin token") {
			t.Errorf("POST %s with a warehouse token: HTTP %d %s, want 403", path, status, body)
		}
	}
	if after := scrape(t, svc.url, `fulfillmentd_api_unauthorized_total{reason="forbidden"}`); after-max(before, 0) != float64(len(merchantPaths)) {
		t.Errorf("forbidden refusals counted %v → %v, want %d more", before, after, len(merchantPaths))
	}
	svc.stop(t)
}
