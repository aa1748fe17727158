package stripeapi_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fulfillmentd/fulfillmentd/fulfillment"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeapi"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeemu/fixtures"
	"github.com/fulfillmentd/fulfillmentd/fulfillment/stripeevent"
)

func catalogEmulator(t *testing.T) (*stripeemu.Emulator, string) {
	t.Helper()
	emu, url := emulator(t, stripeemu.Options{}, "cs_test_digital")
	if err := emu.SeedCatalog(fixtures.FS, "catalog.json"); err != nil {
		t.Fatal(err)
	}
	return emu, url
}

func TestProduct(t *testing.T) {
	t.Parallel()
	_, url := catalogEmulator(t)
	tests := []struct {
		id       string
		want     fulfillment.Product
		notFound bool
	}{
		{id: "prod_camera", want: fulfillment.Product{ID: "prod_camera", Name: "Mirrorless Camera X100", Active: true,
			Prices: []fulfillment.Price{{ID: "price_1OCFQ2Kx8wUb3ZqvCamera01", Currency: "usd", UnitAmount: 89900, TaxBehavior: "exclusive"}}}},
		{id: "prod_plan_pro", want: fulfillment.Product{ID: "prod_plan_pro", Name: "Pro Plan", Active: true,
			Prices: []fulfillment.Price{{ID: "price_1OCFTbKx8wUb3ZqvPlanPro1", Currency: "usd", UnitAmount: 2900, TaxBehavior: "exclusive",
				Recurring: &fulfillment.Recurring{Interval: "month", IntervalCount: 1}}}}},
		// Newest first, as Stripe lists them.
		{id: "prod_drone_battery", want: fulfillment.Product{ID: "prod_drone_battery", Name: "Drone Battery", Active: true,
			Prices: []fulfillment.Price{
				{ID: "price_1OD0DroneBatt2Pack", Currency: "usd", UnitAmount: 9900, TaxBehavior: "exclusive"},
				{ID: "price_1OD0DroneBatt1Pack", Currency: "usd", UnitAmount: 5900, TaxBehavior: "exclusive"}}}},
		// Its only price is archived: no active price, an empty list.
		{id: "prod_tripod_bag", want: fulfillment.Product{ID: "prod_tripod_bag", Name: "Tripod Bag", Active: true, Prices: []fulfillment.Price{}}},
		{id: "prod_lamp_bulb", want: fulfillment.Product{ID: "prod_lamp_bulb", Name: "LED Bulb", Active: false,
			Prices: []fulfillment.Price{{ID: "price_1OD0LampBulbUsd01", Currency: "usd", UnitAmount: 900, TaxBehavior: "exclusive"}}}},
		{id: "prod_ear_cushions", want: fulfillment.Product{ID: "prod_ear_cushions", Name: "Spare Ear Cushions", Active: true,
			Prices: []fulfillment.Price{{ID: "price_1OD0CushionsUsd001", Currency: "usd", UnitAmount: 2900, TaxBehavior: "unspecified"}}}},
		{id: "prod_gimbal_case", notFound: true},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			c := newClient(url)
			got, err := c.Product(context.Background(), tt.id)
			if tt.notFound {
				if !errors.Is(err, fulfillment.ErrNotFound) || !fulfillment.IsPermanent(err) {
					t.Fatalf("err = %v, want a permanent ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if n := c.Requests(); n != 2 {
				t.Errorf("%d requests, want 2 (product, prices)", n)
			}
		})
	}
}

// TestActivePricesPages: a product with more than 100 active prices is read
// in full, 100 per request, through the client's rate limiter.
func TestActivePricesPages(t *testing.T) {
	t.Parallel()
	emu, url := catalogEmulator(t)
	for i := range 130 {
		active := i%10 != 0 // 13 archived
		body := fmt.Sprintf(`{"id":"price_many_%03d","object":"price","active":%v,"created":%d,"currency":"usd",
			"product":"prod_wallpapers","recurring":null,"tax_behavior":"exclusive","type":"one_time","unit_amount":%d}`,
			i, active, 1700000000+i, 100+i)
		if err := emu.AddPrice([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(url, func(cfg *stripeapi.Config) { cfg.MaxRPS = 1000 })
	prices, err := c.ActivePrices(context.Background(), "prod_wallpapers")
	if err != nil {
		t.Fatal(err)
	}
	// 117 of the new ones plus the fixture's own price.
	if len(prices) != 118 {
		t.Fatalf("%d active prices, want 118", len(prices))
	}
	if n := c.Requests(); n != 2 {
		t.Errorf("%d requests, want 2 (100 per page)", n)
	}
	if prices[0].ID != "price_many_129" {
		t.Errorf("first price %s, want the newest, price_many_129", prices[0].ID)
	}
}

// TestSessionDetails: order-level totals and the Stripe customer, from the
// API and from the event snapshot alike.
func TestSessionDetails(t *testing.T) {
	t.Parallel()
	emu, url := emulator(t, stripeemu.Options{}, "cs_test_subscription", "cs_test_camera_only", "cs_test_free", "cs_test_expired")
	c := newClient(url)
	tests := []struct {
		session                    string
		payment                    fulfillment.PaymentStatus
		status, customer           string
		discount, tax, ship, total int64
		shipping                   bool
	}{
		{"cs_test_subscription", fulfillment.PaymentPaid, "complete", "cus_P0f3a1Yx8wUb3Z", 0, 0, 0, 7800, false},
		{"cs_test_camera_only", fulfillment.PaymentPaid, "complete", "", 8990, 6978, 1500, 89388, true},
		{"cs_test_free", fulfillment.PaymentNoPaymentRequired, "complete", "", 1900, 0, 0, 0, false},
		{"cs_test_expired", fulfillment.PaymentUnpaid, "expired", "", 0, 0, 0, 90800, false},
	}
	for _, tt := range tests {
		fromAPI, err := c.Session(context.Background(), tt.session)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := emu.Event("evt_"+tt.session, "checkout.session.completed", tt.session, time.Unix(1700000000, 0))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := stripeevent.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		for what, s := range map[string]fulfillment.Session{"api": fromAPI, "event": ev.Session} {
			if s.PaymentStatus != tt.payment || s.Status != tt.status || s.Customer.ID != tt.customer ||
				s.AmountDiscount != tt.discount || s.AmountTax != tt.tax || s.AmountShipping != tt.ship ||
				s.AmountTotal != tt.total || (s.Shipping != nil) != tt.shipping {
				t.Errorf("%s from %s: %+v", tt.session, what, s)
			}
		}
	}
}

// TestContractCatalogStripeMock: the catalog requests are requests Stripe's
// API accepts (see TestContractStripeMock).
func TestContractCatalogStripeMock(t *testing.T) {
	t.Parallel()
	url := stripeMockURL(t)
	c := stripeapi.New(stripeapi.Config{SecretKey: "sk_test_contract", BaseURL: url, MaxNetworkRetries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := c.Product(ctx, "prod_contract")
	if err != nil {
		t.Fatalf("Product: %v", err)
	}
	if !strings.HasPrefix(p.ID, "prod_") || len(p.Prices) == 0 {
		t.Fatalf("Product mapped to %+v", p)
	}
	for _, pr := range p.Prices {
		if !strings.HasPrefix(pr.ID, "price_") || pr.Currency == "" {
			t.Errorf("price mapped to %+v", pr)
		}
	}
}
