package fulfillment

import (
	"encoding/json"
	"fmt"
	"strings"
)

// CrossSells mirrors the merchant's Dashboard settings: base product id →
// the product Checkout offers as its cross-sell. Stripe's API has no field
// that marks a line item as a cross-sell, so this map is how fulfillmentd
// knows.
type CrossSells map[string]string

// ParseCrossSells reads the JSON object {"prod_base": "prod_cross_sell", ...}.
func ParseCrossSells(data []byte) (CrossSells, error) {
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("cross-sells: want a JSON object of product ids: %w", err)
	}
	for base, cross := range m {
		if !strings.HasPrefix(base, "prod_") || !strings.HasPrefix(cross, "prod_") {
			return nil, fmt.Errorf("cross-sells: %q → %q: both must be product ids (prod_...)", base, cross)
		}
		if base == cross {
			return nil, fmt.Errorf("cross-sells: %q is its own cross-sell", base)
		}
	}
	return CrossSells(m), nil
}

// Tag marks the lines whose product is the cross-sell of another product in
// the same order. It returns the lines whose quantity is not 1 although
// tagged (Checkout fixes cross-sells at 1: worth a log line, recorded as is).
func (c CrossSells) Tag(items []LineItem) (odd []LineItem) {
	if len(c) == 0 {
		return nil
	}
	present := make(map[string]bool, len(items))
	for _, it := range items {
		present[it.ProductID] = true
	}
	// crossOf: cross-sell product → base product present in this order.
	crossOf := make(map[string]string)
	for base, cross := range c {
		if present[base] {
			if prev, ok := crossOf[cross]; !ok || base < prev { // deterministic
				crossOf[cross] = base
			}
		}
	}
	for i := range items {
		base, ok := crossOf[items[i].ProductID]
		if !ok {
			continue
		}
		items[i].CrossSell, items[i].CrossSellOf = true, base
		if items[i].Quantity != 1 {
			odd = append(odd, items[i])
		}
	}
	return odd
}
