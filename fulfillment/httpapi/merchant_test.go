package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
	"github.com/fulfillmentd/fulfillmentd/store"
)

// TestMerchantAPIForbidsWarehouseTokens: a warehouse token gets 403
// problem+json on every merchant endpoint, counted as forbidden, and
// changes nothing; an admin token may call the warehouse API too, and its
// name is recorded.
func TestMerchantAPIForbidsWarehouseTokens(t *testing.T) {
	t.Parallel()
	api := newWarehouseAPI(t)
	api.seed(t, "cs_forbid", fulfillment.StatusReadyToShip, 0)
	paths := []string{"/v1/orders/cs_forbid/hold", "/v1/orders/cs_forbid/release", "/v1/orders/cs_forbid/cancel",
		"/v1/checkout/sessions/cs_forbid/fulfill"}
	for _, p := range paths {
		r := api.call(t, "POST", api.url+p, whToken, "")
		if r.status != 403 || !strings.Contains(r.problem(t).Detail, "admin token") {
			t.Errorf("POST %s with a warehouse token: HTTP %d %s, want 403", p, r.status, r.body)
		}
		if r := api.call(t, "POST", api.url+p, "", ""); r.status != 401 {
			t.Errorf("POST %s without a token: HTTP %d, want 401", p, r.status)
		}
	}
	if n := api.refusals("forbidden"); n != len(paths) {
		t.Errorf("%d refusals counted as forbidden, want %d", n, len(paths))
	}
	if o, err := api.db.Order(context.Background(), "cs_forbid"); err != nil || o.Status != fulfillment.StatusReadyToShip || o.Hold != nil {
		t.Errorf("forbidden requests changed the order: %s %+v (%v)", o.Status, o.Hold, err)
	}

	if r := api.call(t, "GET", api.url+"/v1/orders", merchantToken, ""); r.status != 200 {
		t.Errorf("list with an admin token: HTTP %d %s", r.status, r.body)
	}
	r := api.call(t, "POST", api.url+"/v1/orders/cs_forbid/acknowledge", merchantToken, "")
	if o := r.order(t); r.status != 200 || o.Acknowledgement == nil || o.Acknowledgement.By != "merchant" {
		t.Errorf("acknowledge with an admin token: HTTP %d %s", r.status, r.body)
	}
	r = api.call(t, "POST", api.url+"/v1/orders/cs_forbid/shipments", merchantToken, `{"carrier":"UPS","tracking_number":"1ZADMIN"}`)
	if o := r.order(t); r.status != 201 || len(o.Shipments) != 1 || o.Shipments[0].CreatedBy != "merchant" {
		t.Errorf("shipment with an admin token: HTTP %d %s", r.status, r.body)
	}
}

// TestMerchantHoldReleaseCancel is a merchant's session with one order:
// hold (the warehouse is refused), release, hold again, cancel; each answer
// is the order, and each change reappears in the feed.
func TestMerchantHoldReleaseCancel(t *testing.T) {
	t.Parallel()
	api := newWarehouseAPI(t)
	seeded := api.seed(t, "cs_held", fulfillment.StatusReadyToShip, 0)
	url := func(action string) string { return api.url + "/v1/orders/cs_held/" + action }
	okShip := `{"carrier":"UPS","tracking_number":"1Z1"}`
	feedHas := func(step string, want fulfillment.Status) {
		t.Helper()
		r := api.call(t, "GET", api.url+"/v1/orders?status="+string(want), whToken, "")
		if r.status != 200 || !strings.Contains(string(r.body), seeded.ID) {
			t.Errorf("%s: the feed's %s orders lack the order: %s", step, want, r.body)
		}
	}

	r := api.call(t, "POST", url("hold"), merchantToken, `{"note":"  address to check with the buyer  "}`)
	o := r.order(t)
	if r.status != 200 || o.Status != fulfillment.StatusOnHold || o.Hold == nil || !slices.Equal(o.Hold.Reasons, []fulfillment.HoldReason{fulfillment.HoldMerchant}) ||
		o.Hold.Note != "address to check with the buyer" || o.Hold.PreviousStatus != fulfillment.StatusReadyToShip || o.Hold.Since.IsZero() {
		t.Fatalf("hold: HTTP %d %s", r.status, r.body)
	}
	feedHas("hold", fulfillment.StatusOnHold)
	for _, action := range []string{"acknowledge", "shipments"} {
		r := api.call(t, "POST", url(action), whToken, okShip)
		if action == "acknowledge" {
			r = api.call(t, "POST", url(action), whToken, "")
		}
		if r.status != 409 || !strings.Contains(r.problem(t).Detail, "on_hold") {
			t.Errorf("%s of a held order: HTTP %d %s, want 409", action, r.status, r.body)
		}
	}
	// The same hold again changes nothing.
	if r := api.call(t, "POST", url("hold"), merchantToken, `{}`); r.status != 200 || !r.order(t).UpdatedAt.Equal(o.UpdatedAt) {
		t.Errorf("hold again: HTTP %d %s", r.status, r.body)
	}

	r = api.call(t, "POST", url("release"), merchantToken, "")
	if o := r.order(t); r.status != 200 || o.Status != fulfillment.StatusReadyToShip || o.Hold != nil {
		t.Fatalf("release: HTTP %d %s", r.status, r.body)
	}
	feedHas("release", fulfillment.StatusReadyToShip)
	if r := api.call(t, "POST", url("release"), merchantToken, "{}"); r.status != 409 || !strings.Contains(r.problem(t).Detail, "not on hold") {
		t.Errorf("release of an order not on hold: HTTP %d %s, want 409", r.status, r.body)
	}

	// Held again from in_fulfillment: a release returns it there.
	if r := api.call(t, "POST", url("acknowledge"), whToken, ""); r.status != 200 {
		t.Fatalf("acknowledge: HTTP %d %s", r.status, r.body)
	}
	r = api.call(t, "POST", url("hold"), merchantToken, "")
	if o := r.order(t); r.status != 200 || o.Hold == nil || o.Hold.PreviousStatus != fulfillment.StatusInFulfillment || o.Hold.Note != "" {
		t.Fatalf("hold of an acknowledged order: HTTP %d %s", r.status, r.body)
	}

	r = api.call(t, "POST", url("cancel"), merchantToken, `{"note":"buyer called: wrong size"}`)
	o = r.order(t)
	if r.status != 200 || o.Status != fulfillment.StatusCanceled || o.CancelReason != fulfillment.CancelMerchant ||
		o.CancelNote != "buyer called: wrong size" || o.Hold != nil {
		t.Fatalf("cancel: HTTP %d %s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), `"cancel_reason":"merchant"`) {
		t.Errorf("cancel: the JSON lacks cancel_reason merchant: %s", r.body)
	}
	feedHas("cancel", fulfillment.StatusCanceled)
	if r := api.call(t, "POST", url("cancel"), merchantToken, ""); r.status != 200 || !r.order(t).UpdatedAt.Equal(o.UpdatedAt) {
		t.Errorf("cancel again: HTTP %d %s, want 200 unchanged", r.status, r.body)
	}
	for _, tt := range []struct{ action, token, body, detail string }{
		{"shipments", whToken, okShip, "canceled"},
		{"hold", merchantToken, "", "only an order that has not shipped can be held"},
		{"release", merchantToken, "", "not on hold"},
	} {
		if r := api.call(t, "POST", url(tt.action), tt.token, tt.body); r.status != 409 || !strings.Contains(r.problem(t).Detail, tt.detail) {
			t.Errorf("%s of a canceled order: HTTP %d %s, want 409 mentioning %q", tt.action, r.status, r.body, tt.detail)
		}
	}
}

// TestMerchantAPIErrors covers each refusal of hold, release and cancel
// with its status, and checks a refusal changes nothing.
func TestMerchantAPIErrors(t *testing.T) {
	t.Parallel()
	api := newWarehouseAPI(t)
	api.seed(t, "cs_ready", fulfillment.StatusReadyToShip, 0)
	api.seed(t, "cs_part", fulfillment.StatusReadyToShip, 1)
	api.seed(t, "cs_all", fulfillment.StatusReadyToShip, 2)
	if r := api.call(t, "POST", api.url+"/v1/orders/cs_part/shipments", whToken, `{"carrier":"UPS","tracking_number":"1","line_items":[{"id":"li_cs_part_a","quantity":1}]}`); r.status != 201 {
		t.Fatalf("partial shipment: HTTP %d %s", r.status, r.body)
	}
	if r := api.call(t, "POST", api.url+"/v1/orders/cs_all/shipments", whToken, `{"carrier":"UPS","tracking_number":"2"}`); r.status != 201 {
		t.Fatalf("full shipment: HTTP %d %s", r.status, r.body)
	}
	u := func(id, action string) string { return api.url + "/v1/orders/" + id + "/" + action }
	long := strings.Repeat("é", fulfillment.MaxNoteLen+1)
	tests := []struct {
		name, url, body string
		status          int
		detail          string
	}{
		{"hold: note too long", u("cs_ready", "hold"), `{"note":"` + long + `"}`, 422, "note is 501 characters, at most 500"},
		{"cancel: note too long", u("cs_ready", "cancel"), `{"note":"` + long + `"}`, 422, "at most 500"},
		{"hold: note not a string", u("cs_ready", "hold"), `{"note":42}`, 400, "note: want a string, got number"},
		{"hold: unknown field", u("cs_ready", "hold"), `{"reason":"fraud"}`, 400, `unknown field "reason"`},
		{"hold: not JSON", u("cs_ready", "hold"), `note=x`, 400, "not JSON"},
		{"release: a note", u("cs_ready", "release"), `{"note":"x"}`, 400, `unknown field "note"`},
		{"release: not held", u("cs_ready", "release"), "", 409, "not on hold"},
		{"hold: unknown order", u("cs_nope", "hold"), "", 404, `"cs_nope"`},
		{"release: unknown order", u("ord_nope", "release"), "", 404, `"ord_nope"`},
		{"cancel: unknown order", u("cs_nope", "cancel"), "", 404, `"cs_nope"`},
		{"hold: shipped in part", u("cs_part", "hold"), "", 409, "partially_shipped"},
		{"hold: shipped", u("cs_all", "hold"), "", 409, "shipped"},
		{"cancel: shipped in part", u("cs_part", "cancel"), "", 409, "anything has shipped"},
		{"cancel: shipped", u("cs_all", "cancel"), "", 409, "anything has shipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := api.call(t, "POST", tt.url, merchantToken, tt.body)
			if r.status != tt.status {
				t.Fatalf("HTTP %d, want %d: %s", r.status, tt.status, r.body)
			}
			if p := r.problem(t); !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q, want it to mention %q", p.Detail, tt.detail)
			}
		})
	}
	t.Cleanup(func() {
		for id, want := range map[string]fulfillment.Status{"cs_ready": fulfillment.StatusReadyToShip,
			"cs_part": fulfillment.StatusPartiallyShipped, "cs_all": fulfillment.StatusShipped} {
			o, err := api.db.Order(context.Background(), id)
			if err != nil || o.Status != want || o.Hold != nil || o.CancelReason != "" {
				t.Errorf("refused requests changed %s: %s %+v %q (%v)", id, o.Status, o.Hold, o.CancelReason, err)
			}
		}
	})
}

// newFulfilAPI is the API whose success-page fulfil is a real Processor
// reading Stripe through stripe-go from emu, with the fixtures and an
// open session (fixtures.OpenSession), within timeout (0: the default).
func newFulfilAPI(t *testing.T, opts stripeemu.Options, timeout time.Duration) (*whAPI, *stripeemu.Emulator) {
	t.Helper()
	emu := stripeemu.New(opts)
	if err := emu.Seed(fixtures.FS, "stripe"); err != nil {
		t.Fatal(err)
	}
	open, lines, err := fixtures.OpenSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.AddSession(open, lines); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	client := stripeapi.New(stripeapi.Config{SecretKey: "sk_test_fulfil", BaseURL: srv.URL, MaxRPS: 100, MaxNetworkRetries: -1})
	api := newAPIServer(t, func(db *store.DB) SessionFulfiller {
		return &fulfillment.Processor{Stripe: client, Orders: db, Log: slog.New(slog.DiscardHandler)}
	}, timeout)
	return api, emu
}

// TestSuccessPageFulfil: the success page's fulfil answers the order of a
// complete session (also while its payment is pending), 409 for an open or
// expired one and 404 for one Stripe does not know, both without an
// order; reloads, concurrent or not, make one order and, once it is paid
// with its lines, no further Stripe request.
func TestSuccessPageFulfil(t *testing.T) {
	t.Parallel()
	api, emu := newFulfilAPI(t, stripeemu.Options{}, 0)
	fulfil := func(id string) whResponse {
		return api.call(t, "POST", api.url+"/v1/checkout/sessions/"+id+"/fulfill", merchantToken, "")
	}
	for _, tt := range []struct {
		session string
		status  int
		want    fulfillment.Status
		detail  string
	}{
		{"cs_test_crosssell", 200, fulfillment.StatusReadyToShip, ""},
		{"cs_test_unpaid", 200, fulfillment.StatusAwaitingPayment, ""},
		{"cs_test_expired", 409, "", "is expired"},
		{fixtures.OpenSessionID, 409, "", "is open"},
		{"cs_test_nope", 404, "", `Stripe knows no Checkout Session "cs_test_nope"`},
	} {
		r := fulfil(tt.session)
		if r.status != tt.status {
			t.Errorf("%s: HTTP %d %s, want %d", tt.session, r.status, r.body, tt.status)
			continue
		}
		if tt.status != 200 {
			if p := r.problem(t); !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("%s: detail %q, want it to mention %q", tt.session, p.Detail, tt.detail)
			}
			if _, err := api.db.Order(context.Background(), tt.session); !errors.Is(err, fulfillment.ErrNotFound) {
				t.Errorf("%s: an order was made (%v)", tt.session, err)
			}
			continue
		}
		if o := r.order(t); o.CheckoutSessionID != tt.session || o.Status != tt.want || len(o.LineItems) == 0 {
			t.Errorf("%s: %s with %d lines, want %s", tt.session, o.Status, len(o.LineItems), tt.want)
		}
	}

	// Reloads of the paid session, eight at once: the same order, no request to Stripe.
	before := emu.Requests()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if r := fulfil("cs_test_crosssell"); r.status != 200 || r.order(t).ID != fulfillment.OrderID("cs_test_crosssell") {
				t.Errorf("reload: HTTP %d %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	if n := emu.Requests() - before; n != 0 {
		t.Errorf("reloads of a paid, recorded session made %d Stripe requests, want 0", n)
	}
	page, err := api.db.ListOrders(context.Background(), fulfillment.ListParams{Limit: 100})
	if err != nil || len(page.Orders) != 2 {
		t.Errorf("%d orders (%v), want 2 (crosssell, unpaid)", len(page.Orders), err)
	}
}

// TestSuccessPageFulfilUnavailable: when Stripe does not answer within the
// fulfil's deadline, or answers 5xx or 429, the answer is 503 with
// Retry-After, and no order is made.
func TestSuccessPageFulfilUnavailable(t *testing.T) {
	t.Parallel()
	slow, _ := newFulfilAPI(t, stripeemu.Options{Latency: time.Minute}, 50*time.Millisecond)
	failing, emu := newFulfilAPI(t, stripeemu.Options{}, 0)
	for _, tt := range []struct {
		name   string
		api    *whAPI
		status int // the emulator's injected failure; 0: none
	}{
		{"deadline", slow, 0},
		{"Stripe 503", failing, 503},
		{"Stripe 429", failing, 429},
	} {
		if tt.status != 0 {
			emu.FailNext(1, tt.status)
		}
		r := tt.api.call(t, "POST", tt.api.url+"/v1/checkout/sessions/cs_test_crosssell/fulfill", merchantToken, "")
		if r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Errorf("%s: HTTP %d (Retry-After %q) %s, want 503 with Retry-After", tt.name, r.status, r.header.Get("Retry-After"), r.body)
		} else if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
			t.Errorf("%s: Retry-After %q, want whole seconds", tt.name, r.header.Get("Retry-After"))
		}
		r.problem(t)
		if _, err := tt.api.db.Order(context.Background(), "cs_test_crosssell"); !errors.Is(err, fulfillment.ErrNotFound) {
			t.Errorf("%s: an order was made (%v)", tt.name, err)
		}
	}
}
