package fulfillment

import (
	"reflect"
	"strings"
	"testing"
)

func TestCheckCrossSell(t *testing.T) {
	t.Parallel()
	monthly := &Recurring{Interval: "month", IntervalCount: 1}
	price := func(id, cur string, rec *Recurring, tax string) Price {
		return Price{ID: id, Currency: cur, UnitAmount: 100, Recurring: rec, TaxBehavior: tax}
	}
	product := func(id string, prices ...Price) *Product {
		return &Product{ID: id, Name: id, Active: true, Prices: prices}
	}
	archived := func(p *Product) *Product { p.Active = false; return p }
	oneTimeUSD := product("prod_base", price("price_base", "usd", nil, "exclusive"))
	tests := []struct {
		name    string
		base    *Product
		cross   *Product
		autoTax bool
		want    []string // reason codes; none means eligible
	}{
		{"one-time beside one-time", oneTimeUSD, product("prod_x", price("price_x", "usd", nil, "exclusive")), false, nil},
		{"currency compared without case", oneTimeUSD, product("prod_x", price("price_x", "USD", nil, "exclusive")), false, nil},
		{"one-time setup fee beside a subscription", product("prod_base", price("price_base", "usd", monthly, "exclusive")),
			product("prod_x", price("price_x", "usd", nil, "exclusive")), false, nil},
		{"recurring beside the same period", product("prod_base", price("price_base", "usd", monthly, "exclusive")),
			product("prod_x", price("price_x", "usd", &Recurring{Interval: "month"}, "exclusive")), false, nil}, // interval_count 0 reads as 1
		{"recurring: one of several base prices has the period", product("prod_base",
			price("price_y", "usd", &Recurring{Interval: "year", IntervalCount: 1}, "exclusive"), price("price_m", "usd", monthly, "exclusive")),
			product("prod_x", price("price_x", "usd", monthly, "exclusive")), false, nil},
		{"base sells in several currencies", product("prod_base", price("price_e", "eur", nil, "exclusive"), price("price_u", "usd", nil, "exclusive")),
			product("prod_x", price("price_x", "eur", nil, "exclusive")), false, nil},
		{"automatic tax with a tax behavior", oneTimeUSD, product("prod_x", price("price_x", "usd", nil, "inclusive")), true, nil},
		{"no tax behavior is fine without automatic tax", oneTimeUSD, product("prod_x", price("price_x", "usd", nil, "unspecified")), false, nil},

		{"cross-sell does not exist", oneTimeUSD, nil, false, []string{ReasonCrossSellNotFound}},
		{"neither exists", nil, nil, false, []string{ReasonCrossSellNotFound, ReasonBaseNotFound}},
		{"base does not exist", nil, product("prod_x", price("price_x", "usd", nil, "exclusive")), false, []string{ReasonBaseNotFound}},
		{"base archived", archived(product("prod_base", price("price_base", "usd", nil, "exclusive"))),
			product("prod_x", price("price_x", "usd", nil, "exclusive")), false, []string{ReasonBaseArchived}},
		{"cross-sell archived", oneTimeUSD, archived(product("prod_x", price("price_x", "usd", nil, "exclusive"))), false,
			[]string{ReasonCrossSellArchived}},
		{"no active price", oneTimeUSD, product("prod_x"), false, []string{ReasonNoActivePrice}},
		{"two active prices", oneTimeUSD, product("prod_x", price("price_1", "usd", nil, "exclusive"), price("price_2", "usd", nil, "exclusive")),
			false, []string{ReasonSeveralPrices}},
		{"base without an active price", product("prod_base"), product("prod_x", price("price_x", "usd", nil, "exclusive")), false,
			[]string{ReasonBaseNoActivePrice}},
		{"currency mismatch", product("prod_base", price("price_base", "eur", nil, "exclusive")),
			product("prod_x", price("price_x", "usd", nil, "exclusive")), false, []string{ReasonCurrencyMismatch}},
		{"recurring cross-sell, one-time base", oneTimeUSD, product("prod_x", price("price_x", "usd", monthly, "exclusive")), false,
			[]string{ReasonRecurringOneTime}},
		{"recurring cross-sell: the base's recurring price is in another currency", product("prod_base",
			price("price_u", "usd", nil, "exclusive"), price("price_e", "eur", monthly, "exclusive")),
			product("prod_x", price("price_x", "usd", monthly, "exclusive")), false, []string{ReasonRecurringOneTime}},
		{"interval mismatch", product("prod_base", price("price_base", "usd", &Recurring{Interval: "year", IntervalCount: 1}, "exclusive")),
			product("prod_x", price("price_x", "usd", monthly, "exclusive")), false, []string{ReasonIntervalMismatch}},
		{"interval count mismatch", product("prod_base", price("price_base", "usd", &Recurring{Interval: "month", IntervalCount: 3}, "exclusive")),
			product("prod_x", price("price_x", "usd", monthly, "exclusive")), false, []string{ReasonIntervalMismatch}},
		{"automatic tax without a tax behavior", oneTimeUSD, product("prod_x", price("price_x", "usd", nil, "unspecified")), true,
			[]string{ReasonTaxBehaviorMissing}},
		{"automatic tax, empty tax behavior", oneTimeUSD, product("prod_x", price("price_x", "usd", nil, "")), true,
			[]string{ReasonTaxBehaviorMissing}},
		{"every reason that applies", archived(product("prod_base", price("price_base", "eur", nil, "exclusive"))),
			archived(product("prod_x", price("price_x", "usd", nil, "unspecified"))), true,
			[]string{ReasonBaseArchived, ReasonCrossSellArchived, ReasonTaxBehaviorMissing, ReasonCurrencyMismatch}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pair := CrossSellPair{Base: "prod_base", CrossSell: "prod_x"}
			got := CheckCrossSell(pair, tt.base, tt.cross, tt.autoTax)
			var codes []string
			for _, r := range got.Reasons {
				codes = append(codes, r.Code)
				if !strings.Contains(r.Message, "prod_") && !strings.Contains(r.Message, "price_") {
					t.Errorf("reason %s names neither product nor price: %q", r.Code, r.Message)
				}
			}
			if !reflect.DeepEqual(codes, tt.want) || got.Eligible != (len(tt.want) == 0) || got.CrossSellPair != pair {
				t.Errorf("got eligible=%v %v, want %v\n%+v", got.Eligible, codes, tt.want, got.Reasons)
			}
			if got.Reasons == nil {
				t.Error("Reasons is nil: JSON would say null, not []")
			}
		})
	}
}

func TestCrossSellsPairsAndProducts(t *testing.T) {
	t.Parallel()
	cs := CrossSells{"prod_tent": "prod_stakes", "prod_camera": "prod_cloth", "prod_cloth": "prod_case"}
	want := []CrossSellPair{{"prod_camera", "prod_cloth"}, {"prod_cloth", "prod_case"}, {"prod_tent", "prod_stakes"}}
	if got := cs.Pairs(); !reflect.DeepEqual(got, want) {
		t.Errorf("Pairs = %v", got)
	}
	if got := cs.Products(); !reflect.DeepEqual(got, []string{"prod_camera", "prod_case", "prod_cloth", "prod_stakes", "prod_tent"}) {
		t.Errorf("Products = %v", got)
	}
}

func TestCrossSellStats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s                 CrossSellStats
		rate              float64
		with, without     int64
		ordersWithoutWant int64
	}{
		{CrossSellStats{}, 0, 0, 0, 0},
		{CrossSellStats{OrdersWithBase: 3, OrdersWithCrossSell: 2, OrderValueWith: 286016, OrderValueWithout: 89388}, 2.0 / 3.0, 143008, 89388, 1},
		{CrossSellStats{OrdersWithBase: 3, OrdersWithCrossSell: 1, OrderValueWith: 5, OrderValueWithout: 9999}, 1.0 / 3.0, 5, 5000, 2}, // 4999.5 rounds up
		{CrossSellStats{OrdersWithBase: 4, OrdersWithCrossSell: 3, OrderValueWith: 10, OrderValueWithout: 7}, 0.75, 3, 7, 1},           // 3.33 rounds down
		{CrossSellStats{OrdersWithBase: 2, OrdersWithCrossSell: 2, OrderValueWith: 3}, 1, 2, 0, 0},                                     // 1.5 rounds up
	}
	for i, tt := range tests {
		if r := tt.s.AttachRate(); r != tt.rate {
			t.Errorf("%d: attach rate %v, want %v", i, r, tt.rate)
		}
		if a := tt.s.AverageOrderValueWith(); a != tt.with {
			t.Errorf("%d: average with %d, want %d", i, a, tt.with)
		}
		if a := tt.s.AverageOrderValueWithout(); a != tt.without {
			t.Errorf("%d: average without %d, want %d", i, a, tt.without)
		}
		if n := tt.s.OrdersWithoutCrossSell(); n != tt.ordersWithoutWant {
			t.Errorf("%d: orders without %d, want %d", i, n, tt.ordersWithoutWant)
		}
	}
}

func TestRecurringString(t *testing.T) {
	t.Parallel()
	for r, want := range map[Recurring]string{{"month", 1}: "month", {"month", 0}: "month", {"week", 2}: "2 weeks"} {
		if got := r.String(); got != want {
			t.Errorf("%+v: %q, want %q", r, got, want)
		}
	}
}
