package fulfillment

import (
	"fmt"
	"slices"
	"strings"
)

// Recurring is a recurring price's billing period: every IntervalCount
// Intervals (day, week, month, year). A one-time price has none (nil).
type Recurring struct {
	Interval      string `json:"interval"`
	IntervalCount int64  `json:"interval_count"`
}

// String reads "month", "3 months".
func (r Recurring) String() string {
	if r.IntervalCount <= 1 {
		return r.Interval
	}
	return fmt.Sprintf("%d %ss", r.IntervalCount, r.Interval)
}

// sameRecurring reports whether a and b bill on the same period (both
// one-time counts as the same).
func sameRecurring(a, b *Recurring) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Interval == b.Interval && max(a.IntervalCount, 1) == max(b.IntervalCount, 1)
}

// Product is a catalog product as the cross-sell check needs it: whether it
// is active, and its active prices.
type Product struct {
	ID     string
	Name   string
	Active bool
	Prices []Price // active prices only
}

// Price is one active price of a product.
type Price struct {
	ID         string
	Currency   string
	UnitAmount int64
	// Recurring is nil for a one-time price.
	Recurring *Recurring
	// TaxBehavior is inclusive, exclusive or unspecified.
	TaxBehavior string
}

// CrossSellPair is one entry of the merchant's cross-sell settings.
type CrossSellPair struct {
	Base      string `json:"base"`
	CrossSell string `json:"cross_sell"`
}

// Pairs lists the settings' pairs sorted by base product.
func (c CrossSells) Pairs() []CrossSellPair {
	out := make([]CrossSellPair, 0, len(c))
	for base, cross := range c {
		out = append(out, CrossSellPair{Base: base, CrossSell: cross})
	}
	slices.SortFunc(out, func(a, b CrossSellPair) int { return strings.Compare(a.Base, b.Base) })
	return out
}

// Products lists every product the settings name, sorted, each once.
func (c CrossSells) Products() []string {
	seen := make(map[string]bool, 2*len(c))
	var out []string
	for base, cross := range c {
		for _, id := range []string{base, cross} {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Reasons a cross-sell is not offered: the Code of an Ineligibility.
const (
	ReasonCrossSellNotFound  = "cross_sell_not_found"
	ReasonBaseNotFound       = "base_not_found"
	ReasonCrossSellArchived  = "cross_sell_archived"
	ReasonBaseArchived       = "base_archived"
	ReasonNoActivePrice      = "no_active_price"
	ReasonSeveralPrices      = "several_active_prices"
	ReasonBaseNoActivePrice  = "base_no_active_price"
	ReasonCurrencyMismatch   = "currency_mismatch"
	ReasonRecurringOneTime   = "recurring_with_one_time_base"
	ReasonIntervalMismatch   = "interval_mismatch"
	ReasonTaxBehaviorMissing = "tax_behavior_unspecified"
)

// Reason is why Checkout will not offer a cross-sell: a stable code for
// machines and a sentence for people.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Eligibility is the verdict on one cross-sell pair.
type Eligibility struct {
	CrossSellPair
	Eligible bool     `json:"eligible"`
	Reasons  []Reason `json:"reasons"`
}

// CheckCrossSell says whether Checkout will offer cross as the cross-sell of
// base, per Stripe's documented criteria
// (https://docs.stripe.com/payments/checkout/cross-sells):
//
//   - the cross-sell product has exactly one active price;
//   - that price's currency is one the base product sells in (one of the
//     base's active prices has it);
//   - a recurring cross-sell price needs a recurring base price (in that
//     currency) with the same interval and interval count: Checkout offers it
//     only in subscription mode, beside prices billed on the same period; a
//     one-time cross-sell (a setup fee) goes with any base;
//   - with automatic tax on, the price needs a tax behavior (inclusive or
//     exclusive), unless the account sets a default tax behavior.
//
// Both products must exist and be active (archived products are not sold).
// A nil product is one the Stripe account does not have. Every reason that
// applies is reported, not only the first.
func CheckCrossSell(pair CrossSellPair, base, cross *Product, automaticTax bool) Eligibility {
	v := Eligibility{CrossSellPair: pair, Reasons: []Reason{}}
	add := func(code, format string, args ...any) {
		v.Reasons = append(v.Reasons, Reason{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	if cross == nil {
		add(ReasonCrossSellNotFound, "cross-sell product %s does not exist in this Stripe account", pair.CrossSell)
	}
	if base == nil {
		add(ReasonBaseNotFound, "base product %s does not exist in this Stripe account", pair.Base)
	} else if !base.Active {
		add(ReasonBaseArchived, "base product %s is archived: Checkout does not sell it", pair.Base)
	}
	if cross == nil {
		return v
	}
	if !cross.Active {
		add(ReasonCrossSellArchived, "cross-sell product %s is archived", pair.CrossSell)
	}
	switch n := len(cross.Prices); {
	case n == 0:
		add(ReasonNoActivePrice, "cross-sell product %s has no active price; it needs exactly one", pair.CrossSell)
		return v
	case n > 1:
		ids := make([]string, n)
		for i, p := range cross.Prices {
			ids[i] = p.ID
		}
		add(ReasonSeveralPrices, "cross-sell product %s has %d active prices (%s); it needs exactly one",
			pair.CrossSell, n, strings.Join(ids, ", "))
		return v
	}
	price := cross.Prices[0]
	if automaticTax && (price.TaxBehavior == "" || price.TaxBehavior == "unspecified") {
		add(ReasonTaxBehaviorMissing, "price %s has no tax behavior; with automatic tax, set it to inclusive or exclusive "+
			"(or set a default tax behavior in the Dashboard's Tax settings)", price.ID)
	}
	if base != nil {
		checkBasePrices(base, price, add)
	}
	v.Eligible = len(v.Reasons) == 0
	return v
}

// checkBasePrices applies the rules that compare the cross-sell's price with
// the base product's prices.
func checkBasePrices(base *Product, price Price, add func(code, format string, args ...any)) {
	if len(base.Prices) == 0 {
		add(ReasonBaseNoActivePrice, "base product %s has no active price: no Checkout Session can contain it", base.ID)
		return
	}
	var sameCurrency []Price
	var currencies []string
	for _, bp := range base.Prices {
		if !slices.Contains(currencies, strings.ToUpper(bp.Currency)) {
			currencies = append(currencies, strings.ToUpper(bp.Currency))
		}
		if strings.EqualFold(bp.Currency, price.Currency) {
			sameCurrency = append(sameCurrency, bp)
		}
	}
	if len(sameCurrency) == 0 {
		slices.Sort(currencies)
		add(ReasonCurrencyMismatch, "price %s is in %s; base product %s sells in %s",
			price.ID, strings.ToUpper(price.Currency), base.ID, strings.Join(currencies, ", "))
		return
	}
	if price.Recurring == nil {
		return // a one-time cross-sell goes with any base price
	}
	var periods []string
	for _, bp := range sameCurrency {
		if bp.Recurring == nil {
			continue
		}
		if sameRecurring(bp.Recurring, price.Recurring) {
			return
		}
		periods = append(periods, "every "+bp.Recurring.String())
	}
	if len(periods) == 0 {
		add(ReasonRecurringOneTime, "price %s is recurring (every %s) but base product %s has only one-time prices in %s: "+
			"Checkout offers a recurring cross-sell only in subscription mode",
			price.ID, price.Recurring, base.ID, strings.ToUpper(price.Currency))
		return
	}
	slices.Sort(periods)
	add(ReasonIntervalMismatch, "price %s bills every %s; base product %s bills %s",
		price.ID, price.Recurring, base.ID, strings.Join(slices.Compact(periods), ", "))
}
